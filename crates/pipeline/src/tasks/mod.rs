//! The pure tasks (spec §4): every task that needs no I/O, as a function of its attributes,
//! the run variables and its explicit-edge inputs (all reached through a [`Resolver`]).
//!
//! The runner ([`crate::run`]) resolves a task's type to a [`PureTask`], builds a [`Resolver`] over the task's
//! attributes, the run's [`Vars`](crate::value::Vars) and the task's inputs (ordered as §3.6
//! says, failed ones as [`Value::Error`] markers), and calls [`PureTask::run`]. Error texts
//! are the reference's.
//!
//! - [`parse`]: the `jsonparse` task;
//! - [`math`]: `multiply`, `divide`, `lessthan`;
//! - [`aggregate`]: `sum`, `mean`, `median`, `mode`, `any`;
//! - [`text`]: `length`, `lowercase`, `uppercase`, `hexencode`, `hexdecode`, `base64encode`,
//!   `base64decode`;
//! - [`object`]: `lookup`, `conditional`, `merge`, `memo`.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use offchain_pipeline::TaskType;
//! use offchain_pipeline::tasks::{PureTask, StdRandom};
//! use offchain_pipeline::value::render::to_json;
//! use offchain_pipeline::value::{Resolver, Value, Vars};
//!
//! // ds1 [type=bridge ...] -> ds1_parse [type=jsonparse path="data,price"]
//! //                       -> ds1_multiply [type=multiply times=1e18]
//! let mut vars = Vars::new();
//! let body = Value::string(r#"{"data": {"price": 12345.678}}"#);
//! vars.set_output("ds1", body.clone());
//!
//! let parse = PureTask::from_type("jsonparse").unwrap();
//! let attrs = BTreeMap::from([("path".to_owned(), "data,price".to_owned())]);
//! let price = parse.run(&Resolver::new(&attrs, &vars, &[body]), &StdRandom).unwrap();
//! vars.set_output("ds1_parse", price.clone());
//!
//! let attrs = BTreeMap::from([("times".to_owned(), "1e18".to_owned())]);
//! let multiply = TaskType::Multiply.pure().unwrap();
//! let scaled = multiply
//!     .run(&Resolver::new(&attrs, &vars, &[price]), &StdRandom)
//!     .unwrap();
//! assert_eq!(to_json(&scaled), r#""12345678000000000000000""#);
//!
//! // A failed input is an error marker; tasks that do not tolerate it say so.
//! let failed = [Value::Error("boom".into())];
//! let err = multiply.run(&Resolver::new(&attrs, &vars, &failed), &StdRandom);
//! assert_eq!(err.unwrap_err().to_string(), "task inputs: too many errors");
//! ```

pub mod aggregate;
pub mod math;
pub mod object;
pub mod parse;
pub mod text;

use std::fmt::Display;

use crate::task_type::TaskType;
use crate::value::{ConvertError, Resolver, Source, Value};

/// A task's failure; the text is what the run stores and shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TaskError(pub String);

impl TaskError {
    /// An error text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// The random choice `any` makes; a trait so that tests can fix it.
pub trait Random: Send + Sync {
    /// A uniformly chosen index in `0..n` (`n` ≥ 1).
    fn pick(&self, n: usize) -> usize;
}

/// Randomness from the standard library's per-process random hash keys (no extra crate;
/// `any` needs a fair pick, not cryptographic strength).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdRandom;

impl Random for StdRandom {
    fn pick(&self, n: usize) -> usize {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(n);
        (hasher.finish() % n.max(1) as u64) as usize
    }
}

/// Always the same index (modulo the count): deterministic `any` for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedPick(pub usize);

impl Random for FixedPick {
    fn pick(&self, n: usize) -> usize {
        self.0 % n.max(1)
    }
}

/// A task that needs no I/O: a [`TaskType`] other than `http` and `bridge`, obtained from
/// [`TaskType::pure`]. Names, attributes and error tolerance live on [`TaskType`] alone, so
/// the parser and the tasks cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PureTask(TaskType);

impl TaskType {
    /// The task as a pure task, unless it does I/O (`http`, `bridge`).
    pub fn pure(self) -> Option<PureTask> {
        match self {
            TaskType::Http | TaskType::Bridge => None,
            other => Some(PureTask(other)),
        }
    }
}

impl PureTask {
    /// Every pure task, alphabetically by name.
    pub fn all() -> impl Iterator<Item = PureTask> {
        TaskType::ALL.into_iter().filter_map(TaskType::pure)
    }

    /// The task for a `type` attribute (matched case-insensitively, as the reference
    /// lower-cases it).
    pub fn from_type(name: &str) -> Option<Self> {
        TaskType::from_name(name).and_then(TaskType::pure)
    }

    /// The task type.
    pub fn task_type(self) -> TaskType {
        self.0
    }

    /// The `type` text.
    pub fn type_name(self) -> &'static str {
        self.0.name()
    }

    /// The task's own attributes (the common ones of §5 come on top).
    pub fn attributes(self) -> &'static [&'static str] {
        self.0.parameters()
    }

    /// Whether the task runs (and decides) when some inputs failed: the aggregates and
    /// `any`. Any other task with a failed input fails with `task inputs: too many errors`.
    pub fn tolerates_errored_inputs(self) -> bool {
        self.0.tolerates_errored_inputs()
    }

    /// Runs the task.
    pub fn run(self, r: &Resolver<'_>, random: &dyn Random) -> Result<Value, TaskError> {
        match self.0 {
            TaskType::JsonParse => parse::json_parse(r),
            TaskType::Multiply => math::multiply(r),
            TaskType::Divide => math::divide(r),
            TaskType::LessThan => math::less_than(r),
            TaskType::Sum => aggregate::sum(r),
            TaskType::Mean => aggregate::mean(r),
            TaskType::Median => aggregate::median(r),
            TaskType::Mode => aggregate::mode(r),
            TaskType::Any => aggregate::any(r, random),
            TaskType::Length => text::length(r),
            TaskType::Lowercase => text::lowercase(r),
            TaskType::Uppercase => text::uppercase(r),
            TaskType::HexEncode => text::hex_encode(r),
            TaskType::HexDecode => text::hex_decode(r),
            TaskType::Base64Encode => text::base64_encode(r),
            TaskType::Base64Decode => text::base64_decode(r),
            TaskType::Lookup => object::lookup(r),
            TaskType::Conditional => object::conditional(r),
            TaskType::Merge => object::merge(r),
            TaskType::Memo => object::memo(r),
            // Not constructible (see `TaskType::pure`); the runner sends these to `crate::run`.
            TaskType::Http | TaskType::Bridge => {
                Err(TaskError(format!("{} is not a pure task", self.0)))
            }
        }
    }
}

/// The reference's input check: count within `[min, max]` (−1 = unbounded), then at most
/// `max_errors` failed inputs (−1 = any).
pub(crate) fn check_inputs(
    inputs: &[Value],
    min: i64,
    max: i64,
    max_errors: i64,
) -> Result<(), TaskError> {
    let n = inputs.len() as i64;
    if (min >= 0 && n < min) || (max >= 0 && n > max) {
        return Err(TaskError(format!(
            "task inputs: min: {min} max: {max} (got {n}): wrong number of task inputs"
        )));
    }
    let errors = inputs.iter().filter(|v| v.is_error()).count() as i64;
    if max_errors >= 0 && errors > max_errors {
        return Err(TaskError::new("task inputs: too many errors"));
    }
    Ok(())
}

/// `[0, 1]` inputs, none failed: the check of most single-value tasks.
pub(crate) fn at_most_one_input(r: &Resolver<'_>) -> Result<(), TaskError> {
    check_inputs(r.inputs(), 0, 1, 0)
}

fn named(name: &str, e: impl Display) -> TaskError {
    TaskError(format!("{name}: {e}"))
}

/// A parameter from the first non-absent source; errors prefixed by its name.
pub(crate) fn param(
    r: &Resolver<'_>,
    name: &str,
    sources: &[Source],
) -> Result<Option<Value>, TaskError> {
    r.resolve(name, sources).map_err(|e| named(name, e))
}

/// A required parameter: absent → `NAME: parameter is empty`.
pub(crate) fn required(
    r: &Resolver<'_>,
    name: &str,
    sources: &[Source],
) -> Result<Value, TaskError> {
    param(r, name, sources)?.ok_or_else(|| named(name, "parameter is empty"))
}

/// A required parameter converted by `convert`, errors prefixed by its name.
pub(crate) fn required_as<T>(
    r: &Resolver<'_>,
    name: &str,
    sources: &[Source],
    convert: fn(&Value) -> Result<T, ConvertError>,
) -> Result<T, TaskError> {
    convert(&required(r, name, sources)?).map_err(|e| named(name, e))
}

/// Two parameter results; when both failed, their texts joined by a newline (as the
/// reference combines parameter errors).
pub(crate) fn both<A, B>(
    a: Result<A, TaskError>,
    b: Result<B, TaskError>,
) -> Result<(A, B), TaskError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(x), Err(y)) => Err(TaskError(format!("{}\n{}", x.0, y.0))),
    }
}

/// Fails with every given parameter error, joined by newlines, when there is any.
pub(crate) fn no_errors(results: &[Option<&TaskError>]) -> Result<(), TaskError> {
    let texts: Vec<&str> = results.iter().flatten().map(|e| e.0.as_str()).collect();
    if texts.is_empty() {
        Ok(())
    } else {
        Err(TaskError(texts.join("\n")))
    }
}

/// An optional boolean literal (`lax`), default false.
pub(crate) fn flag(r: &Resolver<'_>, name: &str) -> Result<bool, TaskError> {
    match param(r, name, &[Source::L])? {
        None => Ok(false),
        Some(v) => crate::value::convert::to_bool(&v).map_err(|e| named(name, e)),
    }
}
