-- Files clients upload as task inputs (images to edit or animate).
CREATE TABLE uploads (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    mime          TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    width         BIGINT,
    height        BIGINT,
    sha256        TEXT NOT NULL,
    blob_key      TEXT NOT NULL,
    thumbnail_key TEXT,
    created_at    BIGINT NOT NULL
);

CREATE INDEX uploads_blob ON uploads (blob_key);

-- What a provider holds for us (seed 003: Kie's uploads expire after 3 days), keyed
-- by a URL or a content hash, so that a fresh one is reused and a stale one redone.
CREATE TABLE provider_uploads (
    service    TEXT NOT NULL,
    file_key   TEXT NOT NULL,
    url        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (service, file_key)
);

-- Daily quotas count a service's tasks since midnight.
CREATE INDEX tasks_service_created ON tasks (service, created_at);
