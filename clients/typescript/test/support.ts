// The server under test, as scripts/client-tests started it.
export interface Server {
  url: string;
  key: string;
  memberKey: string;
}

export function server(): Server | null {
  const { ATELIER_URL: url, ATELIER_API_KEY: key, ATELIER_MEMBER_KEY: memberKey } = process.env;
  return url && key && memberKey ? { url, key, memberKey } : null;
}

/** A story long enough for a manga run (5,000 characters at least). */
export const STORY = Array(40)
  .fill(
    "Mika walked to the lighthouse at dawn. The sea was grey and the gulls cried over the harbour. " +
      "Her brother Ren waited by the door, holding a lantern.",
  )
  .join(" ");
