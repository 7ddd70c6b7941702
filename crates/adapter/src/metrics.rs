//! Prometheus metrics, served at `GET /metrics` on their own port (`METRICS_PORT`).
//!
//! Each adapter owns its own [`PrometheusRecorder`] instead of installing a process-global
//! one: several adapters in one process (tests, embedding programs) then never mix or
//! clobber each other's series, and nothing depends on who installed a recorder first.
//! Every series carries the label `adapter="<name>"`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ea_requests_total` | counter | `endpoint`, `status` |
//! | `ea_request_duration_seconds` | histogram | `endpoint` |
//! | `ea_upstream_duration_seconds` | histogram | — (one sample per attempt) |
//! | `ea_upstream_responses_total` | counter | `class`: `2xx`…`5xx`, `timeout`, `unreachable`, `error` |
//! | `ea_cache_hits_total`, `ea_cache_misses_total` | counter | `cache_type`: `local`, `redis`, `none` |
//! | `ea_rate_limit_queue_size` | gauge | — (sampled at scrape time) |
//! | `ea_async_answers_in_flight` | gauge | — (sampled at scrape time) |
//!
//! `endpoint` is the canonical endpoint name, or `unknown` when the request named no
//! endpoint this adapter has (or could not be read): the name a client sent is never a
//! label value, so clients cannot grow the number of series.
//!
//! Recording is cheap: handles for the usual statuses and every endpoint are registered at
//! start-up, so a request only bumps atomics; label strings are never built per request.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusRecorder};

use crate::error::AdapterError;

/// Histogram buckets in seconds: from a cached answer (sub-millisecond) to `API_TIMEOUT`.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Statuses the framework answers with; others are registered when first seen.
const KNOWN_STATUSES: &[u16] = &[200, 400, 404, 405, 413, 429, 500, 502, 504];

/// Histogram samples pile up in the recorder until drained; scrapes drain them, and this
/// bounds the memory when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The `endpoint` label of requests that matched no endpoint.
pub const UNKNOWN_ENDPOINT: &str = "unknown";

/// Why the metrics registry could not be built.
#[derive(Debug, thiserror::Error)]
#[error("could not set up metrics: {0}")]
pub struct MetricsError(#[from] BuildError);

/// One adapter's metrics registry and the handles the server records with.
pub(crate) struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    unknown: EndpointMetrics,
    pub(crate) upstream: Arc<UpstreamMetrics>,
    pub(crate) cache_hit: Counter,
    pub(crate) cache_miss: Counter,
    rate_limit_queue: Gauge,
    async_in_flight: Gauge,
    upkeep: Option<tokio::task::AbortHandle>,
}

impl Drop for Metrics {
    fn drop(&mut self) {
        if let Some(upkeep) = &self.upkeep {
            upkeep.abort();
        }
    }
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

fn register_counter(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: Vec<Label>,
) -> Counter {
    recorder.register_counter(&Key::from_parts(name, labels), &metadata())
}

impl Metrics {
    /// A registry whose series all carry `adapter="<adapter>"`; `cache_type` labels the
    /// cache counters.
    pub(crate) fn new(adapter: &str, cache_type: &'static str) -> Result<Self, MetricsError> {
        let recorder = PrometheusBuilder::new()
            .add_global_label("adapter", adapter)
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS)?
            .build_recorder();
        describe(&recorder);
        let recorder = Arc::new(recorder);
        let cache_label = || vec![Label::from_static_parts("cache_type", cache_type)];
        let upkeep = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let handle = recorder.handle();
            runtime
                .spawn(async move {
                    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
                    loop {
                        tick.tick().await;
                        handle.run_upkeep();
                    }
                })
                .abort_handle()
        });
        Ok(Self {
            unknown: EndpointMetrics::new(&recorder, SharedString::const_str(UNKNOWN_ENDPOINT)),
            upstream: Arc::new(UpstreamMetrics::new(&recorder)),
            cache_hit: register_counter(&recorder, "ea_cache_hits_total", cache_label()),
            cache_miss: register_counter(&recorder, "ea_cache_misses_total", cache_label()),
            rate_limit_queue: recorder.register_gauge(
                &Key::from_static_name("ea_rate_limit_queue_size"),
                &metadata(),
            ),
            async_in_flight: recorder.register_gauge(
                &Key::from_static_name("ea_async_answers_in_flight"),
                &metadata(),
            ),
            recorder,
            upkeep,
        })
    }

    /// Handles for one endpoint, registered now so requests only bump atomics.
    pub(crate) fn endpoint(&self, canonical: &str) -> EndpointMetrics {
        EndpointMetrics::new(&self.recorder, SharedString::from(canonical.to_owned()))
    }

    /// Handles for requests that matched no endpoint.
    pub(crate) fn unknown_endpoint(&self) -> &EndpointMetrics {
        &self.unknown
    }

    /// The exposition text, after sampling the gauges that are read rather than recorded.
    pub(crate) fn render(&self, rate_limit_queue: usize, async_in_flight: usize) -> String {
        // Precision loss above 2^53 queued requests is not a concern.
        self.rate_limit_queue.set(rate_limit_queue as f64);
        self.async_in_flight.set(async_in_flight as f64);
        self.recorder.handle().render()
    }
}

fn describe(recorder: &PrometheusRecorder) {
    let counters = [
        (
            "ea_requests_total",
            "Requests answered, by endpoint and HTTP status.",
        ),
        (
            "ea_upstream_responses_total",
            "Upstream attempts, by outcome class.",
        ),
        (
            "ea_cache_hits_total",
            "Requests answered without their own upstream call.",
        ),
        (
            "ea_cache_misses_total",
            "Requests that ran an upstream call.",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), None, help.into());
    }
    let histograms = [
        (
            "ea_request_duration_seconds",
            "Time to answer a request, by endpoint.",
        ),
        (
            "ea_upstream_duration_seconds",
            "Time of one upstream attempt.",
        ),
    ];
    for (name, help) in histograms {
        recorder.describe_histogram(name.into(), Some(Unit::Seconds), help.into());
    }
    recorder.describe_gauge(
        "ea_rate_limit_queue_size".into(),
        None,
        "Requests waiting for a rate-limit permit.".into(),
    );
    recorder.describe_gauge(
        "ea_async_answers_in_flight".into(),
        None,
        "Answers owed to nodes by PATCH that are not yet delivered.".into(),
    );
}

/// Request handles for one endpoint.
pub(crate) struct EndpointMetrics {
    endpoint: SharedString,
    by_status: Vec<(u16, Counter)>,
    duration: Histogram,
    recorder: Arc<PrometheusRecorder>,
}

impl EndpointMetrics {
    fn new(recorder: &Arc<PrometheusRecorder>, endpoint: SharedString) -> Self {
        let by_status = KNOWN_STATUSES
            .iter()
            .map(|&status| (status, requests_counter(recorder, &endpoint, status)))
            .collect();
        let duration = recorder.register_histogram(
            &Key::from_parts(
                "ea_request_duration_seconds",
                vec![Label::new("endpoint", endpoint.clone())],
            ),
            &metadata(),
        );
        Self {
            endpoint,
            by_status,
            duration,
            recorder: recorder.clone(),
        }
    }

    /// Counts one answered request.
    pub(crate) fn record(&self, status: u16, elapsed: Duration) {
        match self.by_status.iter().find(|(known, _)| *known == status) {
            Some((_, counter)) => counter.increment(1),
            // Rare: the recorder deduplicates the series, so this only costs a lookup.
            None => requests_counter(&self.recorder, &self.endpoint, status).increment(1),
        }
        self.duration.record(elapsed.as_secs_f64());
    }
}

fn requests_counter(
    recorder: &PrometheusRecorder,
    endpoint: &SharedString,
    status: u16,
) -> Counter {
    register_counter(
        recorder,
        "ea_requests_total",
        vec![
            Label::new("endpoint", endpoint.clone()),
            Label::new("status", status.to_string()),
        ],
    )
}

/// Handles for upstream calls, shared with every endpoint through the
/// [`Context`](crate::Context).
pub(crate) struct UpstreamMetrics {
    duration: Histogram,
    classes: [Counter; 8],
}

/// Outcome classes of one upstream attempt, in the order of `UpstreamMetrics::classes`.
const CLASSES: [&str; 8] = [
    "1xx",
    "2xx",
    "3xx",
    "4xx",
    "5xx",
    "timeout",
    "unreachable",
    "error",
];

impl std::fmt::Debug for UpstreamMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamMetrics")
    }
}

impl UpstreamMetrics {
    fn new(recorder: &PrometheusRecorder) -> Self {
        let duration = recorder.register_histogram(
            &Key::from_static_name("ea_upstream_duration_seconds"),
            &metadata(),
        );
        let classes = CLASSES.map(|class| {
            register_counter(
                recorder,
                "ea_upstream_responses_total",
                vec![Label::from_static_parts("class", class)],
            )
        });
        Self { duration, classes }
    }

    /// Counts one upstream attempt that took `elapsed`.
    pub(crate) fn record<T>(&self, outcome: &Result<T, AdapterError>, elapsed: Duration) {
        self.duration.record(elapsed.as_secs_f64());
        self.classes[class_index(outcome)].increment(1);
    }
}

fn class_index<T>(outcome: &Result<T, AdapterError>) -> usize {
    match outcome {
        Ok(_) => 1,
        Err(AdapterError::Provider {
            provider_status_code: Some(status),
            ..
        }) => match status / 100 {
            1 => 0,
            2 => 1,
            3 => 2,
            4 => 3,
            5 => 4,
            _ => 7,
        },
        // A 2xx whose body is not JSON.
        Err(AdapterError::Provider {
            provider_status_code: None,
            ..
        }) => 1,
        Err(AdapterError::Timeout(_)) => 5,
        Err(AdapterError::Connection(_)) => 6,
        Err(_) => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(status: Option<u16>) -> Result<(), AdapterError> {
        Err(AdapterError::Provider {
            provider_status_code: status,
            message: String::new(),
        })
    }

    #[test]
    fn upstream_classes() {
        assert_eq!(CLASSES[class_index(&Ok::<(), AdapterError>(()))], "2xx");
        assert_eq!(CLASSES[class_index(&provider(Some(404)))], "4xx");
        assert_eq!(CLASSES[class_index(&provider(Some(503)))], "5xx");
        assert_eq!(CLASSES[class_index(&provider(None))], "2xx");
        assert_eq!(
            CLASSES[class_index::<()>(&Err(AdapterError::Timeout(String::new())))],
            "timeout"
        );
        assert_eq!(
            CLASSES[class_index::<()>(&Err(AdapterError::Connection(String::new())))],
            "unreachable"
        );
    }

    #[tokio::test]
    async fn registries_are_separate_and_labelled() {
        let first = Metrics::new("first", "local").expect("metrics");
        let second = Metrics::new("second", "none").expect("metrics");
        first
            .endpoint("price")
            .record(200, Duration::from_millis(3));
        first
            .unknown_endpoint()
            .record(418, Duration::from_millis(1));
        let text = first.render(2, 0);
        assert!(
            text.contains(r#"ea_requests_total{adapter="first",endpoint="price",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ea_requests_total{adapter="first",endpoint="unknown",status="418"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"ea_rate_limit_queue_size{adapter="first"} 2"#),
            "{text}"
        );
        let other = second.render(0, 0);
        assert!(
            !other.contains(r#"endpoint="price",status="200"} 1"#),
            "{other}"
        );
        assert!(other.contains(r#"cache_type="none""#), "{other}");
    }
}
