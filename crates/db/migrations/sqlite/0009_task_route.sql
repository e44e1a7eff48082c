-- How a task's service was chosen when the request named a model without one and
-- `[routing]` lists services for it: JSON, `{"model", "service", "skipped": [...]}`.
ALTER TABLE tasks ADD COLUMN route TEXT;
