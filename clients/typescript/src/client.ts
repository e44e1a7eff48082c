import type { components, operations, paths } from "./schema.js";
import { AtelierError, WaitTimeoutError, errorFrom } from "./errors.js";
import { SseDecoder, lines } from "./sse.js";

type Schemas = components["schemas"];
export type Task = Schemas["TaskView"];
export type TaskPage = Schemas["TaskListView"];
/** An output file (the API calls them images, whatever their kind). */
export type Asset = Schemas["ImageView"];
export type AssetWithTask = Schemas["ImageWithTask"];
export type AssetPage = Schemas["AssetListView"];
export type Upload = Schemas["UploadView"];
export type ModelList = Schemas["ModelListView"];
export type Model = Schemas["ModelView"];
export type Health = Schemas["HealthView"];
export type CreateTaskRequest = Schemas["CreateTaskRequest"];
export type Run = Schemas["RunView"];
export type CreateRunRequest = Schemas["CreateRunRequest"];
export type ChangeRequest = Schemas["ChangeRequest"];
export type RunAndVersion = Schemas["RunAndVersionView"];

/** A task in one of these has ended: its status changes no more. */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["completed", "failed", "cancelled", "expired"]);

type Method = "get" | "post" | "delete";
/** The spec's paths that have `method`: a route the spec lacks does not compile. */
type Route<M extends Method> = {
  [P in keyof paths]: [NonNullable<paths[P][M]>] extends [never] ? never : P;
}[keyof paths];
type JsonOf<R> = R extends { content: { "application/json": infer T } } ? T : never;
/** The JSON a route answers on success (200, 201 or 202). */
type Answer<P extends keyof paths, M extends Method> =
  NonNullable<paths[P][M]> extends { responses: infer R }
    ? JsonOf<R[Extract<keyof R, 200 | 201 | 202>]>
    : never;

/**
 * The filters of `GET /api/v1/tasks`. Written here: the served document declares
 * them `in: path` (a server-side annotation slip), so the generated types cannot be used.
 */
export interface TaskFilters {
  status?: string | string[];
  model?: string;
  tag?: string;
  prompt_id?: string;
  created_after?: string;
  created_before?: string;
  near?: string;
  radius_km?: number;
  cursor?: string;
  limit?: number;
}

/** The filters of `GET /api/v1/assets` (as `TaskFilters`, written here). */
export interface AssetFilters {
  kind?: "image" | "audio" | "video" | "model";
  model?: string;
  tag?: string;
  created_after?: string;
  created_before?: string;
  near?: string;
  radius_km?: number;
  cursor?: string;
  limit?: number;
}

/** The parameter names an operation documents, wherever it says they go. */
type Keys<T> = [T] extends [never] ? never : keyof T;
type ParameterNames<O extends keyof operations> = operations[O] extends { parameters: infer P }
  ? P extends { path?: infer A; query?: infer B } ? Keys<NonNullable<A>> | Keys<NonNullable<B>> : never
  : never;
/** `true` only when every key of `F` is a parameter of `O`: a filter the spec lacks does not compile. */
type Documented<F, O extends keyof operations> = [Exclude<keyof F, ParameterNames<O>>] extends [never] ? true : false;
const taskFiltersDocumented: Documented<TaskFilters, "list_tasks"> = true;
const assetFiltersDocumented: Documented<AssetFilters, "list_assets"> = true;
void [taskFiltersDocumented, assetFiltersDocumented];

/**
 * Retries of 429 and 503 answers, honouring `Retry-After`: at most `maxRetries`; a
 * wait longer than `maxDelayMs` is not waited out (the error is thrown at once).
 * Without `Retry-After`, waits grow from `baseDelayMs`, doubling, up to `maxDelayMs`.
 */
export interface RetryOptions {
  maxRetries?: number;
  maxDelayMs?: number;
  baseDelayMs?: number;
}

export interface ClientOptions {
  /** The server's root, such as `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key (`atl_…`), sent as a bearer token. */
  apiKey?: string;
  /** Each request's time limit (an event stream's: until its first byte). */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** Another `fetch` (a test's, a proxy's). */
  fetch?: typeof fetch;
}

/** The request's own fields (a name the spec lacks does not compile), and two headers. */
export type CreateTaskOptions = Partial<
  Pick<CreateTaskRequest, "service" | "priority" | "prompt_id" | "location" | "webhook" | "webhook_events_filter">
> & {
  /** Sending the same key again returns the same task. */
  idempotencyKey?: string;
  /** Seconds the answer may wait for the task to end (`Prefer: wait`). */
  waitSecs?: number;
};

export interface WaitOptions {
  /** Give up after this long (`WaitTimeoutError`); no limit when absent. */
  timeoutMs?: number;
  /** Called with each new state of the task. */
  onProgress?: (task: Task) => void;
  /** How often to poll when the event stream cannot be had (default 1000). */
  pollIntervalMs?: number;
  /** Follow the event stream (default), or only poll. */
  useEvents?: boolean;
  signal?: AbortSignal;
}

interface RequestOptions {
  path?: Record<string, string>;
  query?: object;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** A time limit other than the client's (0: none). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const API_PREFIX = "/api/v1";
const RETRY_STATUSES = new Set([429, 503]);

/** Atelier's native API (`/api/v1`): tasks, their events, outputs, uploads, models, pipelines. */
export class AtelierClient {
  private readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly retry: Required<RetryOptions>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = { maxRetries: 3, maxDelayMs: 30_000, baseDelayMs: 500, ...options.retry };
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The wait before retry number `attempt + 1`, or null to give up. */
  retryDelayMs(attempt: number, error: AtelierError): number | null {
    const { maxRetries, maxDelayMs, baseDelayMs } = this.retry;
    if (!RETRY_STATUSES.has(error.status) || attempt >= maxRetries) return null;
    if (error.retryAfter !== null) {
      const ms = error.retryAfter * 1000;
      return ms <= maxDelayMs ? ms : null;
    }
    return Math.min(baseDelayMs * 2 ** attempt, maxDelayMs);
  }

  /** The one place requests are sent: errors thrown, 429 and 503 retried. */
  private async send<M extends Method>(method: M, route: Route<M>, options: RequestOptions = {}): Promise<Response> {
    let path: string = route;
    for (const [key, value] of Object.entries(options.path ?? {})) {
      path = path.replace(`{${key}}`, encodeURIComponent(value));
    }
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value === undefined || value === null) continue;
      url.searchParams.set(key, Array.isArray(value) ? value.join(",") : String(value));
    }
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["content-type"] = "application/json";
    }
    for (let attempt = 0; ; attempt++) {
      const limit = options.timeoutMs ?? this.timeoutMs;
      const signals = [options.signal, limit > 0 ? AbortSignal.timeout(limit) : undefined].filter(
        (signal): signal is AbortSignal => signal !== undefined,
      );
      const response = await this.fetchImpl(url, {
        method: method.toUpperCase(),
        headers,
        body: body ?? null,
        signal: signals.length ? AbortSignal.any(signals) : null,
      });
      if (response.ok) return response;
      const error = await errorFrom(response);
      const delay = this.retryDelayMs(attempt, error);
      if (delay === null) throw error;
      await sleep(delay, options.signal);
    }
  }

  private async json<M extends Method, P extends Route<M>>(
    method: M,
    route: P,
    options?: RequestOptions,
  ): Promise<Answer<P, M>> {
    const response = await this.send(method, route, options);
    return (await response.json()) as Answer<P, M>;
  }

  // System

  /** The server's readiness (a 503 when degraded is thrown as `AtelierError`). */
  health(): Promise<Health> {
    return this.json("get", "/api/v1/health");
  }

  listModels(): Promise<ModelList> {
    return this.json("get", "/api/v1/models");
  }

  // Tasks

  /** Creates a task; see `CreateTaskOptions` for idempotency and waiting. */
  createTask(
    model: string | undefined,
    input: Record<string, unknown>,
    options: CreateTaskOptions = {},
  ): Promise<Task> {
    const { idempotencyKey, waitSecs, ...fields } = options;
    const body: CreateTaskRequest = { ...fields, input };
    if (model !== undefined) body.model = model;
    const headers: Record<string, string> = {};
    if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
    if (waitSecs !== undefined) headers.prefer = `wait=${Math.max(0, Math.floor(waitSecs))}`;
    const timeoutMs = waitSecs === undefined ? undefined : this.timeoutMs + waitSecs * 1000;
    return this.json("post", "/api/v1/tasks", { json: body, headers, timeoutMs });
  }

  getTask(taskId: string): Promise<Task> {
    return this.json("get", "/api/v1/tasks/{id}", { path: { id: taskId } });
  }

  /** One page of your tasks, newest first; `next_cursor` leads to the next. */
  listTasks(filters: TaskFilters = {}): Promise<TaskPage> {
    return this.json("get", "/api/v1/tasks", { query: filters });
  }

  /** Every task the filters select, page after page. */
  async *iterTasks(filters: TaskFilters = {}): AsyncGenerator<Task> {
    let cursor = filters.cursor;
    for (;;) {
      const page = await this.listTasks({ ...filters, cursor });
      yield* page.tasks;
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  cancelTask(taskId: string): Promise<Task> {
    return this.json("post", "/api/v1/tasks/{id}/cancel", { path: { id: taskId } });
  }

  /** A new task with the same input as an ended one (`retry_of` names it). */
  retryTask(taskId: string): Promise<Task> {
    return this.json("post", "/api/v1/tasks/{id}/retry", { path: { id: taskId } });
  }

  async deleteTask(taskId: string): Promise<void> {
    const response = await this.send("delete", "/api/v1/tasks/{id}", { path: { id: taskId } });
    await response.body?.cancel();
  }

  /**
   * The task as it changes (Server-Sent Events): its state now, then every change;
   * ends after the task ends (or when the server closes the stream).
   */
  async *taskEvents(taskId: string, signal?: AbortSignal): AsyncGenerator<Task> {
    const response = await this.send("get", "/api/v1/tasks/{id}/events", {
      path: { id: taskId },
      headers: { accept: "text/event-stream" },
      timeoutMs: 0,
      ...(signal ? { signal } : {}),
    });
    if (!response.body) return;
    const decoder = new SseDecoder();
    for await (const line of lines(response.body)) {
      const event = decoder.feed(line);
      if (event && (event.event === "snapshot" || event.event === "update")) {
        yield JSON.parse(event.data) as Task;
      }
    }
  }

  /**
   * The task once it has ended (completed, failed, cancelled or expired). Follows its
   * event stream; when the stream cannot be had or breaks, polls (and tries the
   * stream again). Throws `WaitTimeoutError` after `timeoutMs`.
   */
  async wait(taskId: string, options: WaitOptions = {}): Promise<Task> {
    const { timeoutMs, onProgress, pollIntervalMs = 1000, useEvents = true } = options;
    const deadline = timeoutMs === undefined ? null : Date.now() + timeoutMs;
    const remaining = () => (deadline === null ? Infinity : Math.max(0, deadline - Date.now()));
    let version: number | null = null;
    const see = (task: Task): Task => {
      if (onProgress && task.version !== version) onProgress(task);
      version = task.version;
      return task;
    };
    for (;;) {
      if (useEvents) {
        const stop = new AbortController();
        const timer = deadline === null ? null : setTimeout(() => stop.abort(), remaining());
        const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
        try {
          for await (const task of this.taskEvents(taskId, signal)) {
            if (TERMINAL_STATUSES.has(see(task).status)) return task;
          }
        } catch (error) {
          if (options.signal?.aborted) throw error;
          // An API refusal other than a server's failure is final; a broken or
          // timed-out stream falls back to polling.
          if (error instanceof AtelierError && error.status < 500) throw error;
        } finally {
          if (timer) clearTimeout(timer);
        }
      }
      const task = see(await this.getTask(taskId));
      if (TERMINAL_STATUSES.has(task.status)) return task;
      const left = remaining();
      if (left === 0) throw new WaitTimeoutError(taskId, timeoutMs ?? 0, task);
      await sleep(Math.min(pollIntervalMs, left), options.signal);
    }
  }

  // Assets

  /** One page of your outputs, newest first. */
  listAssets(filters: AssetFilters = {}): Promise<AssetPage> {
    return this.json("get", "/api/v1/assets", { query: filters });
  }

  async *iterAssets(filters: AssetFilters = {}): AsyncGenerator<AssetWithTask> {
    let cursor = filters.cursor;
    for (;;) {
      const page = await this.listAssets({ ...filters, cursor });
      yield* page.images;
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  /** An output file's answer, to stream its `body`. */
  downloadAssetResponse(assetId: string): Promise<Response> {
    return this.send("get", "/api/v1/assets/{id}", { path: { id: assetId }, timeoutMs: 0 });
  }

  /** An output file's bytes. */
  async downloadAsset(assetId: string): Promise<Uint8Array> {
    const response = await this.downloadAssetResponse(assetId);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** Streams an output file to `path` (Node only; written whole or not at all). */
  async downloadAssetToFile(assetId: string, path: string): Promise<string> {
    const [{ createWriteStream }, { rename, rm }, { pipeline }, { Readable }] = await Promise.all([
      import("node:fs"),
      import("node:fs/promises"),
      import("node:stream/promises"),
      import("node:stream"),
    ]);
    const response = await this.downloadAssetResponse(assetId);
    const partial = `${path}.part`;
    try {
      if (!response.body) throw new Error("the download has no body");
      await pipeline(Readable.fromWeb(response.body as never), createWriteStream(partial));
      await rename(partial, path);
    } finally {
      await rm(partial, { force: true });
    }
    return path;
  }

  // Uploads

  /** Uploads a file (multipart) for use as a task input. */
  upload(file: Blob | Uint8Array, name: string, mime?: string): Promise<Upload> {
    const type = mime ?? "application/octet-stream";
    const blob = file instanceof Blob ? file : new Blob([new Uint8Array(file)], { type });
    const form = new FormData();
    form.append("file", blob, name);
    return this.json("post", "/api/v1/uploads", { body: form });
  }

  getUpload(uploadId: string): Promise<Upload> {
    return this.json("get", "/api/v1/uploads/{id}", { path: { id: uploadId } });
  }

  async downloadUpload(uploadId: string): Promise<Uint8Array> {
    const response = await this.send("get", "/api/v1/uploads/{id}/content", { path: { id: uploadId } });
    return new Uint8Array(await response.arrayBuffer());
  }

  async deleteUpload(uploadId: string): Promise<void> {
    const response = await this.send("delete", "/api/v1/uploads/{id}", { path: { id: uploadId } });
    await response.body?.cancel();
  }

  // Pipelines

  /** Starts a run (a manga by default) from a story. */
  createRun(request: CreateRunRequest): Promise<Run> {
    return this.json("post", "/api/v1/pipelines", { json: request });
  }

  getRun(runId: string): Promise<Run> {
    return this.json("get", "/api/v1/pipelines/{id}", { path: { id: runId } });
  }

  /** A change to the run's current version; answers the run and the new version. */
  feedback(runId: string, change: ChangeRequest): Promise<RunAndVersion> {
    return this.json("post", "/api/v1/pipelines/{id}/feedback", { path: { id: runId }, json: change });
  }

  /** Goes on to the next phase without waiting out the feedback time. */
  continueRun(runId: string): Promise<Run> {
    return this.json("post", "/api/v1/pipelines/{id}/continue", { path: { id: runId } });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
