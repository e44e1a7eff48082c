/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

/**
 * Server-Sent Events from a stream's lines (the WHATWG rules: `data` lines joined,
 * comments and unknown fields ignored, an event ends at a blank line).
 */
export class SseDecoder {
  private event = "";
  private data: string[] = [];
  private id: string | null = null;

  feed(rawLine: string): SseEvent | null {
    const line = rawLine.replace(/\r?\n$/, "").replace(/\r$/, "");
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return null;
      }
      const event = { event: this.event || "message", data: this.data.join("\n"), id: this.id };
      this.event = "";
      this.data = [];
      return event;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "event") this.event = value;
    else if (name === "data") this.data.push(value);
    else if (name === "id" && !value.includes("\0")) this.id = value;
    return null;
  }
}

/** A body's lines as they arrive (split at `\n`, `\r\n` or `\r`). */
export async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let match: RegExpExecArray | null;
    while ((match = /\r\n|\r|\n/.exec(buffer)) !== null) {
      // A lone \r at the buffer's end may be the first half of \r\n: wait for more.
      if (match[0] === "\r" && match.index === buffer.length - 1) break;
      yield buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
    }
  }
  buffer += decoder.decode();
  // A lone \r left at the end was a line's end after all.
  if (buffer.endsWith("\r")) yield buffer.slice(0, -1);
  else if (buffer) yield buffer;
}
