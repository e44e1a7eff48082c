// The parts with no server: the event decoder, Retry-After, and retries against a
// local stand-in that answers 503 first.
import assert from "node:assert/strict";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import { AtelierClient, AtelierError, SseDecoder, parseRetryAfter } from "../src/index.js";
import { lines } from "../src/sse.js";

describe("SseDecoder", () => {
  it("joins data lines and skips comments", () => {
    const decoder = new SseDecoder();
    const input = [": keep-alive", "event: update", "id: 7", 'data: {"a":', "data: 1}", "", "", "data: x", ""];
    const events = input.map((line) => decoder.feed(line)).filter((event) => event !== null);
    assert.deepEqual(events, [
      { event: "update", data: '{"a":\n1}', id: "7" },
      { event: "message", data: "x", id: "7" },
    ]);
  });

  it("splits lines across chunks and line endings", async () => {
    const chunks = ["event: a\r", "\ndata: 1\n", "\r\nda", "ta: 2\r\r"].map((text) => new TextEncoder().encode(text));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    const got: string[] = [];
    for await (const line of lines(body)) got.push(line);
    assert.deepEqual(got, ["event: a", "data: 1", "", "data: 2", ""]);
  });
});

describe("Retry-After", () => {
  it("reads seconds and dates", () => {
    assert.equal(parseRetryAfter("5"), 5);
    assert.equal(parseRetryAfter("Thu, 01 Jan 1970 00:01:40 GMT", 40_000), 60);
    assert.equal(parseRetryAfter("soon"), null);
    assert.equal(parseRetryAfter(null), null);
  });

  it("is honoured or given up on", () => {
    const retry = { maxRetries: 2, maxDelayMs: 10_000, baseDelayMs: 500 };
    const client = new AtelierClient({ baseUrl: "http://x", retry });
    const busy = new AtelierError("rate_limit_exceeded", "busy", 429, null, 3);
    assert.equal(client.retryDelayMs(0, busy), 3000);
    assert.equal(client.retryDelayMs(2, busy), null);
    assert.equal(client.retryDelayMs(0, new AtelierError("quota_exceeded", "tomorrow", 429, null, 3600)), null);
    const plain = new AtelierError("unavailable", "down", 503);
    assert.deepEqual([0, 1].map((n) => client.retryDelayMs(n, plain)), [500, 1000]);
    assert.equal(client.retryDelayMs(0, new AtelierError("not_found", "no", 404)), null);
  });
});

describe("retries", () => {
  let httpd: HttpServer;
  let url = "";
  let busy = 0;
  let seen: number[] = [];

  before(async () => {
    httpd = createServer((_request, response) => {
      seen.push(performance.now());
      if (busy > 0) {
        busy--;
        response.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
        response.end(JSON.stringify({ error: "storage_unavailable", message: "try later", details: { part: "db" } }));
      } else {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ status: "ok", database: "ok", storage: "ok", version: "test" }));
      }
    });
    await new Promise<void>((resolve) => httpd.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(httpd.address() as AddressInfo).port}`;
  });

  after(() => {
    httpd.closeAllConnections();
    httpd.close();
  });

  it("waits the time asked, then succeeds", async () => {
    busy = 1;
    seen = [];
    const client = new AtelierClient({ baseUrl: url, apiKey: "k", retry: { maxRetries: 2, maxDelayMs: 5000 } });
    assert.equal((await client.health()).version, "test");
    assert.equal(seen.length, 2);
    assert.ok(seen[1]! - seen[0]! >= 950, "Retry-After: 1 was waited out");
  });

  it("gives up with the error after maxRetries", async () => {
    busy = 5;
    seen = [];
    const client = new AtelierClient({ baseUrl: url, apiKey: "k", retry: { maxRetries: 1, maxDelayMs: 5000 } });
    const error = await client.health().then(
      () => assert.fail("no error"),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof AtelierError);
    assert.deepEqual(
      [error.status, error.code, error.retryAfter, error.details],
      [503, "storage_unavailable", 1, { part: "db" }],
    );
    assert.equal(seen.length, 2);
  });
});
