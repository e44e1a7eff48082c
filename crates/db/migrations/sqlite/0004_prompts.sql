-- Prompt trees (seed 003's `model Prompt`): a prompt branches from its parent; an
-- edit is a new child, so content never changes. `root_id` names the tree (a
-- root's own id) so a tree is read in one query; `depth` bounds its nesting.
CREATE TABLE prompts (
    id               TEXT PRIMARY KEY NOT NULL,
    owner_id         TEXT,
    parent_id        TEXT REFERENCES prompts (id),
    root_id          TEXT NOT NULL,
    depth            INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    content          TEXT NOT NULL,
    feedback_score   INTEGER,
    feedback_comment TEXT,
    ai_comment       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- A user's roots, newest first; a prompt's children; a tree.
CREATE INDEX prompts_owner_parent ON prompts (owner_id, parent_id, id);
CREATE INDEX prompts_parent ON prompts (parent_id, id);
CREATE INDEX prompts_root ON prompts (root_id, id);

-- The prompt a task was made from: no foreign key, so that a task insert never
-- fails (and never fails a group commit) for a prompt deleted meanwhile; deleting
-- a prompt sets its tasks' link to null in the same transaction.
ALTER TABLE tasks ADD COLUMN prompt_id TEXT;
CREATE INDEX tasks_prompt ON tasks (prompt_id, id);
