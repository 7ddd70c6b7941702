//! Bodies an adapter PATCHes to the node to finish a suspended async task (bridge.md §4).
//!
//! | route | parser | body |
//! |---|---|---|
//! | `PATCH /v2/resume/<task run uuid>` | [`parse_resume_body`] | exactly one of `{"value": <any JSON>}` or `{"error": "<message>"}` |
//! | `PATCH /v2/runs/<run id>` (classic) | [`parse_classic_callback`] | a section-2 response object |
//!
//! Both give a [`Resumption`]; a parse error is what the node's API answers with 422. Bodies
//! longer than [`MAX_RESUME_BODY_BYTES`] are refused before parsing.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::judge::{body_error_message, effective_status};

/// Largest PATCH body accepted, in bytes: the reference node's request size limit (32 KiB),
/// the same bound as a synchronous answer ([`crate::judge::MAX_RESPONSE_BYTES`]).
pub const MAX_RESUME_BODY_BYTES: usize = 32 * 1024;

/// What a PATCH asks of the suspended task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumption {
    /// The task succeeds with this output text: the JSON text of `value` exactly as sent
    /// (resume form; no number is re-rendered), or the whole body (classic form), so that
    /// `jsonparse path="data,result"` reads it as it reads a synchronous answer.
    Value(String),
    /// The task fails with this message.
    Error(String),
    /// The run keeps waiting (classic form with `"pending": true` only).
    Pending,
}

/// Why a PATCH body was refused (the node answers 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeBodyError {
    #[error("body exceeds {MAX_RESUME_BODY_BYTES} bytes")]
    TooLarge,
    /// The serde_json message, with line and column; it never quotes the body.
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("body must be a JSON object")]
    NotAnObject,
    #[error("body must have exactly one of \"value\" or \"error\", not both")]
    BothValueAndError,
    #[error("body must have exactly one of \"value\" or \"error\"")]
    NeitherValueNorError,
    #[error("\"{key}\" must be {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
}

/// Parses the body of `PATCH /v2/resume/<uuid>`.
///
/// `"value": null` is a value (null); `"error": null` counts as absent, as in the reference
/// node. Other keys are ignored. Never returns [`Resumption::Pending`].
pub fn parse_resume_body(body: &[u8]) -> Result<Resumption, ResumeBodyError> {
    check_size(body)?;
    // Raw values keep `value`'s text byte for byte (big numbers, decimal digits, key order).
    let fields: BTreeMap<String, &RawValue> = serde_json::from_slice(body).map_err(json_error)?;
    let error = match fields.get("error") {
        None => None,
        Some(raw) => serde_json::from_str::<Option<String>>(raw.get()).map_err(|_| {
            ResumeBodyError::WrongType {
                key: "error",
                expected: "a string",
            }
        })?,
    };
    match (fields.get("value"), error) {
        (Some(_), Some(_)) => Err(ResumeBodyError::BothValueAndError),
        (Some(value), None) => Ok(Resumption::Value(value.get().to_owned())),
        (None, Some(message)) => Ok(Resumption::Error(message)),
        (None, None) => Err(ResumeBodyError::NeitherValueNorError),
    }
}

/// Parses the body of a classic `PATCH /v2/runs/<run id>`: a section-2 response object.
///
/// It is an error when `status` is `"errored"`, `error` is non-null, or the body's
/// `statusCode` makes it one under bridge.md §3 item 3; the message is `name: message` for
/// an error object (as a synchronous answer's). Else `"pending": true` keeps the run
/// waiting; else the whole body is the task's output. `data` must be an object, `status` a
/// string and `pending` a boolean when present and non-null.
pub fn parse_classic_callback(body: &[u8]) -> Result<Resumption, ResumeBodyError> {
    check_size(body)?;
    let fields: Map<String, Value> = serde_json::from_slice(body).map_err(json_error)?;
    typed(&fields, "data", "an object", Value::is_object)?;
    let status = typed(&fields, "status", "a string", Value::is_string)?;
    let pending = typed(&fields, "pending", "a boolean", Value::is_boolean)?;

    let errored_status = status.and_then(Value::as_str) == Some("errored");
    let effective = effective_status(&fields).filter(|&code| code != 200);
    let has_error = fields.get("error").is_some_and(|e| !e.is_null());
    if errored_status || effective.is_some() || has_error {
        let message = body_error_message(&fields).unwrap_or_else(|| match effective {
            Some(code) => format!("adapter answered with status code {code}"),
            None => "adapter answered with an error".to_owned(),
        });
        return Ok(Resumption::Error(message));
    }
    if pending == Some(&Value::Bool(true)) {
        return Ok(Resumption::Pending);
    }
    Ok(Resumption::Value(
        String::from_utf8_lossy(body).into_owned(),
    ))
}

fn check_size(body: &[u8]) -> Result<(), ResumeBodyError> {
    if body.len() > MAX_RESUME_BODY_BYTES {
        return Err(ResumeBodyError::TooLarge);
    }
    Ok(())
}

/// Syntax errors are bad JSON; a well-formed document of another kind is not an object.
fn json_error(error: serde_json::Error) -> ResumeBodyError {
    match error.classify() {
        serde_json::error::Category::Data => ResumeBodyError::NotAnObject,
        _ => ResumeBodyError::InvalidJson(error.to_string()),
    }
}

/// `fields[key]` when present and non-null, refused unless `is_kind` holds.
fn typed<'a>(
    fields: &'a Map<String, Value>,
    key: &'static str,
    expected: &'static str,
    is_kind: fn(&Value) -> bool,
) -> Result<Option<&'a Value>, ResumeBodyError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) if is_kind(value) => Ok(Some(value)),
        Some(_) => Err(ResumeBodyError::WrongType { key, expected }),
    }
}
