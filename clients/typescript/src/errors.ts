/** An error answer of the API: `{"error": code, "message", "details"}`. */
export class AtelierError extends Error {
  override readonly name = "AtelierError";

  constructor(
    /** The stable code: `validation_error`, `not_found`, `rate_limit_exceeded`, ... */
    readonly code: string,
    message: string,
    /** The HTTP status. */
    readonly status: number,
    readonly details: unknown = null,
    /** Seconds the server asked to wait (429 and 503), from `Retry-After` or the body. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/** `wait()` ran out of time before the task ended; `task` is the last state seen. */
export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";

  constructor(
    readonly taskId: string,
    readonly timeoutMs: number,
    readonly task: unknown,
  ) {
    super(`task ${taskId} did not end within ${timeoutMs} ms`);
  }
}

/** `Retry-After` as seconds: a number of seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const when = Date.parse(trimmed);
  return Number.isNaN(when) ? null : Math.max(0, (when - now) / 1000);
}

/** The `AtelierError` an error answer stands for (reads its body). */
export async function errorFrom(response: Response): Promise<AtelierError> {
  let code = `http_${response.status}`;
  let message = response.statusText;
  let details: unknown = null;
  let bodyRetry: number | null = null;
  const text = await response.text().catch(() => "");
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === "object" && typeof (body as { error?: unknown }).error === "string") {
      const error = body as { error: string; message?: unknown; details?: unknown; retry_after?: unknown };
      code = error.error;
      message = typeof error.message === "string" ? error.message : message;
      details = error.details ?? null;
      bodyRetry = typeof error.retry_after === "number" ? error.retry_after : null;
    }
  } catch {
    // Not JSON (a proxy's page, say): the status stands for the code.
  }
  const retryAfter = parseRetryAfter(response.headers.get("retry-after")) ?? bodyRetry;
  return new AtelierError(code, message, response.status, details, retryAfter);
}
