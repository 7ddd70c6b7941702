//! The standard gRPC health service, kept true: `NOT_SERVING` from the moment shutdown
//! starts, and while a background probe cannot reach the database.

use std::sync::Arc;
use std::time::Duration;

use offchain_proto::{EXTENSION_SERVICE_NAMES, SERVICE_NAMES};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::store::Store;

/// How long one probe may take before the database counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the health service reports; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Health {
    reporter: HealthReporter,
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    database_reachable: bool,
    stopping: bool,
}

impl Health {
    /// Reports `SERVING` for the whole server and every operator service.
    pub(super) async fn new(reporter: HealthReporter) -> Self {
        let health = Health {
            reporter,
            state: Arc::new(Mutex::new(State {
                database_reachable: true,
                stopping: false,
            })),
        };
        health.update(|_| {}).await;
        health
    }

    /// From now on the server reports `NOT_SERVING`, whatever the probe finds.
    pub(super) async fn stopping(&self) {
        self.update(|state| state.stopping = true).await;
    }

    /// Changes the state and publishes it. The lock is held while publishing, so a probe
    /// result that races with shutdown can never publish `SERVING` after `stopping`.
    async fn update(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.state.lock().await;
        change(&mut state);
        let status = if state.database_reachable && !state.stopping {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in SERVICE_NAMES
            .iter()
            .chain(&EXTENSION_SERVICE_NAMES)
            .chain(&[""])
        {
            self.reporter.set_service_status(*name, status).await;
        }
    }

    /// Probes the database every `interval` until the task is aborted.
    pub(super) fn spawn_probe(&self, store: Store, interval: Duration) -> JoinHandle<()> {
        let health = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut was_reachable = true;
            loop {
                ticker.tick().await;
                let reachable = match tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await {
                    Ok(Ok(())) => true,
                    Ok(Err(error)) => {
                        if was_reachable {
                            tracing::warn!(%error, "database unreachable: health is NOT_SERVING");
                        }
                        false
                    }
                    Err(_) => {
                        if was_reachable {
                            tracing::warn!(
                                timeout = ?PROBE_TIMEOUT,
                                "database probe timed out: health is NOT_SERVING"
                            );
                        }
                        false
                    }
                };
                if reachable != was_reachable {
                    if reachable {
                        tracing::info!("database reachable again: health is SERVING");
                    }
                    health
                        .update(|state| state.database_reachable = reachable)
                        .await;
                    was_reachable = reachable;
                }
            }
        })
    }
}
