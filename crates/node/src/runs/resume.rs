//! Suspended runs in the store (migration 0005): the async tasks waiting under their
//! `responseURL` uuid, the claim that lets exactly one PATCH (or the timeout sweep) resume a
//! run, and the write of the resumed result.
//!
//! A claim clears the run's `resume_state` in the same transaction that removes the task's
//! suspension, so a second PATCH for the same task finds nothing (404) and one racing it
//! for another task of the same run finds the run busy (also 404: it is not suspended then).

use offchain_pipeline::run::{RunResult, RunState, RunStatus};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use super::{Columns, Run, RunsError, state_name};
use crate::store::Store;

/// One async task of a suspended run, waiting for `PATCH /v2/resume/<task_uuid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    /// The unguessable id in the task's `responseURL`.
    pub task_uuid: Uuid,
    /// The task's name in the pipeline.
    pub task: String,
    /// The bridge it called, lower-cased (whose incoming token the PATCH must carry).
    pub bridge: String,
    /// When the wait fails (microseconds since the epoch).
    pub deadline: i64,
}

/// A task waiting for its answer, as a PATCH finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub run_id: String,
    pub suspension: Suspension,
}

/// A run claimed for resumption: nobody else can resume it until it is written back.
#[derive(Debug)]
pub struct Claimed {
    pub run_id: String,
    /// The job's externalJobID.
    pub job: String,
    pub created_at: i64,
    pub state: RunState,
}

pub(super) async fn insert_suspensions(
    tx: &mut Transaction<'_, Sqlite>,
    run_id: &str,
    suspensions: &[Suspension],
) -> Result<(), RunsError> {
    for s in suspensions {
        sqlx::query(
            "INSERT INTO run_suspensions (task_uuid, run_id, task, bridge, deadline) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(s.task_uuid.to_string())
        .bind(run_id)
        .bind(&s.task)
        .bind(&s.bridge)
        .bind(s.deadline)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

type SuspensionRow = (String, String, String, String, i64);

fn waiting((task_uuid, run_id, task, bridge, deadline): SuspensionRow) -> Option<Waiting> {
    Some(Waiting {
        run_id,
        suspension: Suspension {
            task_uuid: Uuid::try_parse(&task_uuid).ok()?,
            task,
            bridge,
            deadline,
        },
    })
}

/// What a classic `PATCH /v2/runs/<id>` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunLookup {
    /// No such run.
    Unknown,
    /// The run exists but no task of it waits for a bridge.
    NotWaiting,
    /// This task waits (the first by name when several do).
    Waiting(Waiting),
}

impl Store {
    /// The task waiting under `task_uuid`, if its run is still suspended.
    pub async fn waiting_task(&self, task_uuid: Uuid) -> Result<Option<Waiting>, RunsError> {
        let row: Option<SuspensionRow> = sqlx::query_as(
            "SELECT s.task_uuid, s.run_id, s.task, s.bridge, s.deadline FROM run_suspensions s \
             JOIN job_runs r ON r.id = s.run_id \
             WHERE s.task_uuid = $1 AND r.state = 'suspended' AND r.resume_state IS NOT NULL",
        )
        .bind(task_uuid.to_string())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(waiting))
    }

    /// Run `run_id` as a classic PATCH sees it.
    pub async fn waiting_run(&self, run_id: &str) -> Result<RunLookup, RunsError> {
        let state: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT state, resume_state IS NOT NULL FROM job_runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(self.pool())
                .await?;
        match state {
            None => return Ok(RunLookup::Unknown),
            Some((state, Some(1))) if state == "suspended" => {}
            Some(_) => return Ok(RunLookup::NotWaiting),
        }
        let row: Option<SuspensionRow> = sqlx::query_as(
            "SELECT task_uuid, run_id, task, bridge, deadline FROM run_suspensions \
             WHERE run_id = $1 ORDER BY task LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row
            .and_then(waiting)
            .map_or(RunLookup::NotWaiting, RunLookup::Waiting))
    }

    /// Claims run `run_id` for resumption: of task `task_uuid` (a PATCH; the suspension is
    /// removed) or of every waiting task (`None`: the sweep). `None` when the task or the
    /// run is not (or no longer) waiting.
    pub async fn claim_run(
        &self,
        run_id: &str,
        task_uuid: Option<Uuid>,
    ) -> Result<Option<Claimed>, RunsError> {
        let mut tx = self.pool().begin().await?;
        let removed = match task_uuid {
            Some(uuid) => {
                sqlx::query("DELETE FROM run_suspensions WHERE task_uuid = $1 AND run_id = $2")
                    .bind(uuid.to_string())
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            }
            None => {
                sqlx::query("DELETE FROM run_suspensions WHERE run_id = $1")
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
                1
            }
        };
        if removed == 0 {
            return Ok(None);
        }
        // The removal above took the write lock: nobody changes the run between this read
        // and the claim. (RETURNING would give the cleared column, hence the read.)
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT job, resume_state, created_at FROM job_runs \
             WHERE id = $1 AND state = 'suspended' AND resume_state IS NOT NULL",
        )
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((job, state, created_at)) = row else {
            // Dropping the transaction rolls the suspension's removal back.
            return Ok(None);
        };
        sqlx::query("UPDATE job_runs SET resume_state = NULL WHERE id = $1")
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        let state: RunState = serde_json::from_str(&state)?;
        tx.commit().await?;
        Ok(Some(Claimed {
            run_id: run_id.to_owned(),
            job,
            created_at,
            state,
        }))
    }

    /// Writes a claimed run's new result: ended, or suspended again (with the newly waiting
    /// `suspensions`; those still waiting from before stay).
    pub async fn update_run(
        &self,
        claimed: &Claimed,
        result: &RunResult,
        suspensions: &[Suspension],
        finished_at: i64,
    ) -> Result<Run, RunsError> {
        let columns = Columns::of(result)?;
        let state = state_name(result.state);
        let finished_at = (result.state != RunStatus::Suspended).then_some(finished_at);
        let mut tx = self.pool().begin().await?;
        if result.state != RunStatus::Suspended {
            sqlx::query("DELETE FROM run_suspensions WHERE run_id = $1")
                .bind(&claimed.run_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE job_runs SET state = $2, outputs = $3, errors = $4, all_errors = $5, \
             tasks = $6, resume_state = $7, finished_at = $8 WHERE id = $1",
        )
        .bind(&claimed.run_id)
        .bind(state)
        .bind(serde_json::to_string(&columns.outputs)?)
        .bind(serde_json::to_string(&result.errors)?)
        .bind(serde_json::to_string(&result.all_errors)?)
        .bind(serde_json::to_string(&columns.tasks)?)
        .bind(&columns.resume)
        .bind(finished_at)
        .execute(&mut *tx)
        .await?;
        insert_suspensions(&mut tx, &claimed.run_id, suspensions).await?;
        tx.commit().await?;
        Ok(Run {
            id: claimed.run_id.clone(),
            state: state.to_owned(),
            outputs: columns.outputs,
            errors: result.errors.clone(),
            created_at: super::rfc3339(claimed.created_at),
            finished_at: finished_at.map(super::rfc3339),
            tasks: columns.tasks,
        })
    }

    /// The suspended runs with a task whose deadline is at or before `now` (microseconds).
    pub async fn expired_runs(&self, now: i64) -> Result<Vec<String>, RunsError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT s.run_id FROM run_suspensions s JOIN job_runs r ON r.id = s.run_id \
             WHERE s.deadline <= $1 AND r.state = 'suspended' AND r.resume_state IS NOT NULL \
             LIMIT 100",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// At start: a run claimed for resumption but never written back (the node stopped in
    /// between) can no longer resume; it ends errored with `message`, so it neither stays
    /// suspended forever nor blocks its waiting tasks' uuids.
    pub async fn fail_interrupted_resumes(&self, message: &str) -> Result<u64, RunsError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, outputs, all_errors FROM job_runs \
             WHERE state = 'suspended' AND resume_state IS NULL",
        )
        .fetch_all(self.pool())
        .await?;
        let mut tx = self.pool().begin().await?;
        for (id, outputs, all_errors) in &rows {
            let width = serde_json::from_str::<Vec<serde_json::Value>>(outputs)?.len();
            let mut all: Vec<String> = serde_json::from_str(all_errors)?;
            all.push(message.to_owned());
            sqlx::query("DELETE FROM run_suspensions WHERE run_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE job_runs SET state = 'errored', errors = $2, all_errors = $3, \
                 finished_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(serde_json::to_string(&vec![Some(message); width.max(1)])?)
            .bind(serde_json::to_string(&all)?)
            .bind(crate::store::now_micros())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use offchain_pipeline::run::{JobVars, RunInput, Trigger};

    use super::super::Finished;
    use super::*;

    fn input() -> RunInput {
        RunInput {
            run_id: "r".into(),
            job: JobVars {
                database_id: 0,
                external_job_id: Uuid::nil(),
                name: "j".into(),
                evm_chain_id: None,
            },
            trigger: Trigger::Cron,
        }
    }

    async fn suspended(store: &Store, task_uuid: Uuid) {
        let input = input();
        let result = RunResult {
            state: RunStatus::Suspended,
            outputs: vec![None],
            errors: vec![None],
            all_errors: Vec::new(),
            tasks: Vec::new(),
            resume: Some(RunState {
                input: input.clone(),
                tasks: Vec::new(),
            }),
        };
        let suspension = Suspension {
            task_uuid,
            task: "fetch".into(),
            bridge: "slow".into(),
            deadline: 1_000,
        };
        store
            .insert_run(&Finished {
                id: "r",
                job: "job",
                input: &input,
                result: &result,
                created_at: 1,
                finished_at: 2,
                suspensions: &[suspension],
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_task_is_claimed_once_and_an_interrupted_claim_fails_the_run_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let task = Uuid::new_v4();
        suspended(&store, task).await;
        let waiting = store.waiting_task(task).await.unwrap().unwrap();
        assert_eq!(waiting.run_id, "r");
        assert_eq!(waiting.suspension.bridge, "slow");
        assert_eq!(store.expired_runs(999).await.unwrap(), Vec::<String>::new());
        assert_eq!(store.expired_runs(1_000).await.unwrap(), ["r"]);
        assert!(matches!(
            store.waiting_run("r").await.unwrap(),
            RunLookup::Waiting(_)
        ));
        assert_eq!(store.waiting_run("x").await.unwrap(), RunLookup::Unknown);

        let claimed = store.claim_run("r", Some(task)).await.unwrap().unwrap();
        assert_eq!((claimed.job.as_str(), claimed.created_at), ("job", 1));
        assert!(store.claim_run("r", Some(task)).await.unwrap().is_none());
        assert!(store.claim_run("r", None).await.unwrap().is_none());
        assert!(store.waiting_task(task).await.unwrap().is_none());
        assert_eq!(store.waiting_run("r").await.unwrap(), RunLookup::NotWaiting);
        assert!(store.expired_runs(i64::MAX).await.unwrap().is_empty());

        // The node stopped before writing the resumed run back.
        assert_eq!(store.fail_interrupted_resumes("stopped").await.unwrap(), 1);
        let run = store.run("job", "r").await.unwrap().unwrap();
        assert_eq!(run.state, "errored");
        assert_eq!(run.errors, [Some("stopped".to_owned())]);
        assert!(run.finished_at.is_some());
        assert_eq!(store.fail_interrupted_resumes("stopped").await.unwrap(), 0);
    }
}
