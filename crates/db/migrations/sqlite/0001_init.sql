-- Tasks are the job queue: a worker claims a row under a lease and finishes it only
-- while its lease token still holds. Times are milliseconds since the Unix epoch.
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY NOT NULL,
    service          TEXT NOT NULL,
    model            TEXT NOT NULL,
    input            TEXT NOT NULL,
    status           TEXT NOT NULL,
    progress         INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    crashes          INTEGER NOT NULL DEFAULT 0,
    external_id      TEXT,
    submitting       INTEGER NOT NULL DEFAULT 0,
    error_code       TEXT,
    error_message    TEXT,
    error_retryable  INTEGER,
    priority         INTEGER NOT NULL DEFAULT 0,
    version          INTEGER NOT NULL DEFAULT 1,
    idempotency_key  TEXT UNIQUE,
    request_hash     TEXT,
    retry_of         TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    completed_at     INTEGER,
    expires_at       INTEGER,
    run_after        INTEGER NOT NULL,
    lease_token      TEXT,
    lease_expires_at INTEGER,
    worker_id        TEXT
);

CREATE INDEX tasks_runnable ON tasks (priority DESC, run_after, id)
    WHERE lease_token IS NULL AND status IN ('pending', 'retrying', 'processing');
CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE lease_token IS NOT NULL;
CREATE INDEX tasks_status ON tasks (status, id);
CREATE INDEX tasks_model ON tasks (service, model, id);
CREATE INDEX tasks_created ON tasks (created_at);
CREATE INDEX tasks_external ON tasks (external_id) WHERE external_id IS NOT NULL;

CREATE TABLE assets (
    id            TEXT PRIMARY KEY NOT NULL,
    task_id       TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    mime          TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    sha256        TEXT NOT NULL,
    blob_key      TEXT NOT NULL,
    thumbnail_key TEXT,
    created_at    INTEGER NOT NULL
);

CREATE INDEX assets_task ON assets (task_id, idx);
CREATE INDEX assets_blob ON assets (blob_key);
CREATE INDEX assets_created ON assets (id);

-- Seed 004's user_tags.
CREATE TABLE asset_tags (
    asset_id   TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (asset_id, tag)
);

CREATE INDEX asset_tags_tag ON asset_tags (tag, asset_id);
