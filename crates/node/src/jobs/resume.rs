//! Async bridge tasks (issue 10, item 3; bridge.md §4): each async call gets a fresh random
//! task run uuid in its `responseURL` (`<public_url>/v2/resume/<uuid>`), stored with the
//! suspended run; a PATCH (or the timeout sweep) claims the run, continues it with
//! [`Runner::resume`] and writes the result back.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use offchain_bridge::request::resume_url;
use offchain_pipeline::JobSpec;
use offchain_pipeline::run::{
    Bridge, BridgeLookup, Env, RunResult, RunState, RunStatus, Runner, TokioClock,
};
use offchain_pipeline::tasks::StdRandom;
use uuid::Uuid;

use super::{JobError, Jobs};
use crate::runs::{Claimed, Run, Suspension, Waiting};
use crate::store::now_micros;

/// The error a task gets when its answer did not come in time.
pub const TIMED_OUT: &str = "timed out waiting for the async bridge's answer";

/// The error of a run whose resumption the node's stop interrupted.
pub const INTERRUPTED: &str = "the node stopped while resuming this run";

/// How often the sweep looks for suspended tasks past their deadline.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// One run's view of the bridges: it mints the uuid of every async call's `responseURL`.
pub(super) struct Minting<'a> {
    bridges: &'a dyn BridgeLookup,
    base: &'a str,
    /// (task, uuid, bridge called) per async call.
    minted: Mutex<Vec<(String, Uuid, String)>>,
    /// The bridge name last looked up: a bridge task looks its bridge up and asks for the
    /// `responseURL` in one synchronous step, so this is the bridge of the next mint.
    looked_up: Mutex<String>,
}

impl<'a> Minting<'a> {
    pub(super) fn new(bridges: &'a dyn BridgeLookup, base: &'a str) -> Self {
        Minting {
            bridges,
            base,
            minted: Mutex::new(Vec::new()),
            looked_up: Mutex::new(String::new()),
        }
    }

    /// The waiting tasks of `result` this run called, with their deadlines: the earliest of
    /// the task's `timeout`, the job's `maxTaskDuration` (from now) and the run limit (from
    /// `created_at`).
    pub(super) fn suspensions(
        &self,
        spec: &JobSpec,
        result: &RunResult,
        run_limit: Option<Duration>,
        created_at: i64,
    ) -> Vec<Suspension> {
        let minted = self.minted.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now_micros();
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        result
            .tasks
            .iter()
            .filter(|t| t.suspended)
            .filter_map(|t| {
                let (_, uuid, bridge) = minted.iter().rev().find(|(name, _, _)| *name == t.name)?;
                let task = spec.pipeline.task(&t.name).map(|(_, task)| task);
                let timeout = task.and_then(|task| task.common.timeout);
                let deadline = [timeout, spec.max_task_duration]
                    .into_iter()
                    .flatten()
                    .filter(|d| !d.is_zero())
                    .map(|d| now.saturating_add(micros(d)))
                    .chain(run_limit.map(|d| created_at.saturating_add(micros(d))))
                    .min()
                    .unwrap_or(i64::MAX);
                Some(Suspension {
                    task_uuid: *uuid,
                    task: t.name.clone(),
                    bridge: bridge.clone(),
                    deadline,
                })
            })
            .collect()
    }
}

impl BridgeLookup for Minting<'_> {
    fn bridge(&self, name: &str) -> Option<Bridge> {
        *self
            .looked_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = name.to_ascii_lowercase();
        self.bridges.bridge(name)
    }

    fn response_url(&self, _run_id: &str, task: &str) -> Option<String> {
        let uuid = Uuid::new_v4();
        let bridge = self
            .looked_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.minted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((task.to_owned(), uuid, bridge));
        Some(resume_url(self.base, uuid))
    }
}

/// A claimed run that cannot continue (its job is gone or changed): it ends errored, its
/// waiting tasks failed with `message`.
fn abandoned(state: RunState, message: &str) -> RunResult {
    let tasks = state
        .tasks
        .into_iter()
        .map(|mut t| {
            if t.suspended {
                t.suspended = false;
                t.error = Some(message.to_owned());
            }
            t
        })
        .collect();
    RunResult {
        state: RunStatus::Errored,
        outputs: vec![None],
        errors: vec![Some(message.to_owned())],
        all_errors: vec![message.to_owned()],
        tasks,
        resume: None,
    }
}

impl Jobs {
    /// Gives waiting task `waiting` its answer (a value's JSON text, or an error) and
    /// continues its run. `None` when the task is no longer waiting (answered already).
    pub async fn resume(
        &self,
        waiting: &Waiting,
        answer: Result<String, String>,
    ) -> Result<Option<Run>, JobError> {
        let claimed = self
            .inner
            .store
            .claim_run(&waiting.run_id, Some(waiting.suspension.task_uuid))
            .await?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let answers = vec![(waiting.suspension.task.clone(), answer)];
        self.continue_run(claimed, answers).await.map(Some)
    }

    /// Fails every suspended run with a task past its deadline.
    pub async fn sweep(&self) -> Result<(), JobError> {
        for run_id in self.inner.store.expired_runs(now_micros()).await? {
            let Some(claimed) = self.inner.store.claim_run(&run_id, None).await? else {
                continue;
            };
            let answers = claimed
                .state
                .tasks
                .iter()
                .filter(|t| t.suspended)
                .map(|t| (t.name.clone(), Err(TIMED_OUT.to_owned())))
                .collect();
            let run = self.continue_run(claimed, answers).await?;
            tracing::info!(run = %run.id, state = %run.state, "suspended run timed out");
        }
        Ok(())
    }

    /// Resumes a claimed run with `answers` (one task at a time) and writes it back.
    async fn continue_run(
        &self,
        claimed: Claimed,
        answers: Vec<(String, Result<String, String>)>,
    ) -> Result<Run, JobError> {
        let inner = &*self.inner;
        let job = Uuid::try_parse(&claimed.job)
            .ok()
            .and_then(|uuid| self.get(uuid));
        let Some(job) = job else {
            let result = abandoned(claimed.state.clone(), "the job no longer runs");
            return Ok(inner
                .store
                .update_run(&claimed, &result, &[], now_micros())
                .await?);
        };
        let minting = Minting::new(inner.bridges.as_ref(), &inner.public_url);
        let env = Env {
            http: &inner.http,
            bridges: &minting,
            cache: &inner.cache,
            clock: &TokioClock,
            random: &StdRandom,
            config: &inner.config,
        };
        let runner = Runner::for_job(&job.spec);
        let mut state = claimed.state.clone();
        let mut result = None;
        for (task, answer) in answers {
            match runner.resume(state.clone(), &task, answer, &env).await {
                Ok(next) => {
                    let more = next.resume.clone();
                    result = Some(next);
                    match more {
                        Some(more) => state = more,
                        None => break,
                    }
                }
                Err(error) => {
                    result = Some(abandoned(state.clone(), &error.to_string()));
                    break;
                }
            }
        }
        let result = result.unwrap_or_else(|| abandoned(state, TIMED_OUT));
        let suspensions = if result.state == RunStatus::Suspended {
            minting.suspensions(
                &job.spec,
                &result,
                inner.config.run_timeout,
                claimed.created_at,
            )
        } else {
            Vec::new()
        };
        let run = inner
            .store
            .update_run(&claimed, &result, &suspensions, now_micros())
            .await?;
        tracing::debug!(job = %job.uuid, run = %run.id, state = %run.state, "run resumed");
        Ok(run)
    }
}
