-- Async resume (issue 10, item 3; crates/node/src/runs/resume.rs). A suspended run's async
-- bridge tasks wait here under the unguessable uuid of their `responseURL`, each with its
-- deadline (microseconds since the Unix epoch): the earliest of the task's `timeout`, the
-- job's `maxTaskDuration` and the run limit, after which the sweep fails the run.
-- A resume claims the run by clearing `resume_state`, so two PATCHes cannot both resume it.

CREATE TABLE run_suspensions (
    task_uuid TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    -- The bridge the task called (lower-cased), whose incoming token the PATCH must carry.
    bridge TEXT NOT NULL,
    deadline INTEGER NOT NULL
);

CREATE INDEX run_suspensions_by_run ON run_suspensions (run_id);
CREATE INDEX run_suspensions_by_deadline ON run_suspensions (deadline);
