-- Manga, part 2. A step the scene cache answered records which earlier task's
-- image stood in, and how alike the scenes were.
ALTER TABLE pipeline_tasks ADD COLUMN reuse_score REAL;
ALTER TABLE pipeline_tasks ADD COLUMN reuse_method TEXT;

-- The scene cache (seed 001 2.3.2): the scene each panel task draws, as words and
-- as an embedding (little-endian f32s, base64), per owner and image model.
CREATE TABLE scene_cache (
    task_id    TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    model      TEXT NOT NULL,
    scope      TEXT NOT NULL,
    features   TEXT NOT NULL,
    vector     TEXT NOT NULL,
    method     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX scene_cache_lookup ON scene_cache (owner_id, model, created_at);

-- Lifecycles (seed 001 1.7): how far an ended run's data has been let go
-- (0 nothing, 1 abandoned checkpoints, 2 temporary files, 3 the book).
ALTER TABLE pipeline_runs ADD COLUMN retained INTEGER NOT NULL DEFAULT 0;
CREATE INDEX pipeline_runs_ended ON pipeline_runs (completed_at) WHERE status IN ('completed', 'failed', 'cancelled');
