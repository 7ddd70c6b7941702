//! The Job Distributor's input limits, repeated here so the JD and its clients agree.
//!
//! The dry-run client ([`crate::DryRunClient`]) refuses what exceeds them before anything is
//! sent, with the JD's status code and the JD's message: `RESOURCE_EXHAUSTED` for a size (a
//! spec over [`MAX_SPEC_BYTES`], a batch's node ids × spec bytes over [`MAX_BATCH_BYTES`]),
//! `INVALID_ARGUMENT` for everything else, counts included. Messages name the field and the
//! limit, e.g. `labels: 65 labels, at most 64`.
//!
//! This crate does not depend on the JD's (unless a provider feature needs it), so the
//! values are written out; a test of the `offchain-tests` crate checks each against
//! `offchain_jd::limits`.

use offchain_proto::label::{Label, Selector};
use tonic::Status;

/// Most labels one node or job may carry.
pub const MAX_LABELS: usize = 64;
/// Longest label key (and selector key), in bytes.
pub const MAX_LABEL_KEY_BYTES: usize = 255;
/// Longest label value, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 1024;
/// Longest node name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest id, uuid or public key in a request or a filter, in bytes.
pub const MAX_ID_BYTES: usize = 255;
/// Largest job spec, in bytes (1 MiB).
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;
/// Most node ids one `BatchProposeJob` may carry.
pub const MAX_BATCH_NODES: usize = 10_000;
/// Most node ids × spec bytes one `BatchProposeJob` may carry (64 MiB): about what its
/// answer carries back.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// The former name of [`MAX_BATCH_BYTES`].
#[deprecated(note = "renamed MAX_BATCH_BYTES, as the JD names it")]
pub const MAX_BATCH_SPEC_BYTES: usize = MAX_BATCH_BYTES;
/// Most selectors in one `ListNodes` or `ListJobs` filter.
pub const MAX_SELECTORS: usize = 64;
/// Longest selector value (an `in` list of many values), in bytes.
pub const MAX_SELECTOR_VALUE_BYTES: usize = 16 * 1024;
/// Most values in one filter list (`ids`, `node_ids`, ...).
pub const MAX_FILTER_VALUES: usize = 10_000;
/// Largest gRPC message the client sends or reads (80 MiB), as large as the JD's server
/// allows: the answer to a maximal `BatchProposeJob` echoes [`MAX_BATCH_BYTES`] of specs
/// plus a few hundred bytes per node, so a 64 MiB limit would refuse to read the answer of
/// a batch the JD has committed.
pub const MAX_MESSAGE_SIZE: usize = 80 * 1024 * 1024;

/// `INVALID_ARGUMENT "<what>: <n> <unit>, at most <max>"` when `n > max`.
fn at_most(what: impl std::fmt::Display, n: usize, unit: &str, max: usize) -> Result<(), Status> {
    if n > max {
        Err(Status::invalid_argument(format!(
            "{what}: {n} {unit}, at most {max}"
        )))
    } else {
        Ok(())
    }
}

/// `RESOURCE_EXHAUSTED "<what>: <bytes> bytes, at most <max>"` when `bytes > max`.
fn too_large(what: &str, bytes: usize, max: usize) -> Result<(), Status> {
    if bytes > max {
        Err(Status::resource_exhausted(format!(
            "{what}: {bytes} bytes, at most {max}"
        )))
    } else {
        Ok(())
    }
}

/// Text of at most `max` bytes without NUL characters (which PostgreSQL cannot store), as
/// the JD checks ids and names (`INVALID_ARGUMENT`).
pub fn check_text(value: &str, what: &str, max: usize) -> Result<(), Status> {
    at_most(what, value.len(), "bytes", max)?;
    if value.contains('\0') {
        return Err(Status::invalid_argument(format!(
            "{what} must not contain NUL characters"
        )));
    }
    Ok(())
}

/// Labels: at most [`MAX_LABELS`], each with a non-empty key of at most
/// [`MAX_LABEL_KEY_BYTES`] and a value of at most [`MAX_LABEL_VALUE_BYTES`]
/// (`INVALID_ARGUMENT`).
pub fn check_labels(labels: &[Label]) -> Result<(), Status> {
    at_most("labels", labels.len(), "labels", MAX_LABELS)?;
    for (i, label) in labels.iter().enumerate() {
        if label.key.trim().is_empty() {
            return Err(Status::invalid_argument(format!(
                "label {} has an empty key",
                i + 1
            )));
        }
        let value = label.value.as_deref();
        key_and_value("labels", i, &label.key, value, MAX_LABEL_VALUE_BYTES)?;
    }
    Ok(())
}

/// The key (at most [`MAX_LABEL_KEY_BYTES`]) and value (at most `max_value`) of entry `i`
/// of `list`, a label or a selector.
fn key_and_value(
    list: &str,
    i: usize,
    key: &str,
    value: Option<&str>,
    max_value: usize,
) -> Result<(), Status> {
    at_most(
        format_args!("{list}[{i}].key"),
        key.len(),
        "bytes",
        MAX_LABEL_KEY_BYTES,
    )?;
    let value_bytes = value.map_or(0, str::len);
    at_most(
        format_args!("{list}[{i}].value"),
        value_bytes,
        "bytes",
        max_value,
    )
}

/// A node name of at most [`MAX_NAME_BYTES`], without NUL (`INVALID_ARGUMENT`).
pub fn check_name(name: &str) -> Result<(), Status> {
    check_text(name, "name", MAX_NAME_BYTES)
}

/// A spec of at most [`MAX_SPEC_BYTES`] (`RESOURCE_EXHAUSTED`).
pub fn check_spec_size(spec: &str) -> Result<(), Status> {
    too_large("spec", spec.len(), MAX_SPEC_BYTES)
}

/// A batch, checked as the JD checks it before anything is written: at most
/// [`MAX_BATCH_NODES`] node ids (`INVALID_ARGUMENT`), a spec of at most [`MAX_SPEC_BYTES`]
/// and node ids × spec bytes of at most [`MAX_BATCH_BYTES`] (`RESOURCE_EXHAUSTED`).
pub fn check_batch(node_ids: usize, spec_bytes: usize) -> Result<(), Status> {
    at_most("node_ids", node_ids, "ids", MAX_BATCH_NODES)?;
    too_large("spec", spec_bytes, MAX_SPEC_BYTES)?;
    let volume = node_ids.saturating_mul(spec_bytes);
    if volume > MAX_BATCH_BYTES {
        return Err(Status::resource_exhausted(format!(
            "node_ids × spec: {node_ids} × {spec_bytes} bytes = {volume} bytes, at most \
             {MAX_BATCH_BYTES}; split the batch"
        )));
    }
    Ok(())
}

/// Selectors: at most [`MAX_SELECTORS`], keys of at most [`MAX_LABEL_KEY_BYTES`] and values
/// of at most [`MAX_SELECTOR_VALUE_BYTES`] (`INVALID_ARGUMENT`).
pub fn check_selectors(selectors: &[Selector]) -> Result<(), Status> {
    at_most("selectors", selectors.len(), "selectors", MAX_SELECTORS)?;
    for (i, selector) in selectors.iter().enumerate() {
        let value = selector.value.as_deref();
        key_and_value(
            "selectors",
            i,
            &selector.key,
            value,
            MAX_SELECTOR_VALUE_BYTES,
        )?;
    }
    Ok(())
}

/// One filter list named `what`: at most [`MAX_FILTER_VALUES`] values, each as
/// [`check_text`] wants with [`MAX_ID_BYTES`] (`INVALID_ARGUMENT`).
pub fn check_filter_values(values: &[String], what: &str) -> Result<(), Status> {
    at_most(what, values.len(), "values", MAX_FILTER_VALUES)?;
    values
        .iter()
        .try_for_each(|value| check_text(value, what, MAX_ID_BYTES))
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
        assert!(check_batch(MAX_BATCH_NODES, MAX_BATCH_BYTES / MAX_BATCH_NODES).is_ok());
        assert!(check_batch(64, MAX_SPEC_BYTES).is_ok());
        let code = |result: Result<(), Status>| result.unwrap_err().code();
        assert_eq!(
            code(check_batch(MAX_BATCH_NODES + 1, 1)),
            Code::InvalidArgument
        );
        assert_eq!(
            code(check_batch(65, MAX_SPEC_BYTES)),
            Code::ResourceExhausted
        );
        assert_eq!(
            code(check_batch(1, MAX_SPEC_BYTES + 1)),
            Code::ResourceExhausted
        );
        assert_eq!(code(check_batch(usize::MAX, 2)), Code::InvalidArgument);
        let selector = |key: usize, value: usize| Selector {
            key: "k".repeat(key),
            op: 0,
            value: Some("v".repeat(value)),
        };
        assert!(
            check_selectors(&[selector(MAX_LABEL_KEY_BYTES, MAX_SELECTOR_VALUE_BYTES)]).is_ok()
        );
        for bad in [
            vec![selector(1, 1); MAX_SELECTORS + 1],
            vec![selector(MAX_LABEL_KEY_BYTES + 1, 1)],
            vec![selector(1, MAX_SELECTOR_VALUE_BYTES + 1)],
        ] {
            assert_eq!(code(check_selectors(&bad)), Code::InvalidArgument);
        }
        let ids = |n: usize, bytes: usize| vec!["i".repeat(bytes); n];
        assert!(check_filter_values(&ids(MAX_FILTER_VALUES, MAX_ID_BYTES), "ids").is_ok());
        assert_eq!(
            check_filter_values(&ids(MAX_FILTER_VALUES + 1, 1), "ids")
                .unwrap_err()
                .message(),
            "ids: 10001 values, at most 10000"
        );
        assert!(check_filter_values(&ids(1, MAX_ID_BYTES + 1), "ids").is_err());
        assert!(check_filter_values(&["a\0".into()], "ids").is_err());
    }
}
