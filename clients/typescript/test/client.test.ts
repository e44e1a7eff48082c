// AtelierClient against the real server (scripts/client-tests starts it with the
// local/instant engine on, and members limited to one task at a time).
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { AtelierClient, AtelierError, WaitTimeoutError, type Task } from "../src/index.js";
import { STORY, server } from "./support.js";

const target = server();
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function rejection(promise: Promise<unknown>): Promise<AtelierError> {
  const error = await promise.then(
    () => assert.fail("no error"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof AtelierError, `an AtelierError, not ${String(error)}`);
  return error;
}

describe("AtelierClient against the server", { skip: target ? false : "run through scripts/client-tests" }, () => {
  const { url, key, memberKey } = target ?? { url: "", key: "", memberKey: "" };
  const client = new AtelierClient({ baseUrl: url, apiKey: key, timeoutMs: 20_000 });
  const slowTask = (delayMs: number) =>
    client.createTask("local/instant", { delay_ms: delayMs, seed: Math.floor(Math.random() * 1e9) });

  it("reads health and models", async () => {
    assert.equal((await client.health()).status, "ok");
    const models = await client.listModels();
    const placeholder = models.models.find((model) => model.id === "local/placeholder");
    assert.ok(placeholder?.usable);
    assert.ok(models.models.some((model) => model.id === models.default_model));
  });

  it("waits by following events, then downloads the output", async () => {
    const task = await slowTask(1500);
    assert.equal(task.status, "pending");
    const seen: Task[] = [];
    const done = await client.wait(task.task_id, { timeoutMs: 30_000, onProgress: (state) => seen.push(state) });
    assert.equal(done.status, "completed");
    const versions = seen.map((state) => state.version);
    assert.deepEqual(versions, [...new Set(versions)].sort((a, b) => a - b));
    assert.ok(seen.some((state) => state.status !== "completed"), "states before the end were reported");
    const output = done.images[0]!;
    const data = await client.downloadAsset(output.image_id);
    assert.deepEqual([...data.subarray(0, 8)], PNG_SIGNATURE);
    assert.deepEqual([data.length, sha256(data)], [output.file_size, output.sha256]);
    const folder = await mkdtemp(join(tmpdir(), "atelier-client-"));
    try {
      const path = await client.downloadAssetToFile(output.image_id, join(folder, "out.png"));
      assert.deepEqual(await readFile(path), Buffer.from(data));
      assert.deepEqual(await readdir(folder), ["out.png"]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("streams a task's states until it ends", async () => {
    const task = await slowTask(300);
    const states: Task[] = [];
    for await (const state of client.taskEvents(task.task_id)) states.push(state);
    assert.equal(states.at(-1)?.status, "completed");
    assert.ok(states.slice(0, -1).every((state) => state.status !== "completed"));
  });

  it("waits by polling", async () => {
    const task = await slowTask(300);
    const statuses: string[] = [];
    const done = await client.wait(task.task_id, {
      useEvents: false,
      pollIntervalMs: 100,
      onProgress: (state) => statuses.push(state.status),
    });
    assert.equal(done.status, "completed");
    assert.equal(statuses.at(-1), "completed");
  });

  it("times out with the last state", async () => {
    const task = await slowTask(5000);
    const started = Date.now();
    const error = await client.wait(task.task_id, { timeoutMs: 500 }).then(
      () => assert.fail("no timeout"),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof WaitTimeoutError);
    assert.ok(Date.now() - started < 3000);
    assert.notEqual((error.task as Task).status, "completed");
    await client.cancelTask(task.task_id);
  });

  it("takes Prefer: wait and an idempotency key", async () => {
    const input = { prompt: "blue", width: 64, height: 64 };
    const finished = await client.createTask("local/placeholder", input, { waitSecs: 20 });
    assert.equal(finished.status, "completed");
    const idempotencyKey = `ts-${randomUUID()}`;
    const first = await client.createTask("local/instant", { seed: 1 }, { idempotencyKey });
    const again = await client.createTask("local/instant", { seed: 1 }, { idempotencyKey });
    assert.equal(first.task_id, again.task_id);
    const error = await rejection(client.createTask("local/instant", { seed: 2 }, { idempotencyKey }));
    assert.deepEqual([error.status, error.code], [409, "idempotency_key_reused"]);
  });

  it("walks pages to the same list", async () => {
    const created = new Set<string>();
    for (let n = 0; n < 5; n++) created.add((await client.createTask("local/qr", { text: `ts page ${n}` })).task_id);
    // Done first, so that no output appears between the two asset listings.
    await Promise.all([...created].map((id) => client.wait(id, { timeoutMs: 30_000 })));
    const walked: string[] = [];
    for await (const task of client.iterTasks({ model: "local/qr", limit: 2 })) walked.push(task.task_id);
    const whole = await client.listTasks({ model: "local/qr", limit: 500 });
    assert.equal(whole.next_cursor ?? null, null);
    assert.deepEqual(walked, whole.tasks.map((task) => task.task_id));
    for (const id of created) assert.ok(walked.includes(id));
    const assets: string[] = [];
    for await (const asset of client.iterAssets({ model: "local/qr", limit: 2 })) assets.push(asset.image_id);
    const wholeAssets = await client.listAssets({ model: "local/qr", limit: 500 });
    assert.deepEqual(assets, wholeAssets.images.map((asset) => asset.image_id));
  });

  it("cancels, retries and deletes", async () => {
    const task = await slowTask(5000);
    const cancelled = await client.cancelTask(task.task_id);
    assert.equal(cancelled.status, "cancelled");
    assert.equal((await rejection(client.cancelTask(task.task_id))).status, 409);
    const again = await client.retryTask(task.task_id);
    assert.notEqual(again.task_id, task.task_id);
    assert.equal(again.retry_of, task.task_id);
    await client.cancelTask(again.task_id);
    await client.deleteTask(task.task_id);
    const error = await rejection(client.getTask(task.task_id));
    assert.deepEqual([error.status, error.code], [404, "not_found"]);
  });

  it("carries a validation error's details", async () => {
    const error = await rejection(client.createTask("local/placeholder", { prompt: "" }));
    assert.deepEqual([error.status, error.code], [422, "validation_error"]);
    assert.equal((error.details as { field: string }).field, "prompt");
  });

  it("answers 429 with Retry-After past a member's limit", async () => {
    const member = new AtelierClient({ baseUrl: url, apiKey: memberKey, retry: { maxRetries: 3, maxDelayMs: 1000 } });
    const first = await member.createTask("local/instant", { delay_ms: 3000 });
    try {
      const started = Date.now();
      const error = await rejection(member.createTask("local/instant", { delay_ms: 10 }));
      assert.ok(Date.now() - started < 1000, "a 5 s wait is longer than this client waits");
      assert.deepEqual([error.status, error.code, error.retryAfter], [429, "rate_limit_exceeded", 5]);
    } finally {
      await member.cancelTask(first.task_id);
    }
  });

  it("uploads a file and reads it back", async () => {
    const input = { prompt: "green", width: 64, height: 64 };
    const image = await client.createTask("local/placeholder", input, { waitSecs: 20 });
    const data = await client.downloadAsset(image.images[0]!.image_id);
    const upload = await client.upload(data, "green.png", "image/png");
    assert.deepEqual([upload.mime, upload.name, upload.width, upload.height], ["image/png", "green.png", 64, 64]);
    const stored = await client.downloadUpload(upload.id);
    assert.deepEqual([upload.bytes, upload.sha256], [stored.length, sha256(stored)]);
    assert.equal((await client.getUpload(upload.id)).id, upload.id);
    await client.deleteUpload(upload.id);
    assert.equal((await rejection(client.getUpload(upload.id))).status, 404);
  });

  it("runs a manga pipeline with feedback", async () => {
    const feedback_mode = { enabled: true, timeout_seconds: 600 };
    let run = await client.createRun({ text: STORY, last_phase: 2, feedback_mode });
    assert.equal(run.phase, 1);
    const deadline = Date.now() + 20_000;
    while (run.status === "running" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      run = await client.getRun(run.id);
    }
    assert.equal(run.status, "waiting_input");
    const changed = await client.feedback(run.id, {
      change_type: "text_edit",
      element_id: "concept.title",
      change_data: { new_value: "The Lighthouse" },
    });
    assert.equal((changed.version.document as { concept: { title: string } }).concept.title, "The Lighthouse");
    assert.equal(changed.run.head_version_id, changed.version.id);
    assert.equal((await client.continueRun(run.id)).phase, 2);
  });
});
