-- Remote workers (issue 14: seed 002's GPU workers, and any model served this way)
-- pull tasks over HTTP. A task's `pool` says who runs it: '' for the server's own
-- workers, or the `service/model` a remote worker serves. Each claim walks only its
-- own pool, so this server's workers never see a GPU model's backlog and a GPU
-- worker never sees theirs.
ALTER TABLE tasks ADD COLUMN pool TEXT NOT NULL DEFAULT '';

-- A task that takes another task's output as its input waits for it (a chain:
-- text -> image -> 3D): `after_task` names it, and the task is not due (its
-- run_after far in the future) until that one completes.
ALTER TABLE tasks ADD COLUMN after_task TEXT;
-- Set on a task when another starts waiting for it, so that a completion looks
-- for waiting tasks only then (a chain is rare; a completion is the hot path).
ALTER TABLE tasks ADD COLUMN has_waiters BIGINT NOT NULL DEFAULT 0;

DROP INDEX tasks_runnable;
CREATE INDEX tasks_runnable ON tasks (pool, priority DESC, queue_slot, id, run_after)
    WHERE lease_token IS NULL AND status IN ('pending', 'retrying', 'processing');

-- The tasks still waiting for another, by the task they wait for.
CREATE INDEX tasks_waiting ON tasks (after_task)
    WHERE after_task IS NOT NULL AND status = 'pending';

-- Worker keys: what a remote worker authenticates with (not a user's key: a worker
-- reads the inputs of every user's tasks of the models it serves, and nothing
-- else). Stored as a SHA-256, shown once. `last_seen_at` is when it last asked for
-- work: a model has a worker while one was seen lately.
CREATE TABLE worker_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    models       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_seen_at BIGINT
);
