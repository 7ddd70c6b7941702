//! The Job Distributor's input limits, in one place so the JD and its clients agree.
//!
//! The dry-run client ([`crate::DryRunClient`]) refuses what exceeds them before anything is
//! sent; the JD refuses the same with the same codes. Each check answers the gRPC status the
//! JD answers: `RESOURCE_EXHAUSTED` for the size of a spec or a batch (what makes a request
//! big), `INVALID_ARGUMENT` for labels and names.

use offchain_proto::label::Label;
use tonic::Status;

/// Most labels one node or job may carry.
pub const MAX_LABELS: usize = 64;
/// Longest label key, in bytes.
pub const MAX_LABEL_KEY_BYTES: usize = 255;
/// Longest label value, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 1024;
/// Longest node name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Largest job spec, in bytes (1 MiB).
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;
/// Most node ids one `BatchProposeJob` may carry.
pub const MAX_BATCH_NODES: usize = 10_000;
/// Most bytes one `BatchProposeJob` may ask the JD to store: node ids × spec bytes (64 MiB).
pub const MAX_BATCH_SPEC_BYTES: usize = 64 * 1024 * 1024;

/// Labels: at most [`MAX_LABELS`], each with a non-empty key of at most
/// [`MAX_LABEL_KEY_BYTES`] and a value of at most [`MAX_LABEL_VALUE_BYTES`]
/// (`INVALID_ARGUMENT`).
pub fn check_labels(labels: &[Label]) -> Result<(), Status> {
    if labels.len() > MAX_LABELS {
        return Err(Status::invalid_argument(format!(
            "{} labels given; at most {MAX_LABELS} are allowed",
            labels.len()
        )));
    }
    for (i, label) in labels.iter().enumerate() {
        let number = i + 1;
        if label.key.trim().is_empty() {
            return Err(Status::invalid_argument(format!(
                "label {number} has an empty key"
            )));
        }
        if label.key.len() > MAX_LABEL_KEY_BYTES {
            return Err(Status::invalid_argument(format!(
                "label {number} has a key of {} bytes; at most {MAX_LABEL_KEY_BYTES} are allowed",
                label.key.len()
            )));
        }
        let value_bytes = label.value.as_deref().map_or(0, str::len);
        if value_bytes > MAX_LABEL_VALUE_BYTES {
            return Err(Status::invalid_argument(format!(
                "label {number} has a value of {value_bytes} bytes; at most \
                 {MAX_LABEL_VALUE_BYTES} are allowed"
            )));
        }
    }
    Ok(())
}

/// A node name of at most [`MAX_NAME_BYTES`] (`INVALID_ARGUMENT`).
pub fn check_name(name: &str) -> Result<(), Status> {
    if name.len() > MAX_NAME_BYTES {
        return Err(Status::invalid_argument(format!(
            "name has {} bytes; at most {MAX_NAME_BYTES} are allowed",
            name.len()
        )));
    }
    Ok(())
}

/// A spec of at most [`MAX_SPEC_BYTES`] (`RESOURCE_EXHAUSTED`).
pub fn check_spec_size(spec: &str) -> Result<(), Status> {
    if spec.len() > MAX_SPEC_BYTES {
        return Err(Status::resource_exhausted(format!(
            "the spec has {} bytes; at most {MAX_SPEC_BYTES} are allowed",
            spec.len()
        )));
    }
    Ok(())
}

/// A batch of at most [`MAX_BATCH_NODES`] node ids whose ids × spec bytes stay within
/// [`MAX_BATCH_SPEC_BYTES`] (`RESOURCE_EXHAUSTED`).
pub fn check_batch(node_ids: usize, spec_bytes: usize) -> Result<(), Status> {
    if node_ids > MAX_BATCH_NODES {
        return Err(Status::resource_exhausted(format!(
            "{node_ids} node ids given; at most {MAX_BATCH_NODES} are allowed per batch \
             (split it into several calls)"
        )));
    }
    let total = node_ids.saturating_mul(spec_bytes);
    if total > MAX_BATCH_SPEC_BYTES {
        return Err(Status::resource_exhausted(format!(
            "{node_ids} node ids × {spec_bytes} spec bytes is {total} bytes; at most \
             {MAX_BATCH_SPEC_BYTES} are allowed per batch (split it into several calls)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn limits_are_inclusive_and_answer_the_documented_codes() {
        let label = |key: usize, value: usize| Label::new("k".repeat(key), "v".repeat(value));
        assert!(check_labels(&vec![label(1, 1); MAX_LABELS]).is_ok());
        assert!(check_labels(&[label(MAX_LABEL_KEY_BYTES, MAX_LABEL_VALUE_BYTES)]).is_ok());
        for bad in [
            vec![label(1, 1); MAX_LABELS + 1],
            vec![label(MAX_LABEL_KEY_BYTES + 1, 1)],
            vec![label(1, MAX_LABEL_VALUE_BYTES + 1)],
            vec![label(0, 1)],
        ] {
            assert_eq!(
                check_labels(&bad).unwrap_err().code(),
                Code::InvalidArgument
            );
        }
        assert!(check_name(&"n".repeat(MAX_NAME_BYTES)).is_ok());
        assert_eq!(
            check_name(&"n".repeat(MAX_NAME_BYTES + 1))
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
        assert!(check_spec_size(&"s".repeat(MAX_SPEC_BYTES)).is_ok());
        assert_eq!(
            check_spec_size(&"s".repeat(MAX_SPEC_BYTES + 1))
                .unwrap_err()
                .code(),
            Code::ResourceExhausted
        );
        assert!(check_batch(MAX_BATCH_NODES, MAX_BATCH_SPEC_BYTES / MAX_BATCH_NODES).is_ok());
        assert!(check_batch(MAX_BATCH_NODES + 1, 1).is_err());
        assert!(check_batch(2, MAX_BATCH_SPEC_BYTES / 2 + 1).is_err());
        assert!(check_batch(usize::MAX, usize::MAX).is_err());
    }
}
