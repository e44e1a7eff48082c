-- Tasks are the job queue: a worker claims a row under a lease and finishes it only
-- while its lease token still holds. Times are milliseconds since the Unix epoch.
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY NOT NULL,
    service          TEXT NOT NULL,
    model            TEXT NOT NULL,
    input            TEXT NOT NULL,
    status           TEXT NOT NULL,
    progress         BIGINT NOT NULL DEFAULT 0,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    crashes          BIGINT NOT NULL DEFAULT 0,
    external_id      TEXT,
    submitting       BIGINT NOT NULL DEFAULT 0,
    error_code       TEXT,
    error_message    TEXT,
    error_retryable  BIGINT,
    priority         BIGINT NOT NULL DEFAULT 0,
    version          BIGINT NOT NULL DEFAULT 1,
    idempotency_key  TEXT UNIQUE,
    request_hash     TEXT,
    retry_of         TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    started_at       BIGINT,
    completed_at     BIGINT,
    expires_at       BIGINT,
    run_after        BIGINT NOT NULL,
    lease_token      TEXT,
    lease_expires_at BIGINT,
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
    idx           BIGINT NOT NULL,
    mime          TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    width         BIGINT,
    height        BIGINT,
    sha256        TEXT NOT NULL,
    blob_key      TEXT NOT NULL,
    thumbnail_key TEXT,
    created_at    BIGINT NOT NULL
);

CREATE INDEX assets_task ON assets (task_id, idx);
CREATE INDEX assets_blob ON assets (blob_key);
CREATE INDEX assets_created ON assets (id);

-- Seed 004's user_tags.
CREATE TABLE asset_tags (
    asset_id   TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (asset_id, tag)
);

CREATE INDEX asset_tags_tag ON asset_tags (tag, asset_id);

-- Every change of status or progress is announced, so that workers in other
-- processes wake at once and event streams follow changes made elsewhere.
CREATE FUNCTION atelier_notify_task() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('atelier_tasks', NEW.id || ' ' || NEW.status);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_notify
    AFTER INSERT OR UPDATE OF status, progress, external_id ON tasks
    FOR EACH ROW EXECUTE FUNCTION atelier_notify_task();
