//! One run's scheduling loop (spec §6): readiness counting, inline pure tasks, concurrent
//! I/O attempts, retries with backoff, failEarly, suspension and the final result.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::calls::{self, Call, CallContext, CallIo, Outcome};
use super::io::BoxFuture;
use super::{Env, ResumeError, RunResult, RunState, RunStatus, Runner, TaskRun};
use crate::common::CommonAttrs;
use crate::value::json::{Numbers, parse_whole};
use crate::value::render::to_json;
use crate::value::{Resolver, Value, Vars};

const CANCELLED: &str = "task run cancelled (fail early)";

type Attempt<'a> = BoxFuture<'a, (usize, u32, Outcome)>;
type Retry<'a> = BoxFuture<'a, (usize, u32)>;

pub(super) struct Run<'a> {
    runner: &'a Runner<'a>,
    env: &'a Env<'a>,
    input: super::RunInput,
    vars: Vars,
    results: Vec<Option<Result<Value, String>>>,
    records: Vec<Option<TaskRun>>,
    suspended: Vec<bool>,
    /// Upstream tasks (explicit and implicit) still without a result.
    missing: Vec<usize>,
    /// Ready tasks, lowest topological position first (deterministic order).
    ready: BinaryHeap<Reverse<usize>>,
    started: Vec<Option<Instant>>,
    attempts: Vec<u32>,
    calls: Vec<Option<Arc<Call>>>,
    origin: Instant,
    deadline: Option<Instant>,
    cancelled: bool,
}

impl<'a> Run<'a> {
    pub(super) fn new(runner: &'a Runner<'a>, env: &'a Env<'a>, input: super::RunInput) -> Self {
        let n = runner.pipeline.tasks.len();
        let origin = env.clock.now();
        let vars = input.vars();
        let mut run = Self {
            runner,
            env,
            input,
            vars,
            results: vec![None; n],
            records: vec![None; n],
            suspended: vec![false; n],
            missing: vec![0; n],
            ready: BinaryHeap::new(),
            started: vec![None; n],
            attempts: vec![0; n],
            calls: vec![None; n],
            origin,
            deadline: env.config.run_timeout.map(|t| origin + t),
            cancelled: false,
        };
        run.count_missing();
        run
    }

    /// A stored suspended run, its finished tasks' results back in the variables.
    pub(super) fn restore(
        runner: &'a Runner<'a>,
        env: &'a Env<'a>,
        state: RunState,
    ) -> Result<Self, ResumeError> {
        let mut run = Self::new(runner, env, state.input);
        for record in state.tasks {
            let (i, _) = runner
                .pipeline
                .task(&record.name)
                .ok_or_else(|| ResumeError::UnknownTask(record.name.clone()))?;
            if record.suspended {
                run.suspended[i] = true;
            } else {
                let result = match (&record.error, &record.output) {
                    (Some(e), _) => Err(e.clone()),
                    (None, None) => Ok(Value::Null),
                    (None, Some(json)) => Ok(parse_whole(json, Numbers::Exact).map_err(|e| {
                        ResumeError::BadOutput {
                            task: record.name.clone(),
                            error: e.0,
                        }
                    })?),
                };
                run.set_var(i, &result);
                run.results[i] = Some(result);
            }
            run.attempts[i] = record.attempts;
            run.records[i] = Some(record);
        }
        run.count_missing();
        Ok(run)
    }

    /// Recomputes readiness from the results present.
    fn count_missing(&mut self) {
        self.ready.clear();
        for (i, task) in self.runner.pipeline.tasks.iter().enumerate() {
            self.missing[i] = task
                .inputs
                .iter()
                .chain(&task.implicit_deps)
                .filter(|&&u| self.results[u].is_none())
                .count();
            if self.missing[i] == 0 && self.results[i].is_none() && !self.suspended[i] {
                self.ready.push(Reverse(i));
            }
        }
    }

    /// Gives suspended `task` its answer.
    pub(super) fn answer(
        &mut self,
        task: &str,
        answer: Result<String, String>,
    ) -> Result<(), ResumeError> {
        let i = match self.runner.pipeline.task(task) {
            Some((i, _)) if self.suspended[i] => i,
            _ => return Err(ResumeError::NotSuspended(task.to_owned())),
        };
        self.suspended[i] = false;
        self.started[i] = Some(self.env.clock.now());
        self.settle(i, answer.map(Value::String));
        Ok(())
    }

    /// Starts ready tasks: pure ones complete inline, I/O ones become attempts.
    fn next_attempts(&mut self, running: &mut FuturesUnordered<Attempt<'a>>) {
        while !self.cancelled {
            let Some(Reverse(i)) = self.ready.pop() else {
                break;
            };
            if let Some(attempt) = self.start(i) {
                running.push(attempt);
            }
        }
    }

    pub(super) async fn drive(&mut self) {
        let mut running: FuturesUnordered<Attempt<'a>> = FuturesUnordered::new();
        let mut waiting: FuturesUnordered<Retry<'a>> = FuturesUnordered::new();
        loop {
            self.next_attempts(&mut running);
            if self.cancelled {
                waiting.clear(); // §6.2: pending retries are cancelled
            }
            if running.is_empty() && waiting.is_empty() {
                break;
            }
            tokio::select! {
                Some((i, n, outcome)) = running.next(), if !running.is_empty() => {
                    if let Some(retry) = self.attempt_done(i, n, outcome) {
                        waiting.push(retry);
                    }
                }
                Some((i, n)) = waiting.next(), if !waiting.is_empty() => {
                    if !self.cancelled {
                        running.push(self.attempt(i, n));
                    }
                }
                else => break,
            }
        }
    }

    fn start(&mut self, i: usize) -> Option<Attempt<'a>> {
        let task = &self.runner.pipeline.tasks[i];
        self.started[i] = Some(self.env.clock.now());
        let inputs: Vec<Value> = task
            .inputs
            .iter()
            .map(|&u| match &self.results[u] {
                Some(Ok(v)) => v.clone(),
                Some(Err(e)) => Value::Error(e.clone()),
                None => Value::Null, // not reached: a task starts once its inputs are final
            })
            .collect();
        let resolver = Resolver::new(&self.runner.attrs[i], &self.vars, &inputs);
        let prepared = match task.task_type.pure() {
            Some(pure) => {
                let result = pure.run(&resolver, self.env.random).map_err(|e| e.0);
                self.attempts[i] = 1;
                self.settle(i, result);
                return None;
            }
            None => calls::prepare(
                task.task_type,
                &resolver,
                &CallContext {
                    bridges: self.env.bridges,
                    run_id: &self.input.run_id,
                    task_name: &task.name,
                    default_cache_ttl: self.env.config.default_cache_ttl,
                },
            ),
        };
        match prepared {
            Err(e) => {
                self.attempts[i] = 1;
                self.settle(i, Err(e.0));
                None
            }
            Ok(call) => {
                self.calls[i] = Some(Arc::new(call));
                Some(self.attempt(i, 1))
            }
        }
    }

    /// Attempt `n` (1-based) of I/O task `i`.
    fn attempt(&mut self, i: usize, n: u32) -> Attempt<'a> {
        self.attempts[i] = n;
        let deadline = self.attempt_deadline(i);
        let call = self.calls[i].clone();
        let env = self.env;
        let io = CallIo {
            http: env.http,
            cache: env.cache,
            clock: env.clock,
        };
        Box::pin(async move {
            let outcome = match call {
                Some(call) => calls::execute(&call, io, deadline).await,
                None => Outcome::Error("internal error: task has no prepared call".into()),
            };
            (i, n, outcome)
        })
    }

    /// §6.4: the earliest of the run limit, `timeout`, `maxTaskDuration` and the default
    /// HTTP timeout (only when `timeout` is not written at all).
    fn attempt_deadline(&self, i: usize) -> Option<Instant> {
        let common = &self.runner.pipeline.tasks[i].common;
        let now = self.env.clock.now();
        let task_timeout = match common.timeout {
            None => Some(self.env.config.default_http_timeout),
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
        };
        [task_timeout, self.runner.max_task_duration]
            .into_iter()
            .flatten()
            .map(|d| now + d)
            .chain(self.deadline)
            .min()
    }

    /// The end of attempt `n` of task `i`; a retry to wait for, if one is due.
    fn attempt_done(&mut self, i: usize, n: u32, outcome: Outcome) -> Option<Retry<'a>> {
        match outcome {
            Outcome::Value(v) => self.settle(i, Ok(v)),
            Outcome::Pending => {
                self.suspended[i] = true;
                self.records[i] = Some(self.record(i));
            }
            Outcome::Error(e) => {
                let common = &self.runner.pipeline.tasks[i].common;
                let total = common.retries.max(1);
                if common.fail_early || n >= total {
                    self.settle(i, Err(e));
                } else if !self.cancelled {
                    let at = self.env.clock.now() + backoff(common, n);
                    let sleep = self.env.clock.sleep_until(at);
                    return Some(Box::pin(async move {
                        sleep.await;
                        (i, n + 1)
                    }));
                }
                // Cancelled while a retry was due: the task keeps no result (§6.2).
            }
        }
        None
    }

    /// Stores task `i`'s final result and makes its dependents ready; a failed `failEarly`
    /// task cancels the run.
    fn settle(&mut self, i: usize, result: Result<Value, String>) {
        let task = &self.runner.pipeline.tasks[i];
        if result.is_err() && task.common.fail_early {
            self.cancelled = true;
        }
        self.set_var(i, &result);
        self.results[i] = Some(result);
        self.records[i] = Some(self.record(i));
        for &d in &task.dependents {
            self.missing[d] = self.missing[d].saturating_sub(1);
            if self.missing[d] == 0 && self.results[d].is_none() {
                self.ready.push(Reverse(d));
            }
        }
    }

    fn set_var(&mut self, i: usize, result: &Result<Value, String>) {
        let name = &self.runner.pipeline.tasks[i].name;
        match result {
            Ok(v) => self.vars.set_output(name, v.clone()),
            Err(e) => self.vars.set_error(name, e.clone()),
        }
    }

    fn record(&self, i: usize) -> TaskRun {
        let task = &self.runner.pipeline.tasks[i];
        let now = self.env.clock.now();
        let started = self.started[i].unwrap_or(now);
        let (output, error) = match &self.results[i] {
            Some(Ok(v)) => (Some(to_json(v)), None),
            Some(Err(e)) => (None, Some(e.clone())),
            None => (None, None),
        };
        TaskRun {
            name: task.name.clone(),
            task_type: task.task_type.name().to_owned(),
            output,
            error,
            suspended: self.suspended[i],
            attempts: self.attempts[i],
            started: started.saturating_duration_since(self.origin),
            duration: now.saturating_duration_since(started),
        }
    }

    /// §6.3: outputs and errors of the terminal tasks, the state, and the stored form of a
    /// suspended run.
    pub(super) fn finish_run(mut self) -> RunResult {
        let pipeline = self.runner.pipeline;
        if self.cancelled {
            for i in 0..pipeline.tasks.len() {
                if self.results[i].is_none() {
                    self.suspended[i] = false;
                    self.results[i] = Some(Err(CANCELLED.to_owned()));
                    self.records[i] = Some(self.record(i));
                }
            }
        }
        let terminals = pipeline.terminals();
        let mut outputs = Vec::with_capacity(terminals.len());
        let mut errors = Vec::with_capacity(terminals.len());
        for &t in &terminals {
            match &self.results[t] {
                Some(Ok(v)) => {
                    outputs.push(Some(v.clone()));
                    errors.push(None);
                }
                Some(Err(e)) => {
                    outputs.push(None);
                    errors.push(Some(e.clone()));
                }
                None => {
                    outputs.push(None);
                    errors.push(None);
                }
            }
        }
        let all_errors: Vec<String> = self
            .results
            .iter()
            .filter_map(|r| r.as_ref().and_then(|r| r.as_ref().err().cloned()))
            .collect();
        // A pending async bridge keeps the run open even when a terminal already failed:
        // the run is not over until every task has a result (or failEarly ended it).
        let state = if self.cancelled {
            RunStatus::Errored
        } else if self.suspended.iter().any(|&s| s) {
            RunStatus::Suspended
        } else if errors.iter().any(Option::is_some) {
            RunStatus::Errored
        } else {
            RunStatus::Completed
        };
        let tasks: Vec<TaskRun> = self.records.into_iter().flatten().collect();
        let resume = (state == RunStatus::Suspended).then(|| RunState {
            input: self.input,
            tasks: tasks.clone(),
        });
        RunResult {
            state,
            outputs,
            errors,
            all_errors,
            tasks,
            resume,
        }
    }
}

/// §5: the delay before retry `k` (1-based) is `minBackoff × 2^(k−1)` capped at
/// `maxBackoff`; defaults 5 s and 1 min. Quirk: `maxBackoff` counts only when `minBackoff`
/// is set, an unset max then means 10 s, and min ≥ max makes every delay max.
pub(crate) fn backoff(common: &CommonAttrs, k: u32) -> Duration {
    let (min, max) = match common.min_backoff {
        None => (Duration::from_secs(5), Duration::from_secs(60)),
        Some(min) => (min, common.max_backoff.unwrap_or(Duration::from_secs(10))),
    };
    if min >= max {
        return max;
    }
    2u32.checked_pow(k.saturating_sub(1))
        .and_then(|f| min.checked_mul(f))
        .map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(min: Option<u64>, max: Option<u64>) -> CommonAttrs {
        CommonAttrs {
            min_backoff: min.map(Duration::from_secs),
            max_backoff: max.map(Duration::from_secs),
            ..CommonAttrs::default()
        }
    }

    #[test]
    fn backoff_rules_and_quirks() {
        let secs = |c: &CommonAttrs| (1..=6).map(|k| backoff(c, k).as_secs()).collect::<Vec<_>>();
        assert_eq!(secs(&common(None, None)), [5, 10, 20, 40, 60, 60]);
        // max alone is ignored
        assert_eq!(secs(&common(None, Some(7))), [5, 10, 20, 40, 60, 60]);
        // min alone: max becomes 10 s
        assert_eq!(secs(&common(Some(1), None)), [1, 2, 4, 8, 10, 10]);
        assert_eq!(secs(&common(Some(60), None)), [10; 6]);
        assert_eq!(secs(&common(Some(2), Some(30))), [2, 4, 8, 16, 30, 30]);
        assert_eq!(secs(&common(Some(5), Some(5))), [5; 6]);
        assert_eq!(
            backoff(&common(Some(1), Some(100)), 200),
            Duration::from_secs(100)
        );
    }
}
