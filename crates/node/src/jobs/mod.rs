//! The node's running jobs (issue 10, item 1): every approved, not deleted proposal version
//! whose spec parses is a [`Job`] here, keyed by its externalJobID (the proposal uuid).
//!
//! [`Jobs::reconcile`] makes the running job of one proposal match the store: it is called
//! after every decision that can change the active version — an approval *before*
//! `ApprovedJob` is sent (so the job is runnable the moment the JD shows it approved), the
//! undo of a refused approval, cancel, revoke, delete — and [`Jobs::start_all`] at node
//! start. A newer approved version replaces the job; a cancelled or deleted one stops it.
//!
//! Webhook jobs run on [`Jobs::trigger_webhook`]; cron jobs on their schedule (`cron.rs`),
//! each tick a new run even while an earlier one is still going. Every run is written to
//! the store when it ends ([`crate::runs`]). Runs execute in their own task: a webhook
//! caller that disconnects does not cancel its run.
//!
//! An async bridge task suspends its run; `resume.rs` continues it when the adapter's PATCH
//! comes, or fails it once the task's deadline passed ([`Jobs::sweep`]).

mod cron;
mod resume;

pub use resume::{INTERRUPTED, SWEEP_EVERY, TIMED_OUT};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use offchain_pipeline::run::http_client::{ClientBuildError, ReqwestClient};
use offchain_pipeline::run::{
    Bridge, BridgeLookup, Env, JobVars, MemoryCache, RunConfig, RunInput, RunStatus, Runner,
    TokioClock, Trigger,
};
use offchain_pipeline::tasks::StdRandom;
use offchain_pipeline::{JobSpec, JobType};
use serde::Serialize;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::runs::{Finished, Run, RunsError};
use crate::store::{Store, StoreError, now_micros};

/// Bridges by name; the node's default (no bridges) until a bridge registry is wired in.
pub type Bridges = Arc<dyn BridgeLookup + Send + Sync>;

/// No bridges at all.
pub fn no_bridges() -> Bridges {
    Arc::new(HashMap::<String, Bridge>::new())
}

/// Why a job could not be started or run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] ClientBuildError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run could not be stored.
    #[error(transparent)]
    Runs(#[from] RunsError),
    /// No such webhook job runs here.
    #[error("job does not exist")]
    NotFound,
    /// The run's task ended without a result (it panicked or the node is stopping).
    #[error("the run was interrupted")]
    Interrupted,
}

impl From<sqlx::Error> for JobError {
    fn from(error: sqlx::Error) -> Self {
        JobError::Store(error.into())
    }
}

/// One running job.
#[derive(Debug)]
pub struct Job {
    /// The JD that proposed it (key hex).
    pub jd: String,
    /// Its externalJobID.
    pub uuid: Uuid,
    /// The approved version.
    pub version: i64,
    /// The parsed spec.
    pub spec: JobSpec,
}

/// A job as `GET /v2/jobs` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSummary {
    pub uuid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub job_type: &'static str,
    pub version: i64,
    /// `active`: it runs (a stopped job is not listed).
    pub state: &'static str,
}

struct Active {
    job: Arc<Job>,
    /// The cron schedule's task, aborted when the job stops.
    cron: Option<JoinHandle<()>>,
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(cron) = &self.cron {
            cron.abort();
        }
    }
}

struct Inner {
    store: Store,
    http: ReqwestClient,
    bridges: Bridges,
    cache: MemoryCache,
    config: RunConfig,
    /// The node API's base URL, for async bridge tasks' `responseURL`.
    public_url: String,
    active: Mutex<HashMap<Uuid, Active>>,
    /// Held across a reconcile's read and its change, so two decisions on one proposal
    /// (an approval racing a cancel) cannot apply a stale read after a newer one.
    reconciling: tokio::sync::Mutex<()>,
}

/// The running jobs; cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

impl Jobs {
    /// No jobs yet, over `store`, with the bridges `bridges`; async adapters answer at
    /// `public_url` (`[api] public_url`).
    pub fn new(store: Store, bridges: Bridges, public_url: String) -> Result<Jobs, JobError> {
        Ok(Jobs {
            inner: Arc::new(Inner {
                store,
                http: ReqwestClient::new()?,
                bridges,
                cache: MemoryCache::new(),
                config: RunConfig::default(),
                public_url,
                active: Mutex::new(HashMap::new()),
                reconciling: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Active>> {
        self.inner
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the job of every approved, not deleted proposal (at node start).
    pub async fn start_all(&self) -> Result<(), JobError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT jd, uuid FROM proposals \
             WHERE active_version IS NOT NULL AND deleted_at IS NULL ORDER BY created_at",
        )
        .fetch_all(self.inner.store.pool())
        .await?;
        for (jd, uuid) in rows {
            match Uuid::try_parse(&uuid) {
                Ok(uuid) => self.reconcile(&jd, uuid).await?,
                Err(_) => tracing::error!(%uuid, "stored proposal id is not a UUID"),
            }
        }
        Ok(())
    }

    /// Makes proposal (`jd`, `uuid`)'s running job match the store: its active version
    /// runs (started or replaced), or nothing runs. A spec that does not parse is logged and
    /// not run.
    pub async fn reconcile(&self, jd: &str, uuid: Uuid) -> Result<(), JobError> {
        let _serialized = self.inner.reconciling.lock().await;
        let active: Option<(i64, String)> = sqlx::query_as(
            "SELECT v.version, v.spec FROM proposals p JOIN proposal_versions v \
             ON v.jd = p.jd AND v.uuid = p.uuid AND v.version = p.active_version \
             WHERE p.jd = $1 AND p.uuid = $2 AND p.deleted_at IS NULL",
        )
        .bind(jd)
        .bind(uuid.to_string())
        .fetch_optional(self.inner.store.pool())
        .await?;
        let Some((version, text)) = active else {
            let mut jobs = self.active();
            if jobs.get(&uuid).is_some_and(|a| a.job.jd == jd) {
                jobs.remove(&uuid);
                tracing::info!(%uuid, "job stopped");
            }
            return Ok(());
        };
        if self
            .active()
            .get(&uuid)
            .is_some_and(|a| a.job.jd == jd && a.job.version == version)
        {
            return Ok(());
        }
        let spec = match JobSpec::parse(&text) {
            Ok(spec) => spec,
            Err(error) => {
                tracing::error!(%uuid, version, %error, "the approved spec does not parse: the job does not run");
                self.active().remove(&uuid);
                return Ok(());
            }
        };
        let job = Arc::new(Job {
            jd: jd.to_owned(),
            uuid,
            version,
            spec,
        });
        let cron = match (&job.spec.job_type, &job.spec.schedule) {
            (JobType::Cron, Some(schedule)) => Some(tokio::spawn(cron::ticks(
                self.clone(),
                job.clone(),
                schedule.clone(),
            ))),
            _ => None,
        };
        // Replacing drops the previous version's `Active`, which stops its schedule.
        self.active().insert(uuid, Active { job, cron });
        tracing::info!(%uuid, version, "job started");
        Ok(())
    }

    /// The running jobs, by uuid.
    pub fn list(&self) -> Vec<JobSummary> {
        let mut jobs: Vec<JobSummary> = self
            .active()
            .values()
            .map(|a| JobSummary {
                uuid: a.job.uuid.to_string(),
                name: a.job.spec.name.clone(),
                job_type: match a.job.spec.job_type {
                    JobType::Webhook => "webhook",
                    JobType::Cron => "cron",
                },
                version: a.job.version,
                state: "active",
            })
            .collect();
        jobs.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        jobs
    }

    /// The running job `uuid`, if any.
    pub fn get(&self, uuid: Uuid) -> Option<Arc<Job>> {
        self.active().get(&uuid).map(|a| a.job.clone())
    }

    /// Runs webhook job `uuid` with `body` as `$(jobRun.requestBody)`; answers the stored
    /// run once it ended or suspended.
    pub async fn trigger_webhook(&self, uuid: Uuid, body: String) -> Result<Run, JobError> {
        let job = self
            .get(uuid)
            .filter(|job| job.spec.job_type == JobType::Webhook)
            .ok_or(JobError::NotFound)?;
        let trigger = Trigger::Webhook {
            request_body: body,
            meta: serde_json::Value::Null,
        };
        let jobs = self.clone();
        tokio::spawn(async move { jobs.execute(&job, trigger).await })
            .await
            .map_err(|_| JobError::Interrupted)?
    }

    /// One run of `job`, stored when it ends.
    async fn execute(&self, job: &Job, trigger: Trigger) -> Result<Run, JobError> {
        let inner = &*self.inner;
        let id = Uuid::new_v4().to_string();
        let input = RunInput {
            run_id: id.clone(),
            job: JobVars::from_spec(&job.spec),
            trigger,
        };
        let minting = resume::Minting::new(inner.bridges.as_ref(), &inner.public_url);
        let env = Env {
            http: &inner.http,
            bridges: &minting,
            cache: &inner.cache,
            clock: &TokioClock,
            random: &StdRandom,
            config: &inner.config,
        };
        let created_at = now_micros();
        let result = Runner::for_job(&job.spec).run(input.clone(), &env).await;
        let job_id = job.uuid.to_string();
        let suspensions = if result.state == RunStatus::Suspended {
            minting.suspensions(&job.spec, &result, inner.config.run_timeout, created_at)
        } else {
            Vec::new()
        };
        let run = inner
            .store
            .insert_run(&Finished {
                id: &id,
                job: &job_id,
                input: &input,
                result: &result,
                created_at,
                finished_at: now_micros(),
                suspensions: &suspensions,
            })
            .await?;
        tracing::debug!(job = %job.uuid, run = %id, state = %run.state, "run ended");
        Ok(run)
    }

    /// Stops every job (node shutdown); runs already going finish on their own.
    pub fn stop_all(&self) {
        self.active().clear();
    }
}
