//! Pipelines as existing nodes run them: the job spec (TOML), the DOT task graph of its
//! `observationSource`, the values tasks exchange, the tasks and the runner.
//!
//! This crate does no I/O of its own (the `reqwest` feature, off by default, adds the real
//! HTTP client `run::http_client::ReqwestClient` that the CLI and the node share). Parsing is pure: [`JobSpec::parse`] reads a whole
//! spec file and [`Pipeline::parse`] a DOT text alone; every error is a [`SpecError`] with a
//! line and column in the file that was parsed (TOML and DOT alike) and what was expected.
//!
//! A complete example: parse a spec, then run it once against a bridge that always gives
//! the same answer (a real caller hands in `run::http_client::ReqwestClient`).
//!
//! ```
//! use std::collections::HashMap;
//!
//! use offchain_pipeline::run::*;
//! use offchain_pipeline::tasks::StdRandom;
//! use offchain_pipeline::{JobSpec, JobType, TaskType};
//!
//! let spec = JobSpec::parse(r#"
//! type = "webhook"
//! schemaVersion = 1
//! name = "eth-usd"
//! externalJobID = "0b8c7f4e-5d2a-4c1b-9e3f-6a7d8c9b0a1e"
//! observationSource = """
//! fetch [type="bridge" name="coin-market" requestData=<{"data": {"coin": "ETH"}}>]
//! parse [type="jsonparse" path="data,result" data="$(fetch)"]
//! scale [type="multiply" input="$(parse)" times=100]
//! fetch -> parse -> scale
//! """
//! "#).unwrap();
//! assert_eq!(spec.job_type, JobType::Webhook);
//! assert_eq!(spec.pipeline.tasks[2].task_type, TaskType::Multiply);
//!
//! /// The adapter behind the bridge: every request gets the same answer.
//! struct Adapter;
//! impl HttpClient for Adapter {
//!     fn send(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
//!         let body = br#"{"data": {"result": 3012.55}, "statusCode": 200}"#.to_vec();
//!         Box::pin(async move { Ok(HttpResponse { status: 200, headers: vec![], body }) })
//!     }
//! }
//! let bridges = HashMap::from([(
//!     "coin-market".to_owned(),
//!     Bridge { url: "http://127.0.0.1:8080/".into(), outgoing_token: String::new() },
//! )]);
//! let config = RunConfig::default();
//! let env = Env {
//!     http: &Adapter,
//!     bridges: &bridges,
//!     cache: &NoCache,
//!     clock: &TokioClock,
//!     random: &StdRandom,
//!     config: &config,
//! };
//! let input = RunInput {
//!     run_id: "1".into(),
//!     job: JobVars::from_spec(&spec),
//!     trigger: Trigger::Cron,
//! };
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! let result = runtime.block_on(Runner::for_job(&spec).run(input, &env));
//! assert_eq!(result.state, RunStatus::Completed);
//! assert_eq!(result.tasks[2].output.as_deref(), Some(r#""301255""#)); // exact: 3012.55 × 100
//!
//! // Every error names its line and column in the file.
//! let err = JobSpec::parse("type = \"webhook\"\nschemaVersion = 1\nobservationSource = \"a -> b\"\n")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "3:22: edge to undeclared task a");
//! ```
//!
//! The DOT dialect and its quirks are those of `shared/spec/pipeline.md` §2, with the
//! project's extensions: an optional `digraph { … }` wrapper, bare numerals with an exponent
//! (`times=1e18`), and refusals the reference lacks (unknown attributes and TOML keys,
//! duplicate tasks, edges to undeclared tasks, the names `jobSpec`/`jobRun`, 5-field cron).
//!
//! [`value`] holds the values tasks exchange (exact decimals, JSON reading and rendering,
//! run variables, how a task attribute gets its value: spec §3); [`tasks`] the pure tasks
//! (`jsonparse`, `multiply`, `median`, …: spec §4) as functions over a task's attributes,
//! the run variables and its inputs; [`run`] the runner and the I/O tasks `http` and
//! `bridge`, with HTTP, bridge lookup, the response cache and the clock handed in as traits.

mod common;
mod dot;
pub mod duration;
mod error;
pub mod graph;
mod literals;
pub mod run;
pub mod spec;
mod task_type;
pub mod tasks;
pub mod value;

pub use common::CommonAttrs;
pub use duration::{DurationError, parse_duration};
pub use error::{Location, SpecError};
pub use graph::{Attr, Pipeline, Task};
pub use spec::{ExternalInitiator, JobSpec, JobType, Schedule};
pub use task_type::{COMMON_ATTRIBUTES, TaskType};
