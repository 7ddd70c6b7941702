//! Checks a proposed job spec before it is stored: bounded, TOML, its `externalJobID` is the
//! proposal's id, and its `type` is one this node runs.

use uuid::Uuid;

/// The largest spec accepted, in bytes: the JD's own limit (`MAX_SPEC_BYTES`).
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// The job types this node runs.
pub const SUPPORTED_TYPES: &[&str] = &["webhook", "cron"];

/// How much of a value taken from a spec an error message repeats.
const SHOWN_CHARS: usize = 64;

/// Why a spec was refused. The messages are the node's answer to `ProposeJob`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Over [`MAX_SPEC_BYTES`].
    #[error("spec is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    /// Not a TOML document (the parser's message, shortened).
    #[error("spec is not valid TOML: {0}")]
    NotToml(String),
    /// A required key is absent.
    #[error("spec has no {0}")]
    Missing(&'static str),
    /// A key is not a string.
    #[error("spec key {0} must be a string")]
    NotString(&'static str),
    /// `externalJobID` names another proposal.
    #[error("spec externalJobID {found:?} does not match the proposal id {expected}")]
    ExternalJobIdMismatch { found: String, expected: Uuid },
    /// A job type this node does not run.
    #[error("job type {0:?} is not supported by this node (supported: webhook, cron)")]
    UnsupportedType(String),
}

/// Checks `spec` for the proposal `id`.
pub fn validate(id: Uuid, spec: &str) -> Result<(), SpecError> {
    if spec.len() > MAX_SPEC_BYTES {
        return Err(SpecError::TooLarge {
            len: spec.len(),
            max: MAX_SPEC_BYTES,
        });
    }
    let table: toml::Table = spec
        .parse()
        .map_err(|error: toml::de::Error| SpecError::NotToml(shorten(error.message(), 200)))?;
    let external_id = string_key(&table, "externalJobID")?;
    // Canonical forms: an id in upper case or without hyphens is still the same id.
    if Uuid::parse_str(external_id).ok() != Some(id) {
        return Err(SpecError::ExternalJobIdMismatch {
            found: shorten(external_id, SHOWN_CHARS),
            expected: id,
        });
    }
    let job_type = string_key(&table, "type")?;
    if !SUPPORTED_TYPES.contains(&job_type) {
        return Err(SpecError::UnsupportedType(shorten(job_type, SHOWN_CHARS)));
    }
    Ok(())
}

fn string_key<'a>(table: &'a toml::Table, key: &'static str) -> Result<&'a str, SpecError> {
    table
        .get(key)
        .ok_or(SpecError::Missing(key))?
        .as_str()
        .ok_or(SpecError::NotString(key))
}

/// The first `max` characters of `text`, with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46";

    fn id() -> Uuid {
        Uuid::parse_str(ID).unwrap()
    }

    #[test]
    fn accepts_webhook_and_cron_with_the_proposal_id_in_any_canonical_form() {
        for spec in [
            format!("type = \"webhook\"\nexternalJobID = \"{ID}\"\n"),
            format!(
                "type = \"cron\"\nexternalJobID = \"{}\"\n",
                ID.to_uppercase()
            ),
            format!(
                "type = \"cron\"\nexternalJobID = \"{}\"\n",
                ID.replace('-', "")
            ),
        ] {
            assert_eq!(validate(id(), &spec), Ok(()), "{spec}");
        }
    }

    #[test]
    fn refuses_other_types_naming_them() {
        let spec = format!("type = \"directrequest\"\nexternalJobID = \"{ID}\"\n");
        let error = validate(id(), &spec).unwrap_err();
        assert_eq!(error, SpecError::UnsupportedType("directrequest".into()));
        assert!(error.to_string().contains("\"directrequest\""), "{error}");
    }

    #[test]
    fn refuses_missing_mismatched_and_non_string_keys() {
        let other = "11111111-2222-4333-8444-555555555555";
        let cases = [
            (
                format!("externalJobID = \"{ID}\""),
                SpecError::Missing("type"),
            ),
            (
                "type = \"cron\"".to_string(),
                SpecError::Missing("externalJobID"),
            ),
            (
                format!("type = 5\nexternalJobID = \"{ID}\""),
                SpecError::NotString("type"),
            ),
            (
                format!("type = \"cron\"\nexternalJobID = \"{other}\""),
                SpecError::ExternalJobIdMismatch {
                    found: other.into(),
                    expected: id(),
                },
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(validate(id(), &spec), Err(expected), "{spec}");
        }
    }

    #[test]
    fn refuses_non_toml_and_oversized_specs_with_bounded_messages() {
        assert!(matches!(
            validate(id(), "type = = \"cron\""),
            Err(SpecError::NotToml(_))
        ));
        let huge = format!(
            "type = \"cron\"\nexternalJobID = \"{ID}\"\n#{}",
            "x".repeat(MAX_SPEC_BYTES)
        );
        assert!(matches!(
            validate(id(), &huge),
            Err(SpecError::TooLarge { .. })
        ));
        let long_type = format!(
            "type = \"{}\"\nexternalJobID = \"{ID}\"",
            "t".repeat(10_000)
        );
        let message = validate(id(), &long_type).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn deeply_nested_input_is_refused_without_crashing() {
        let deep = format!("a = {}", "[".repeat(MAX_SPEC_BYTES - 8));
        assert!(matches!(validate(id(), &deep), Err(SpecError::NotToml(_))));
    }
}
