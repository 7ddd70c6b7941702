//! The runner (spec §6) and the I/O tasks `http` and `bridge` (§4, bridge.md §1, §3).
//!
//! A [`Runner`] is built once per pipeline and runs it any number of times. Everything with
//! side effects is handed in through [`Env`]: an [`HttpClient`], a [`BridgeLookup`], the
//! bridges' [`ResponseCache`], a [`Clock`] and the [`Random`] pick of `any`. No task is
//! spawned: ready I/O tasks run concurrently inside the run's own future, pure tasks run
//! inline as soon as their inputs are final.
//!
//! - Scheduling (§6.1): a task starts once every upstream task (explicit and `$(x)` edges)
//!   has a result. Dependents of a failed task run and fail with the reference's texts
//!   (`task inputs: too many errors`, `VarExpr: …`); aggregates and `any` tolerate errored
//!   inputs as §4 says.
//! - Retries (§5): `retries` is the total number of attempts of an `http`/`bridge` task,
//!   with the backoff rules and quirks of §5. **Project**: pure tasks are not retried — they
//!   would fail again with the same text, so only the reference's wasted delay differs.
//! - Deadlines (§6.4): per attempt, the earliest of the run limit, `timeout`,
//!   `maxTaskDuration` and, for I/O tasks without `timeout`, the default 15 s.
//! - `failEarly` (§6.2): the first failed attempt of such a task stops the run; running
//!   attempts finish, every task without a result gets `task run cancelled (fail early)`.
//! - Suspension (§6.5): an async bridge answering pending leaves its task without result;
//!   when nothing else can progress the run ends [`RunStatus::Suspended`] with a
//!   serializable [`RunState`], which [`Runner::resume`] continues without re-running
//!   finished tasks.
//!
//! ```
//! use std::collections::HashMap;
//!
//! use offchain_pipeline::Pipeline;
//! use offchain_pipeline::run::*;
//! use offchain_pipeline::tasks::StdRandom;
//!
//! /// Every request gets the same answer.
//! struct Answer(&'static str);
//! impl HttpClient for Answer {
//!     fn send(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
//!         let body = self.0.as_bytes().to_vec();
//!         Box::pin(async move { Ok(HttpResponse { status: 200, headers: vec![], body }) })
//!     }
//! }
//!
//! let pipeline = Pipeline::parse(r#"
//!     fetch [type=bridge name=coin requestData=<{"data": {"coin": "ETH"}}>]
//!     parse [type=jsonparse path="data,result"]
//!     scale [type=multiply times=100]
//!     fetch -> parse -> scale
//! "#).unwrap();
//! let bridges = HashMap::from([(
//!     "coin".to_owned(),
//!     Bridge { url: "http://adapter/".into(), outgoing_token: "t".into() },
//! )]);
//! let config = RunConfig::default();
//! let env = Env {
//!     http: &Answer(r#"{"data": {"result": 3012.55}, "statusCode": 200}"#),
//!     bridges: &bridges,
//!     cache: &NoCache,
//!     clock: &TokioClock,
//!     random: &StdRandom,
//!     config: &config,
//! };
//! let input = RunInput {
//!     run_id: "1".into(),
//!     job: JobVars { database_id: 1, external_job_id: Default::default(), name: "j".into(), evm_chain_id: None },
//!     trigger: Trigger::Cron,
//! };
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! let result = rt.block_on(Runner::new(&pipeline).run(input, &env));
//! assert_eq!(result.state, RunStatus::Completed);
//! assert_eq!(result.tasks[2].output.as_deref(), Some(r#""301255""#));
//! ```

mod calls;
mod engine;
#[cfg(feature = "reqwest")]
pub mod http_client;
pub mod io;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use io::{
    BoxFuture, Bridge, BridgeLookup, Clock, HttpClient, HttpError, HttpRequest, HttpResponse,
    MAX_BODY_BYTES, MemoryCache, NoCache, ResponseCache, TokioClock,
};

use crate::graph::Pipeline;
use crate::spec::JobSpec;
use crate::tasks::Random;
use crate::value::json::{Numbers, parse_whole};
use crate::value::{Value, Vars};

/// Node settings that shape a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// Whole-run limit from the run's start (`None` = none); default 10 minutes.
    pub run_timeout: Option<Duration>,
    /// Deadline of an `http`/`bridge` attempt whose task sets no `timeout`; default 15 s.
    pub default_http_timeout: Duration,
    /// `cacheTTL` of bridge tasks that set none; default 0 (no cache).
    pub default_cache_ttl: Duration,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            run_timeout: Some(Duration::from_secs(600)),
            default_http_timeout: Duration::from_secs(15),
            default_cache_ttl: Duration::ZERO,
        }
    }
}

/// Everything a run may touch.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// HTTP for `http` and `bridge`.
    pub http: &'a dyn HttpClient,
    /// Bridge names → URL and token.
    pub bridges: &'a dyn BridgeLookup,
    /// Last-good bridge answers.
    pub cache: &'a dyn ResponseCache,
    /// Time.
    pub clock: &'a dyn Clock,
    /// `any`'s pick.
    pub random: &'a dyn Random,
    /// Node settings.
    pub config: &'a RunConfig,
}

/// The `jobSpec` variables (§3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobVars {
    /// `jobSpec.databaseID`.
    pub database_id: i64,
    /// `jobSpec.externalJobID`.
    pub external_job_id: Uuid,
    /// `jobSpec.name`.
    pub name: String,
    /// `jobSpec.evmChainID`, cron jobs only.
    pub evm_chain_id: Option<String>,
}

impl JobVars {
    /// The variables of a parsed spec (database id 0; a spec without `externalJobID` gets
    /// the nil UUID — the node assigns a real one on insert).
    pub fn from_spec(spec: &JobSpec) -> Self {
        Self {
            database_id: 0,
            external_job_id: spec.external_job_id.unwrap_or_default(),
            name: spec.name.clone(),
            evm_chain_id: None,
        }
    }
}

/// What started the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// `jobRun.requestBody` (raw text) and `jobRun.meta` (`null` for the HTTP trigger).
    Webhook {
        /// The raw request body.
        request_body: String,
        /// The run's meta; sent to bridges when it is an object.
        meta: serde_json::Value,
    },
    /// `jobRun.meta` is `{}`.
    Cron,
}

/// One run's inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    /// The run's id, handed to [`BridgeLookup::response_url`].
    pub run_id: String,
    /// `jobSpec.*`.
    pub job: JobVars,
    /// `jobRun.*`.
    pub trigger: Trigger,
}

impl RunInput {
    /// The run variables before any task ran.
    pub fn vars(&self) -> Vars {
        let mut vars = Vars::new();
        let j = &self.job;
        vars.set_job_spec(
            j.database_id,
            j.external_job_id,
            &j.name,
            j.evm_chain_id.as_deref(),
        );
        match &self.trigger {
            Trigger::Cron => vars.set_cron_run(),
            Trigger::Webhook { request_body, meta } => {
                let meta = parse_whole(&meta.to_string(), Numbers::Exact).unwrap_or(Value::Null);
                vars.set_webhook_run(request_body, meta);
            }
        }
        vars
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// No terminal task failed.
    Completed,
    /// A terminal task failed, or `failEarly` stopped the run.
    Errored,
    /// An async bridge is pending; resume with [`Runner::resume`].
    Suspended,
}

/// One task's part of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    /// Task name.
    pub name: String,
    /// Task type (`bridge`, …).
    #[serde(rename = "type")]
    pub task_type: String,
    /// The output rendered as stored JSON (§3.3), when the task succeeded.
    pub output: Option<String>,
    /// The error text, when it failed.
    pub error: Option<String>,
    /// Waiting for an async bridge's answer (neither output nor error yet).
    #[serde(default)]
    pub suspended: bool,
    /// Attempts made (0 when the task never ran, e.g. cancelled).
    pub attempts: u32,
    /// When the task started, from the start (or resumption) of the run.
    pub started: Duration,
    /// How long it took, retries included.
    pub duration: Duration,
}

/// A finished (or suspended) run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// How it ended.
    pub state: RunStatus,
    /// One entry per terminal task, ordered by `index` then topological position.
    pub outputs: Vec<Option<Value>>,
    /// Aligned with `outputs`: the terminal task's error text, if any.
    pub errors: Vec<Option<String>>,
    /// Every task's error text, in topological order (a completed run may have some).
    pub all_errors: Vec<String>,
    /// Every task that ran, failed or waits, in topological order.
    pub tasks: Vec<TaskRun>,
    /// What [`Runner::resume`] needs, when suspended.
    pub resume: Option<RunState>,
}

/// A suspended run, to store and resume later (serde JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The run's inputs.
    pub input: RunInput,
    /// Finished and suspended tasks; outputs as stored JSON.
    pub tasks: Vec<TaskRun>,
}

/// Why a state could not be resumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// The state names a task the pipeline lacks.
    #[error("stored run names task {0:?}, which the pipeline does not have")]
    UnknownTask(String),
    /// The task is not waiting for an answer.
    #[error("task {0:?} is not suspended")]
    NotSuspended(String),
    /// A stored output is not JSON.
    #[error("stored output of task {task:?} is not JSON: {error}")]
    BadOutput {
        /// The task.
        task: String,
        /// The parser's text.
        error: String,
    },
}

/// Runs one pipeline.
#[derive(Debug, Clone)]
pub struct Runner<'p> {
    pipeline: &'p Pipeline,
    /// Each task's parameters as the [`crate::value::Resolver`] wants them.
    attrs: Vec<BTreeMap<String, String>>,
    max_task_duration: Option<Duration>,
}

impl<'p> Runner<'p> {
    /// A runner for `pipeline`, without `maxTaskDuration`.
    pub fn new(pipeline: &'p Pipeline) -> Self {
        let attrs = pipeline
            .tasks
            .iter()
            .map(|t| {
                t.attrs
                    .iter()
                    .map(|a| (a.key.clone(), a.value.clone()))
                    .collect()
            })
            .collect();
        Self {
            pipeline,
            attrs,
            max_task_duration: None,
        }
    }

    /// A runner for a job spec's pipeline with its `maxTaskDuration`.
    pub fn for_job(spec: &'p JobSpec) -> Self {
        Self::new(&spec.pipeline).with_max_task_duration(spec.max_task_duration)
    }

    /// Sets the job's `maxTaskDuration` (`None` or zero = none).
    pub fn with_max_task_duration(mut self, d: Option<Duration>) -> Self {
        self.max_task_duration = d.filter(|d| !d.is_zero());
        self
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &'p Pipeline {
        self.pipeline
    }

    /// Runs the pipeline once.
    pub async fn run(&self, input: RunInput, env: &Env<'_>) -> RunResult {
        let mut run = engine::Run::new(self, env, input);
        run.drive().await;
        run.finish_run()
    }

    /// Continues a suspended run: `task` (an async bridge) gets `answer` — the adapter's
    /// JSON value as text (stored as a string output, project §6.5) or an error message.
    /// Finished tasks are not re-run.
    pub async fn resume(
        &self,
        state: RunState,
        task: &str,
        answer: Result<String, String>,
        env: &Env<'_>,
    ) -> Result<RunResult, ResumeError> {
        let mut run = engine::Run::restore(self, env, state)?;
        run.answer(task, answer)?;
        run.drive().await;
        Ok(run.finish_run())
    }
}
