-- The runs of the node's jobs (crates/node/src/runs). A run is written once, when it ends
-- (completed, errored or suspended); a suspended run keeps its pipeline state for resume.
-- Times are microseconds since the Unix epoch.

CREATE TABLE job_runs (
    -- The link's GetJobRuns `run_id` (int64), and the cursor's tie-break.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The run's id in the API: a UUID.
    id TEXT NOT NULL UNIQUE,
    -- The job's externalJobID (the proposal uuid).
    job TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('completed', 'errored', 'suspended')),
    -- The run's inputs (`RunInput` JSON: job variables and trigger).
    inputs TEXT NOT NULL,
    -- JSON arrays: final outputs (JSON values or null), final errors, every task's error,
    -- and the tasks `[{"name","type","output","error","duration_ms"}]`.
    outputs TEXT NOT NULL,
    errors TEXT NOT NULL,
    all_errors TEXT NOT NULL,
    tasks TEXT NOT NULL,
    -- A suspended run's `RunState` JSON.
    resume_state TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE INDEX job_runs_by_job ON job_runs (job, created_at DESC, seq DESC);
