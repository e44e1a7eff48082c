-- Each tag row names its output's task too, so that `GET /tasks?tag=` reads one
-- index range (tag, task_id) instead of looking up every tagged output's task:
-- at a million tasks that lookup was most of the route's time.
ALTER TABLE asset_tags ADD COLUMN task_id TEXT;
UPDATE asset_tags SET task_id = (SELECT task_id FROM assets WHERE assets.id = asset_tags.asset_id);
CREATE INDEX asset_tags_task ON asset_tags (tag, task_id);
