//! What the JD checks in a request before it writes, redone here so a dry run refuses the
//! same requests with the same codes. Checks that need the JD's state (does the node exist,
//! is it enabled, is the key taken) are reads through the inner client, in `mod.rs`.
//!
//! The JD crate is not a dependency of this one, so the small checks of its `spec` and
//! `service` modules are repeated; [`crate::limits`] is the shared part.

use offchain_proto::label::{Label, Selector};
use tonic::Status;

use crate::limits;
use crate::selector::validate_selector;

/// `INVALID_ARGUMENT "<what> must be provided"` for an empty value, and as
/// [`limits::check_text`] does with `max` bytes.
pub(super) fn required(value: &str, what: &str, max: usize) -> Result<(), Status> {
    if value.trim().is_empty() {
        return Err(Status::invalid_argument(format!("{what} must be provided")));
    }
    limits::check_text(value, what, max)
}

/// A hex ed25519 public key: 64 hex characters.
pub(super) fn public_key(key: &str) -> Result<(), Status> {
    let key = key.trim();
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "public_key must be 64 hex characters (an ed25519 key), got {key:?}"
        )))
    }
}

/// A node name: present, no NUL, at most [`limits::MAX_NAME_BYTES`] once trimmed.
pub(super) fn name(name: &str) -> Result<(), Status> {
    required(name.trim(), "name", limits::MAX_NAME_BYTES)
}

/// A proposal's spec and labels, in the JD's order: the spec's size, the labels, then the
/// spec itself.
pub(super) fn spec_and_labels(spec_text: &str, labels: &[Label]) -> Result<(), Status> {
    limits::check_spec_size(spec_text)?;
    limits::check_labels(labels)?;
    spec(spec_text)
}

/// A spec the JD would store: TOML, with a UUID string `externalJobID`.
fn spec(spec: &str) -> Result<(), Status> {
    let invalid = |reason: String| Status::invalid_argument(format!("invalid spec: {reason}"));
    let table: toml::Table = spec
        .parse()
        .map_err(|e: toml::de::Error| invalid(format!("not valid TOML: {}", e.message())))?;
    let value = table
        .get("externalJobID")
        .ok_or_else(|| invalid("missing externalJobID".into()))?;
    let text = value
        .as_str()
        .ok_or_else(|| invalid(format!("externalJobID must be a UUID string, got {value}")))?;
    uuid::Uuid::try_parse(text)
        .map_err(|_| invalid(format!("externalJobID must be a UUID string, got {text:?}")))?;
    Ok(())
}

/// Selectors within the JD's limits ([`limits::check_selectors`]) and as
/// [`validate_selector`] wants them.
pub(super) fn selectors(selectors: &[Selector]) -> Result<(), Status> {
    limits::check_selectors(selectors)?;
    selectors
        .iter()
        .try_for_each(validate_selector)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn specs_are_checked_like_the_jd_does() {
        let good = "type = \"webhook\"\nexternalJobID = \"0B5B2C2E-6E5A-4F0C-9C55-8B7E1F7B3A11\"\n";
        assert!(spec(good).is_ok());
        for (bad, needle) in [
            ("type = ", "not valid TOML"),
            ("type = \"cron\"", "missing externalJobID"),
            ("externalJobID = 5", "must be a UUID string"),
            ("externalJobID = \"not-a-uuid\"", "must be a UUID string"),
        ] {
            let status = spec(bad).unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument);
            assert!(status.message().starts_with("invalid spec: "), "{status:?}");
            assert!(status.message().contains(needle), "{status:?}");
        }
    }

    #[test]
    fn ids_keys_and_names_are_checked() {
        assert!(
            required(" ", "id", 10)
                .unwrap_err()
                .message()
                .contains("must be provided")
        );
        assert!(
            required("a\0", "id", 10)
                .unwrap_err()
                .message()
                .contains("NUL")
        );
        assert_eq!(
            required("abc", "id", 2).unwrap_err().message(),
            "id: 3 bytes, at most 2"
        );
        assert!(public_key(&"aB".repeat(32)).is_ok());
        assert!(public_key("abc").is_err());
        assert!(name("node").is_ok());
        assert!(name("").is_err());
        assert!(name(&format!(" {} ", "n".repeat(255))).is_ok());
        assert!(name(&"n".repeat(256)).is_err());
    }
}
