//! Small shared pieces: unique names, job specs, and the bounded polling every wait uses.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a wait may take before the test fails: far above what each step needs.
pub const LIMIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(25);

/// A number unique within this process.
pub fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A job UUID unique within this process (each test has its own JD and nodes anyway).
pub fn job_uuid() -> String {
    format!(
        "{:08x}-0e2e-4000-8000-{:012x}",
        std::process::id(),
        unique()
    )
}

/// A job spec of `job_type` whose `externalJobID` is `uuid`.
pub fn spec(job_type: &str, uuid: &str) -> String {
    format!(
        "type = \"{job_type}\"\nschemaVersion = 1\nname = \"e2e\"\nexternalJobID = \"{uuid}\"\n"
    )
}

/// Polls `probe` until it returns `Some`, failing the test after [`LIMIT`] with `what` and
/// the last value seen.
pub async fn eventually<T, S, F, Fut>(what: &str, mut probe: F) -> T
where
    S: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => {
                panic!("waited {LIMIT:?} for {what}; last seen: {seen:?}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
