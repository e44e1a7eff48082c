-- Fair claims. Each task takes a turn in its owner's lane when it is created: the
-- lane's next turn, but never earlier than the queue's clock (the latest turn
-- claimed), so one user's deep backlog does not hold back another user's task.
-- Claims go by priority, then turn: fair among users at each priority.
ALTER TABLE tasks ADD COLUMN queue_slot BIGINT NOT NULL DEFAULT 0;

CREATE TABLE queue_lanes (
    owner_key TEXT PRIMARY KEY NOT NULL,
    next_slot BIGINT NOT NULL
);

-- One row: the latest turn claimed (the lanes' clock) and how many tasks have been
-- started, which the admission check reads to know how fast the queue drains.
CREATE TABLE queue_clock (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    vtime   BIGINT NOT NULL,
    started BIGINT NOT NULL
);
INSERT INTO queue_clock (id, vtime, started) VALUES (1, 0, 0);

-- The claim walks this index in order and reads run_after from it.
DROP INDEX tasks_runnable;
CREATE INDEX tasks_runnable ON tasks (priority DESC, queue_slot, id, run_after)
    WHERE lease_token IS NULL AND status IN ('pending', 'retrying', 'processing');

-- A user's waiting and running tasks (per-user room and concurrency limits) and a
-- user's tasks of a day (daily limits), without walking the user's history.
CREATE INDEX tasks_owner_active ON tasks (owner_id)
    WHERE status IN ('pending', 'retrying', 'processing');
CREATE INDEX tasks_owner_queued ON tasks (owner_id)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX tasks_owner_created ON tasks (owner_id, created_at);
-- Lists filtered by service, newest first.
CREATE INDEX tasks_service ON tasks (service, id);
-- Tasks at their provider, counted per service.
CREATE INDEX tasks_in_flight ON tasks (service)
    WHERE status = 'processing' AND (external_id IS NOT NULL OR submitting = 1);
-- A model's tasks of a day (daily quotas per model).
CREATE INDEX tasks_model_created ON tasks (service, model, created_at);
-- The pending tasks that may expire, by when.
CREATE INDEX tasks_pending_expiry ON tasks (expires_at)
    WHERE status = 'pending' AND lease_token IS NULL AND expires_at IS NOT NULL;
