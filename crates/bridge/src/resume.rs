//! Bodies an adapter PATCHes to the node to finish a suspended async task (bridge.md §4).
//!
//! | route | parser | body |
//! |---|---|---|
//! | `PATCH /v2/resume/<task run uuid>` | [`parse_resume_body`] | exactly one of `{"value": <any JSON>}` or `{"error": "<message>"}` |
//! | `PATCH /v2/runs/<run id>` (classic) | [`parse_classic_callback`] | a section-2 response object |
//!
//! Both give a [`Resumption`]; a parse error is what the node's API answers with 422. Bodies
//! longer than [`MAX_RESUME_BODY_BYTES`] are refused before parsing.

use crate::answer::Answer;

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
    let answer = Answer::parse(body).map_err(json_error)?;
    let error =
        match answer.non_null("error") {
            None => None,
            Some(raw) => Some(serde_json::from_str::<String>(raw).map_err(|_| {
                ResumeBodyError::WrongType {
                    key: "error",
                    expected: "a string",
                }
            })?),
        };
    match (answer.raw("value"), error) {
        (Some(_), Some(_)) => Err(ResumeBodyError::BothValueAndError),
        (Some(value), None) => Ok(Resumption::Value(value.to_owned())),
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
    let answer = Answer::parse(body).map_err(json_error)?;
    typed(&answer, "data", "an object", |raw| raw.starts_with('{'))?;
    let status = typed(&answer, "status", "a string", |raw| raw.starts_with('"'))?;
    let pending = typed(&answer, "pending", "a boolean", |raw| {
        matches!(raw, "true" | "false")
    })?;

    let errored_status =
        status.is_some_and(|raw| serde_json::from_str::<String>(raw).is_ok_and(|s| s == "errored"));
    let effective = answer.effective_status().filter(|&code| code != 200);
    if errored_status || effective.is_some() || answer.non_null("error").is_some() {
        let message = answer
            .body_error_message()
            .unwrap_or_else(|| match effective {
                Some(code) => format!("adapter answered with status code {code}"),
                None => "adapter answered with an error".to_owned(),
            });
        return Ok(Resumption::Error(message));
    }
    if pending == Some("true") {
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

/// The raw text of `key` when present and non-null, refused unless `is_kind` holds.
fn typed<'a>(
    answer: &Answer<'a>,
    key: &'static str,
    expected: &'static str,
    is_kind: fn(&str) -> bool,
) -> Result<Option<&'a str>, ResumeBodyError> {
    match answer.non_null(key) {
        None => Ok(None),
        Some(raw) if is_kind(raw) => Ok(Some(raw)),
        Some(_) => Err(ResumeBodyError::WrongType { key, expected }),
    }
}
