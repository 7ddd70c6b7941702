//! A cron job's schedule: each tick starts a run in its own task, so a slow run never
//! delays the next tick; missed ticks (node down) are not replayed (§7.2).

use std::sync::Arc;
use std::time::SystemTime;

use offchain_pipeline::run::Trigger;
use offchain_pipeline::spec::Schedule;

use super::{Job, Jobs};

/// Runs `job` on `schedule` until aborted (the job stopped).
pub(super) async fn ticks(jobs: Jobs, job: Arc<Job>, schedule: Schedule) {
    let mut last = SystemTime::now();
    loop {
        // From the later of now and the last tick: a timer that fires a hair early must not
        // find the same tick again.
        let now = SystemTime::now().max(last);
        let Some(next) = schedule.next_after(now) else {
            tracing::warn!(job = %job.uuid, "the schedule has no next tick: the job stops ticking");
            return;
        };
        let wait = next.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::sleep(wait).await;
        last = next;
        let (jobs, job) = (jobs.clone(), job.clone());
        tokio::spawn(async move {
            if let Err(error) = jobs.execute(&job, Trigger::Cron).await {
                tracing::error!(job = %job.uuid, %error, "a cron run failed to be stored");
            }
        });
    }
}
