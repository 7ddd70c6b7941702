//! The body a node POSTs to a bridge (bridge.md §1, "current node" row; pipeline.md `bridge`).
//!
//! The job's resolved `requestData` is sent verbatim; only three keys may be added, in this
//! order (a later one replaces an earlier one, and each replaces a key of the same name in
//! `requestData`, as in the reference node):
//! 1. `meta`: the run's meta, when it is a JSON object (cron runs have `{}` and send
//!    `"meta": {}`; webhook runs have `null` and send nothing);
//! 2. the task's first input under `includeInputAtKey` (that exact key, dots not nested);
//! 3. `responseURL` when the task is async ([`resume_url`]).
//!
//! Values arrive as JSON already (the pipeline encodes decimals as strings, …).

use serde_json::{Map, Value};

/// What the `bridge` task adds to its `requestData`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestExtras<'a> {
    /// `$(jobRun.meta)`; only an object is sent.
    pub meta: Option<&'a Value>,
    /// `includeInputAtKey` and the task's first input; skipped when the key is empty or
    /// there is no input.
    pub include_input: Option<(&'a str, &'a Value)>,
    /// The URL the adapter PATCHes for an async task ([`resume_url`]); `None` when not async.
    pub response_url: Option<&'a str>,
}

/// The request body: `request_data` (the resolved map; `{}` when the task has none) plus the
/// extras.
pub fn build_request_body(
    mut request_data: Map<String, Value>,
    extras: &RequestExtras<'_>,
) -> Map<String, Value> {
    if let Some(meta @ Value::Object(_)) = extras.meta {
        request_data.insert("meta".to_owned(), meta.clone());
    }
    if let Some((key, input)) = extras.include_input
        && !key.is_empty()
    {
        request_data.insert(key.to_owned(), input.clone());
    }
    if let Some(url) = extras.response_url {
        request_data.insert("responseURL".to_owned(), Value::from(url));
    }
    request_data
}

/// `<base>/v2/resume/<task run id>`: the current node's async `responseURL` (bridge.md §4).
/// `base` is the node's externally reachable URL; a trailing `/` is not doubled.
pub fn resume_url(base: &str, task_run_id: impl std::fmt::Display) -> String {
    format!("{}/v2/resume/{task_run_id}", base.trim_end_matches('/'))
}
