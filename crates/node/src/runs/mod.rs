//! The runs of the node's jobs in the node's SQLite (`job_runs`, migration 0004): written
//! once when a run ends, read newest first with an opaque cursor, one by id, and summarized
//! for the JD's `GetJobRuns`. A suspended run's async tasks and its resumption live in
//! `resume.rs`.
//!
//! A run as the API shows it: `{"id","state","outputs","errors","created_at","finished_at",
//! "tasks":[{"name","type","output","error","duration_ms"}]}`; outputs and task outputs are
//! the pipeline's rendered JSON (§3.3) kept as they are, so no digit is lost to a float.

use chrono::{DateTime, SecondsFormat, Utc};
use offchain_pipeline::run::{RunInput, RunResult, RunStatus, TaskRun};
use offchain_pipeline::value::render::to_json;
use offchain_proto::cfm;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::store::{Store, StoreError};

mod resume;

pub use resume::{Claimed, RunLookup, Suspension, Waiting};

/// The most runs one page (or one `GetJobRuns`) holds.
pub const MAX_PAGE: u32 = 1000;
/// A page's size when the caller gives none.
pub const DEFAULT_PAGE: u32 = 50;

/// Why runs could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A run could not be encoded or a stored one decoded.
    #[error("run JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The cursor is not one this node gave.
    #[error("invalid cursor")]
    BadCursor,
}

impl From<sqlx::Error> for RunsError {
    fn from(error: sqlx::Error) -> Self {
        RunsError::Store(error.into())
    }
}

/// One task of a run: the shape `offchain job run --format json` prints too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskJson {
    pub name: String,
    #[serde(rename = "type")]
    pub task_type: String,
    /// The output as stored JSON (§3.3), when the task succeeded.
    pub output: Option<Box<RawValue>>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl TaskJson {
    /// The view of a pipeline task run (its output is JSON text already).
    pub fn from_task(task: &TaskRun) -> Result<TaskJson, serde_json::Error> {
        Ok(TaskJson {
            name: task.name.clone(),
            task_type: task.task_type.clone(),
            output: task.output.clone().map(RawValue::from_string).transpose()?,
            error: task.error.clone(),
            duration_ms: u64::try_from(task.duration.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// A stored run, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    /// `completed`, `errored` or `suspended`.
    pub state: String,
    pub outputs: Vec<Option<Box<RawValue>>>,
    pub errors: Vec<Option<String>>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub finished_at: Option<String>,
    pub tasks: Vec<TaskJson>,
}

/// A page of runs, newest first; `next` continues after its last one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPage {
    pub runs: Vec<Run>,
    pub next: Option<String>,
}

/// A run that ended, to store.
#[derive(Debug)]
pub struct Finished<'a> {
    pub id: &'a str,
    /// The job's externalJobID, canonical.
    pub job: &'a str,
    pub input: &'a RunInput,
    pub result: &'a RunResult,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub finished_at: i64,
    /// A suspended run's waiting async tasks (empty otherwise).
    pub suspensions: &'a [Suspension],
}

/// The spelling of a run state in the store and the API.
pub fn state_name(state: RunStatus) -> &'static str {
    match state {
        RunStatus::Completed => "completed",
        RunStatus::Errored => "errored",
        RunStatus::Suspended => "suspended",
    }
}

fn rfc3339(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        // In 0..1e9 by construction.
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    }
}

/// A run's outputs and tasks as JSON: what the runs API shows and `offchain job run`
/// prints. Outputs are the stored JSON text (§3.3), so no digit is lost to a float.
pub struct RunJson {
    pub outputs: Vec<Option<Box<RawValue>>>,
    pub tasks: Vec<TaskJson>,
}

impl RunJson {
    /// The JSON of `result`'s final outputs and of each task.
    pub fn of(result: &RunResult) -> Result<RunJson, serde_json::Error> {
        let outputs = result
            .outputs
            .iter()
            .map(|o| {
                o.as_ref()
                    .map(|v| RawValue::from_string(to_json(v)))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        let tasks = result
            .tasks
            .iter()
            .map(TaskJson::from_task)
            .collect::<Result<_, _>>()?;
        Ok(RunJson { outputs, tasks })
    }
}

/// The JSON columns of a run result.
struct Columns {
    outputs: Vec<Option<Box<RawValue>>>,
    tasks: Vec<TaskJson>,
    resume: Option<String>,
}

impl Columns {
    fn of(result: &RunResult) -> Result<Columns, RunsError> {
        let RunJson { outputs, tasks } = RunJson::of(result)?;
        let resume = result
            .resume
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        Ok(Columns {
            outputs,
            tasks,
            resume,
        })
    }
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
);

const COLUMNS: &str = "seq, id, state, outputs, errors, tasks, created_at, finished_at";

fn from_row(row: Row) -> Result<Run, RunsError> {
    let (_, id, state, outputs, errors, tasks, created_at, finished_at) = row;
    Ok(Run {
        id,
        state,
        outputs: serde_json::from_str(&outputs)?,
        errors: serde_json::from_str(&errors)?,
        created_at: rfc3339(created_at),
        finished_at: finished_at.map(rfc3339),
        tasks: serde_json::from_str(&tasks)?,
    })
}

fn cursor_of(row: &Row) -> String {
    format!("{}.{}", row.6, row.0)
}

fn parse_cursor(cursor: &str) -> Result<(i64, i64), RunsError> {
    let (created, seq) = cursor.split_once('.').ok_or(RunsError::BadCursor)?;
    Ok((
        created.parse().map_err(|_| RunsError::BadCursor)?,
        seq.parse().map_err(|_| RunsError::BadCursor)?,
    ))
}

impl Store {
    /// Stores a run that ended (or suspended) and answers it as the API shows it.
    pub async fn insert_run(&self, run: &Finished<'_>) -> Result<Run, RunsError> {
        let columns = Columns::of(run.result)?;
        let state = state_name(run.result.state);
        // A suspended run has not finished.
        let finished_at = (run.result.state != RunStatus::Suspended).then_some(run.finished_at);
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO job_runs (id, job, state, inputs, outputs, errors, all_errors, tasks, \
             resume_state, created_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(run.id)
        .bind(run.job)
        .bind(state)
        .bind(serde_json::to_string(run.input)?)
        .bind(serde_json::to_string(&columns.outputs)?)
        .bind(serde_json::to_string(&run.result.errors)?)
        .bind(serde_json::to_string(&run.result.all_errors)?)
        .bind(serde_json::to_string(&columns.tasks)?)
        .bind(&columns.resume)
        .bind(run.created_at)
        .bind(finished_at)
        .execute(&mut *tx)
        .await?;
        resume::insert_suspensions(&mut tx, run.id, run.suspensions).await?;
        tx.commit().await?;
        Ok(Run {
            id: run.id.to_owned(),
            state: state.to_owned(),
            outputs: columns.outputs,
            errors: run.result.errors.clone(),
            created_at: rfc3339(run.created_at),
            finished_at: finished_at.map(rfc3339),
            tasks: columns.tasks,
        })
    }

    /// Job `job`'s runs, newest first: at most `limit` (capped at [`MAX_PAGE`]; 0 = the
    /// default page), after `cursor` (a previous page's `next`).
    pub async fn runs(
        &self,
        job: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RunPage, RunsError> {
        let limit = if limit == 0 {
            DEFAULT_PAGE
        } else {
            limit.min(MAX_PAGE)
        };
        let (created, seq) = match cursor {
            Some(cursor) => parse_cursor(cursor)?,
            None => (i64::MAX, i64::MAX),
        };
        let mut rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM job_runs WHERE job = $1 \
             AND (created_at < $2 OR (created_at = $2 AND seq < $3)) \
             ORDER BY created_at DESC, seq DESC LIMIT $4"
        ))
        .bind(job)
        .bind(created)
        .bind(seq)
        .bind(i64::from(limit) + 1)
        .fetch_all(self.pool())
        .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        let runs = rows.into_iter().map(from_row).collect::<Result<_, _>>()?;
        Ok(RunPage { runs, next })
    }

    /// Run `id` of job `job`.
    pub async fn run(&self, job: &str, id: &str) -> Result<Option<Run>, RunsError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM job_runs WHERE job = $1 AND id = $2"
        ))
        .bind(job)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(from_row).transpose()
    }

    /// The JD's `GetJobRuns`: job `job`'s latest runs (at most `limit`, 0 = the default page).
    pub async fn run_summaries(
        &self,
        job: &str,
        limit: u32,
    ) -> Result<Vec<cfm::JobRunSummary>, RunsError> {
        let limit = if limit == 0 {
            DEFAULT_PAGE
        } else {
            limit.min(MAX_PAGE)
        };
        let rows: Vec<(i64, String, i64, Option<i64>, String, String)> = sqlx::query_as(
            "SELECT seq, state, created_at, finished_at, all_errors, errors FROM job_runs \
             WHERE job = $1 ORDER BY created_at DESC, seq DESC LIMIT $2",
        )
        .bind(job)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(
                |(seq, state, created_at, finished_at, all_errors, errors)| {
                    let errors: Vec<Option<String>> = serde_json::from_str(&errors)?;
                    Ok(cfm::JobRunSummary {
                        run_id: seq,
                        state,
                        created_at: Some(timestamp(created_at)),
                        finished_at: finished_at.map(timestamp),
                        all_errors: serde_json::from_str(&all_errors)?,
                        fatal_errors: errors.into_iter().flatten().collect(),
                    })
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use offchain_pipeline::run::{JobVars, Trigger};

    use super::*;

    fn result(state: RunStatus) -> RunResult {
        RunResult {
            state,
            outputs: vec![None],
            errors: vec![Some("boom".into())],
            all_errors: vec!["boom".into()],
            tasks: Vec::new(),
            resume: None,
        }
    }

    async fn insert(store: &Store, id: &str, created_at: i64, state: RunStatus) {
        let input = RunInput {
            run_id: id.into(),
            job: JobVars {
                database_id: 0,
                external_job_id: uuid::Uuid::nil(),
                name: "j".into(),
                evm_chain_id: None,
            },
            trigger: Trigger::Cron,
        };
        let finished = Finished {
            id,
            job: "job",
            input: &input,
            result: &result(state),
            created_at,
            finished_at: created_at + 5,
            suspensions: &[],
        };
        store.insert_run(&finished).await.unwrap();
    }

    #[tokio::test]
    async fn pages_are_newest_first_and_runs_of_one_microsecond_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        insert(&store, "a", 100, RunStatus::Errored).await;
        insert(&store, "b", 200, RunStatus::Errored).await;
        insert(&store, "c", 200, RunStatus::Suspended).await;
        insert(&store, "d", 300, RunStatus::Errored).await;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = store.runs("job", 1, cursor.as_deref()).await.unwrap();
            seen.extend(page.runs.iter().map(|r| r.id.clone()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["d", "c", "b", "a"]);
        assert!(store.runs("other", 0, None).await.unwrap().runs.is_empty());
        assert!(matches!(
            store.runs("job", 1, Some("x")).await,
            Err(RunsError::BadCursor)
        ));

        let suspended = store.run("job", "c").await.unwrap().unwrap();
        assert_eq!(suspended.state, "suspended");
        assert_eq!(suspended.finished_at, None);
        assert_eq!(suspended.created_at, "1970-01-01T00:00:00.000200Z");
        assert!(store.run("other", "c").await.unwrap().is_none());

        let summaries = store.run_summaries("job", 2).await.unwrap();
        let seqs: Vec<i64> = summaries.iter().map(|s| s.run_id).collect();
        assert_eq!(seqs, [4, 3]);
        assert_eq!(summaries[0].fatal_errors, ["boom"]);
        assert_eq!(summaries[1].finished_at, None);
    }

    #[test]
    fn timestamps_split_micros_into_seconds_and_nanos() {
        assert_eq!(
            timestamp(1_500_000),
            prost_types::Timestamp {
                seconds: 1,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            timestamp(-1),
            prost_types::Timestamp {
                seconds: -1,
                nanos: 999_999_000
            }
        );
    }
}
