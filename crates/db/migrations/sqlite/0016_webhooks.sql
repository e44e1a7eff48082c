-- Webhooks (issue 17). Subscriptions: a user's URL, the events it wants (names
-- joined by commas) and its Standard Webhooks secret. A task's own webhook
-- (Replicate's `webhook`) is a target row, signed with its owner's default secret.
CREATE TABLE webhook_subscriptions (
    id          TEXT PRIMARY KEY NOT NULL,
    owner_id    TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    description TEXT,
    enabled     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX webhook_subscriptions_owner ON webhook_subscriptions (owner_id, id);

CREATE TABLE webhook_secrets (
    owner_id   TEXT PRIMARY KEY NOT NULL,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_task_targets (
    task_id    TEXT PRIMARY KEY NOT NULL,
    owner_id   TEXT NOT NULL,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- One message to one endpoint: its id is the `webhook-id`. `dedupe_key` (task,
-- event, endpoint) makes a second write of the same event insert nothing. A claim
-- moves `next_attempt_at` to its lease's end under `lease_token`.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    owner_id        TEXT NOT NULL,
    subscription_id TEXT REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    task_id         TEXT,
    url             TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_token     TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    latency_ms      INTEGER,
    answer_excerpt  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
-- The dispatcher's claim: pending rows by due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- A subscription's log, newest first; an owner's task webhooks' log.
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);
CREATE INDEX webhook_deliveries_owner_tasks ON webhook_deliveries (owner_id, id) WHERE subscription_id IS NULL;

-- The crash sweep's cursor (one row), and its read: tasks by the time they ended.
CREATE TABLE webhook_sweep (
    id     INTEGER PRIMARY KEY NOT NULL,
    swept_to INTEGER NOT NULL
);
CREATE INDEX tasks_completed ON tasks (completed_at, id) WHERE completed_at IS NOT NULL;
