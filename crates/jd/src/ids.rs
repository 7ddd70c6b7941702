//! Server-made identifiers: a readable prefix and a time-sortable ULID, never UUID-shaped,
//! so a job id is never mistaken for the job's uuid.

use std::sync::{Mutex, PoisonError};

/// Monotonic within the process: ids made in the same millisecond still sort in the order
/// they were made, so "creation time, then id" is creation order.
static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

fn prefixed(prefix: &str) -> String {
    let next = GENERATOR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .generate();
    // `generate` fails only when 2^80 ids were made in one millisecond; a random one is
    // then still unique, merely unordered.
    let ulid = next.unwrap_or_else(|_| ulid::Ulid::new());
    format!("{prefix}_{}", ulid.to_string().to_ascii_lowercase())
}

/// A new node id (`node_…`).
pub fn node_id() -> String {
    prefixed("node")
}

/// A new job id (`job_…`).
pub fn job_id() -> String {
    prefixed("job")
}

/// A new proposal id (`prop_…`).
pub fn proposal_id() -> String {
    prefixed("prop")
}

/// A new id of a call waiting for a node (`fwd_…`).
pub fn forward_id() -> String {
    prefixed("fwd")
}

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_are_unique() {
        let a = job_id();
        let b = job_id();
        assert!(a.starts_with("job_") && b.starts_with("job_"));
        assert_ne!(a, b);
        assert!(node_id().starts_with("node_"));
        assert!(proposal_id().starts_with("prop_"));
        assert!(
            uuid::Uuid::parse_str(&a[4..]).is_err(),
            "must not look like a UUID"
        );
    }

    #[test]
    fn ids_sort_in_the_order_they_were_made() {
        // Regression: random ULIDs within one millisecond made listing order flaky.
        let ids: Vec<String> = (0..1000).map(|_| node_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
