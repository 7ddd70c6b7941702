//! Pipelines as existing nodes run them: the job spec (TOML), the DOT task graph of its
//! `observationSource`, the values tasks exchange, the tasks and the runner.
//!
//! This crate does no I/O of its own (the `reqwest` feature, off by default, adds the real
//! HTTP client `run::http_client::ReqwestClient` that the CLI and the node share). Parsing is pure: [`JobSpec::parse`] reads a whole
//! spec file and [`Pipeline::parse`] a DOT text alone; every error is a [`SpecError`] with a
//! line and column in the file that was parsed (TOML and DOT alike) and what was expected.
//!
//! ```
//! use offchain_pipeline::{JobSpec, JobType, TaskType};
//!
//! let spec = JobSpec::parse(r#"
//! type = "webhook"
//! schemaVersion = 1
//! name = "eth-usd"
//! observationSource = """
//! fetch [type="bridge" name="coin-market" requestData=<{"data": {"coin": "ETH"}}>]
//! parse [type="jsonparse" path="data,result" data="$(fetch)"]
//! scale [type="multiply" input="$(parse)" times=100]
//! fetch -> parse -> scale
//! """
//! "#).unwrap();
//! assert_eq!(spec.job_type, JobType::Webhook);
//! let names: Vec<_> = spec.pipeline.tasks.iter().map(|t| t.name.as_str()).collect();
//! assert_eq!(names, ["fetch", "parse", "scale"]);
//! assert_eq!(spec.pipeline.tasks[2].task_type, TaskType::Multiply);
//! assert_eq!(spec.pipeline.tasks[2].attr("times").unwrap().value, "100");
//!
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
