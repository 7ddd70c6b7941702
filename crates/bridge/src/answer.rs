//! The fields of an adapter answer that bridge.md §3 reads, shared by [`crate::judge`] and
//! the classic PATCH of [`crate::resume`].
//!
//! The body is split into its top-level keys with each value kept as raw text; a field is
//! parsed only when asked for. serde_json skips raw values without recursing, so a deeply
//! nested `data` cannot make the body unreadable and hide an error beside it.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON object's top-level fields, unparsed.
pub(crate) struct Answer<'a>(BTreeMap<String, &'a RawValue>);

impl<'a> Answer<'a> {
    /// The fields of `body`, or serde_json's error when it is not one JSON object (a
    /// `Category::Data` error when it is well-formed JSON of another kind).
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body).map(Self)
    }

    /// The raw text of `key`, e.g. `null`, `"s"`, `{…}`.
    pub(crate) fn raw(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).map(|raw| raw.get())
    }

    /// `key` when present and not `null`.
    pub(crate) fn non_null(&self, key: &str) -> Option<&'a str> {
        self.raw(key).filter(|raw| *raw != "null")
    }

    /// `key` as an integer; absent when it is not one (`"500"`, `500.5`, …).
    pub(crate) fn integer(&self, key: &str) -> Option<i64> {
        serde_json::from_str(self.raw(key)?).ok()
    }

    /// `key` as a non-empty string.
    fn text(&self, key: &str) -> Option<String> {
        serde_json::from_str::<String>(self.raw(key)?)
            .ok()
            .filter(|s| !s.is_empty())
    }

    /// §3 item 3: the status the body claims, or `None` when it has no integer `statusCode`.
    pub(crate) fn effective_status(&self) -> Option<i64> {
        let status_code = self.integer("statusCode")?;
        if status_code != 200 {
            return Some(status_code);
        }
        if let Some(provider) = self.integer("providerStatusCode")
            && provider != 200
        {
            return Some(provider);
        }
        if self.non_null("error").is_some() {
            return Some(500);
        }
        Some(200)
    }

    /// Whether `pending` is `true`.
    pub(crate) fn pending(&self) -> bool {
        self.raw("pending") == Some("true")
    }

    /// §3 item 2's message: `error` if a non-empty string, else `error.message`, else
    /// `errorMessage`.
    pub(crate) fn status_error_message(&self) -> Option<String> {
        self.text("error")
            .or_else(|| self.error_object_field("message"))
            .or_else(|| self.text("errorMessage"))
    }

    /// §3 item 3's message: `name: message` for an error object (or whichever of the two
    /// it has), else as item 2's.
    pub(crate) fn body_error_message(&self) -> Option<String> {
        let name = self.error_object_field("name");
        let message = self.error_object_field("message");
        match (name, message) {
            (Some(name), Some(message)) => Some(format!("{name}: {message}")),
            (Some(only), None) | (None, Some(only)) => Some(only),
            (None, None) => self.status_error_message(),
        }
    }

    /// A non-empty string field of the `error` object.
    fn error_object_field(&self, field: &str) -> Option<String> {
        let error: Value = serde_json::from_str(self.raw("error")?).ok()?;
        error
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
}
