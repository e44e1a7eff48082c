export * from "./client.js";
export { AtelierError, WaitTimeoutError, parseRetryAfter } from "./errors.js";
export { SseDecoder, type SseEvent } from "./sse.js";
export type { components, paths, operations } from "./schema.js";
