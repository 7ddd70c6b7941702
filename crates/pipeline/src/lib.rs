//! `offchain-pipeline`: the pipeline engine a node runs for webhook and cron jobs
//! (`shared/spec/pipeline.md`). No I/O of its own.
//!
//! Modules:
//! - [`value`]: the values tasks exchange, exact decimals, JSON reading and rendering, run
//!   variables and how a task attribute gets its value (spec §3);
//! - [`tasks`]: the pure tasks (`jsonparse`, `multiply`, `median`, …; spec §4) as functions
//!   over a task's attributes, the run variables and its inputs.

pub mod tasks;
pub mod value;
