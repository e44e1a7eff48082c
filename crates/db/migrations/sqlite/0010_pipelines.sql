-- Pipeline runs (seed 001: a story becoming manga, phase by phase). A run is
-- written only under the revision it was read at. `wake_at` is when it next needs
-- attention (the end of a wait, a retry, a quota's renewal, a re-check).
CREATE TABLE pipeline_runs (
    id           TEXT PRIMARY KEY NOT NULL,
    owner_id     TEXT NOT NULL,
    pipeline     TEXT NOT NULL,
    request_id   TEXT,
    status       TEXT NOT NULL,
    phase        INTEGER NOT NULL,
    head_id      TEXT,
    phase_try    INTEGER NOT NULL,
    wake_at      INTEGER,
    deadline_at  INTEGER NOT NULL,
    text         TEXT NOT NULL,
    settings     TEXT NOT NULL,
    error        TEXT,
    note         TEXT,
    progress     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    completed_at INTEGER,
    paused_at    INTEGER,
    revision     INTEGER NOT NULL
);

-- A user's runs, newest first; their runs of the last hour; by their own request id.
CREATE INDEX pipeline_runs_owner ON pipeline_runs (owner_id, id);
CREATE INDEX pipeline_runs_owner_created ON pipeline_runs (owner_id, created_at);
CREATE INDEX pipeline_runs_request ON pipeline_runs (owner_id, request_id);
-- The sweep's question: which runs that have not ended are due.
CREATE INDEX pipeline_runs_due ON pipeline_runs (wake_at) WHERE status IN ('running', 'waiting_input', 'parked');
CREATE INDEX pipeline_runs_active ON pipeline_runs (owner_id, status);

-- A run's versions: a tree by parent_id; never changed once written.
CREATE TABLE pipeline_versions (
    id          TEXT PRIMARY KEY NOT NULL,
    run_id      TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    parent_id   TEXT,
    phase       INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    document    TEXT NOT NULL,
    description TEXT NOT NULL,
    changes     TEXT NOT NULL,
    elapsed_ms  INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX pipeline_versions_run ON pipeline_versions (run_id, id);

-- The tasks a run made, by step key (`phase:basis:try:step`, `proposal:basis:n`).
CREATE TABLE pipeline_tasks (
    run_id   TEXT NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    task_id  TEXT NOT NULL,
    PRIMARY KEY (run_id, step_key)
);
CREATE INDEX pipeline_tasks_task ON pipeline_tasks (task_id);

-- The sweep's other question: which runs at work are past their deadline (a wait
-- for feedback holds the clock).
CREATE INDEX pipeline_runs_deadline ON pipeline_runs (deadline_at) WHERE status = 'running';
