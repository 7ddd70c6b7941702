//! Server-made identifiers: a readable prefix and a time-sortable ULID, never UUID-shaped,
//! so a job id is never mistaken for the job's uuid.

fn prefixed(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
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
}
