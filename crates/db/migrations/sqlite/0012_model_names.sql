-- One name per model across services (seed 003, 3.1): Kie's and Google's models
-- take the canonical names every service shares (`imagen4` became `imagen-4`,
-- `veo3` `veo-3`, `sora2` `sora-2`). The former names stay accepted as aliases;
-- stored tasks and the scene cache are renamed so that lists and lookups find them.
UPDATE tasks SET model = 'imagen-4' WHERE service IN ('kie', 'google') AND model = 'imagen4';
UPDATE tasks SET model = 'veo-3' WHERE service IN ('kie', 'google') AND model = 'veo3';
UPDATE tasks SET model = 'sora-2' WHERE service = 'kie' AND model = 'sora2';
UPDATE scene_cache SET model = 'kie/imagen-4' WHERE model = 'kie/imagen4';
UPDATE scene_cache SET model = 'google/imagen-4' WHERE model = 'google/imagen4';

-- The provider-side copy each task's input files went to the provider as (seed 003,
-- 3.4: Kie's uploads expire after 3 days): its URL and expiry, shown on the task.
-- `position` is the file's place among the input's file references.
CREATE TABLE task_input_copies (
    task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    reference  TEXT NOT NULL,
    service    TEXT NOT NULL,
    url        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (task_id, position)
);

-- An upload's copies at every provider, by its content hash.
CREATE INDEX provider_uploads_file ON provider_uploads (file_key);
