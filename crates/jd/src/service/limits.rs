//! Bounds on every operator input, checked at the service boundary before any store call,
//! so no request can make the JD write, hold or answer more than these (the README's
//! "Limits" section documents them).
//!
//! A value over a limit is `INVALID_ARGUMENT`; a spec or a batch over its size is
//! `RESOURCE_EXHAUSTED`. Messages name the field and the limit, e.g.
//! `labels: 65 labels, at most 64`.

use offchain_proto::label::{Label, Selector};

use crate::error::{ApiError, ApiResult};

/// Labels per node or job.
pub const MAX_LABELS: usize = 64;
/// Bytes of a label key (and of a selector key).
pub const MAX_LABEL_KEY_BYTES: usize = 255;
/// Bytes of a label value.
pub const MAX_LABEL_VALUE_BYTES: usize = 1024;
/// Bytes of a node name.
pub const MAX_NAME_BYTES: usize = 255;
/// Bytes of an id, uuid or public key given in a request or a filter (the JD's own ids are
/// about 30).
pub const MAX_ID_BYTES: usize = 255;
/// Bytes of a job spec.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;
/// Node ids in one `BatchProposeJob`.
pub const MAX_BATCH_NODES: usize = 10_000;
/// Node ids × spec bytes of one `BatchProposeJob`: about what its answer carries back.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Selectors in one `ListNodes` or `ListJobs` filter.
pub const MAX_SELECTORS: usize = 64;
/// Bytes of a selector value (an `IN` list of many values).
pub const MAX_SELECTOR_VALUE_BYTES: usize = 16 * 1024;
/// Values in one filter list: every value becomes a bound parameter, and SQLite allows
/// about 32 000 per statement.
pub const MAX_FILTER_VALUES: usize = 10_000;

/// `INVALID_ARGUMENT "<what>: <n> <unit>, at most <max>"` when `n > max`.
pub(super) fn at_most(
    what: impl std::fmt::Display,
    n: usize,
    unit: &str,
    max: usize,
) -> ApiResult<()> {
    if n > max {
        Err(ApiError::InvalidArgument(format!(
            "{what}: {n} {unit}, at most {max}"
        )))
    } else {
        Ok(())
    }
}

/// Checks `value`: at most `max` bytes and no NUL character (which PostgreSQL can neither
/// store nor compare: it would fail the query with `INTERNAL`, so both backends refuse it
/// alike).
pub(super) fn text<'a>(value: &'a str, what: &str, max: usize) -> ApiResult<&'a str> {
    at_most(what, value.len(), "bytes", max)?;
    if value.contains('\0') {
        return Err(ApiError::InvalidArgument(format!(
            "{what} must not contain NUL characters"
        )));
    }
    Ok(value)
}

/// Checks a label set: at most [`MAX_LABELS`], each with a non-empty key (a label without
/// one could never be selected) of at most [`MAX_LABEL_KEY_BYTES`] and a value of at most
/// [`MAX_LABEL_VALUE_BYTES`].
pub(super) fn labels(labels: &[Label]) -> ApiResult<()> {
    at_most("labels", labels.len(), "labels", MAX_LABELS)?;
    for (i, label) in labels.iter().enumerate() {
        if label.key.trim().is_empty() {
            return Err(ApiError::InvalidArgument(format!(
                "label {} has an empty key",
                i + 1
            )));
        }
        let value = label.value.as_deref();
        key_and_value("labels", i, &label.key, value, MAX_LABEL_VALUE_BYTES)?;
    }
    Ok(())
}

/// Checks the key (at most [`MAX_LABEL_KEY_BYTES`]) and value (at most `max_value`) of
/// entry `i` of `list`, a label or a selector.
fn key_and_value(
    list: &str,
    i: usize,
    key: &str,
    value: Option<&str>,
    max_value: usize,
) -> ApiResult<()> {
    let key_what = format_args!("{list}[{i}].key");
    at_most(key_what, key.len(), "bytes", MAX_LABEL_KEY_BYTES)?;
    let value_bytes = value.map_or(0, str::len);
    at_most(
        format_args!("{list}[{i}].value"),
        value_bytes,
        "bytes",
        max_value,
    )
}

/// Checks selectors: at most [`MAX_SELECTORS`], keys and values as large as labels' keys
/// and [`MAX_SELECTOR_VALUE_BYTES`].
pub(super) fn selectors(selectors: &[Selector]) -> ApiResult<()> {
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

/// Checks one filter list: at most [`MAX_FILTER_VALUES`] values, each as [`text`] wants
/// with [`MAX_ID_BYTES`].
pub(super) fn filter_values(values: &[String], what: &str) -> ApiResult<()> {
    at_most(what, values.len(), "values", MAX_FILTER_VALUES)?;
    values
        .iter()
        .try_for_each(|v| text(v, what, MAX_ID_BYTES).map(drop))
}

/// `RESOURCE_EXHAUSTED` for a spec over [`MAX_SPEC_BYTES`].
pub(super) fn spec(spec: &str) -> ApiResult<()> {
    too_large("spec", spec.len(), MAX_SPEC_BYTES)
}

/// Checks a batch's size before anything is written, so that a batch never commits and
/// then fails to answer: at most [`MAX_BATCH_NODES`] node ids (`INVALID_ARGUMENT`) and
/// node ids × spec bytes at most [`MAX_BATCH_BYTES`] (`RESOURCE_EXHAUSTED`).
pub(super) fn batch(node_ids: usize, spec: &str) -> ApiResult<()> {
    at_most("node_ids", node_ids, "ids", MAX_BATCH_NODES)?;
    self::spec(spec)?;
    let volume = node_ids.saturating_mul(spec.len());
    if volume > MAX_BATCH_BYTES {
        return Err(ApiError::ResourceExhausted(format!(
            "node_ids × spec: {node_ids} × {} bytes = {volume} bytes, at most {MAX_BATCH_BYTES}; \
             split the batch",
            spec.len()
        )));
    }
    Ok(())
}

fn too_large(what: &str, bytes: usize, max: usize) -> ApiResult<()> {
    if bytes > max {
        Err(ApiError::ResourceExhausted(format!(
            "{what}: {bytes} bytes, at most {max}"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(result: ApiResult<impl std::fmt::Debug>) -> String {
        match result {
            Err(ApiError::InvalidArgument(m)) => m,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn text_is_bounded_and_nul_free() {
        assert!(invalid(text("job_\0", "id", 10)).contains("NUL"));
        assert_eq!(invalid(text("abc", "id", 2)), "id: 3 bytes, at most 2");
        assert_eq!(text("ab", "id", 2).unwrap(), "ab");
    }

    #[test]
    fn filter_lists_are_bounded() {
        assert!(filter_values(&["a".into(), "b\0".into()], "ids").is_err());
        assert!(filter_values(&[], "ids").is_ok());
        let too_many = vec!["node_1".to_string(); MAX_FILTER_VALUES + 1];
        assert_eq!(
            invalid(filter_values(&too_many, "ids")),
            "ids: 10001 values, at most 10000"
        );
        assert!(invalid(filter_values(&["x".repeat(256)], "ids")).contains("at most 255"));
    }

    #[test]
    fn batch_volume_is_resource_exhausted() {
        let spec = "x".repeat(1024 * 1024);
        assert!(batch(64, &spec).is_ok());
        assert!(matches!(
            batch(65, &spec),
            Err(ApiError::ResourceExhausted(m)) if m.contains("at most 67108864")
        ));
        assert!(invalid(batch(MAX_BATCH_NODES + 1, "x")).contains("10001 ids"));
    }
}
