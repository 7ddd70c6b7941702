//! `EA_MODE=writer`: keeps warm what readers are asked for. Every tick the writer reads
//! the parameter sets readers recorded in Redis within the last `CACHE_MAX_AGE` and
//! resolves each as if requested itself: a cache hit costs one Redis read, a miss calls
//! the provider once and stores the answer, a streaming endpoint subscribes (and stays
//! subscribed while readers keep asking), and background refresh tracks it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Map, Value};

use super::state::Shared;
use crate::endpoint::unix_ms;
use crate::protocol::AdapterRequest;

/// Bounds of the pause between two reads of the readers' parameter sets.
const MIN_TICK: Duration = Duration::from_millis(50);
const MAX_TICK: Duration = Duration::from_secs(1);

/// Runs until the adapter is dropped.
pub(super) async fn run(shared: Weak<Shared>, max_age: Duration, limit: usize) {
    let tick = (max_age / 10).clamp(MIN_TICK, MAX_TICK);
    let keep_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::time::sleep(tick).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let since = unix_ms().saturating_sub(keep_ms);
        for route in shared.canonical_routes() {
            for params in shared.cache.interests(&route, since, limit).await {
                let Ok(mut data) = serde_json::from_str::<Map<String, Value>>(&params) else {
                    tracing::warn!(endpoint = %route, "a reader recorded parameters that are not an object");
                    continue;
                };
                data.insert("endpoint".to_owned(), Value::String(route.clone()));
                let request = AdapterRequest {
                    data,
                    ..AdapterRequest::default()
                };
                let owner = shared.clone();
                // Spawned: one slow provider call must not hold up the other parameters.
                tokio::spawn(async move {
                    if let Err(error) = owner.resolve(&request).await {
                        tracing::warn!(%error, "writer could not warm a reader's parameters");
                    }
                });
            }
        }
    }
}

/// Starts the writer task for `shared` when `EA_MODE=writer`.
pub(super) fn start(shared: &Arc<Shared>, config: &crate::config::Config) {
    if config.ea_mode == crate::config::EaMode::Writer {
        let limit = usize::try_from(config.cache_max_items).unwrap_or(usize::MAX);
        tokio::spawn(run(Arc::downgrade(shared), config.cache_max_age, limit));
    }
}
