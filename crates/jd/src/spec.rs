//! The little the JD needs to know about a job spec: that it is TOML with a UUID
//! `externalJobID`. Everything else is the node's business; the text is stored verbatim.

/// Why a spec was refused; the message is shown to the operator after `invalid spec: `.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// Not TOML.
    #[error("not valid TOML: {0}")]
    Toml(String),
    /// No `externalJobID` key.
    #[error("missing externalJobID")]
    MissingExternalJobId,
    /// `externalJobID` is not a string holding a UUID.
    #[error("externalJobID must be a UUID string, got {0}")]
    BadExternalJobId(String),
}

/// Returns the spec's `externalJobID` in canonical lower-case hyphenated form.
pub fn external_job_id(spec: &str) -> Result<String, SpecError> {
    let table: toml::Table = spec
        .parse()
        .map_err(|e: toml::de::Error| SpecError::Toml(e.message().to_string()))?;
    let value = table
        .get("externalJobID")
        .ok_or(SpecError::MissingExternalJobId)?;
    let text = value
        .as_str()
        .ok_or_else(|| SpecError::BadExternalJobId(value.to_string()))?;
    canonical_uuid(text).ok_or_else(|| SpecError::BadExternalJobId(format!("{text:?}")))
}

/// `text` as a lower-case hyphenated UUID, whichever form it came in: simple (32 hex
/// digits), hyphenated, braced (`{…}`) or URN (`urn:uuid:…`), in any case, with
/// surrounding spaces ignored. Every uuid the JD accepts goes through here, so a job
/// proposed under one form is found under any other.
pub fn canonical_uuid(text: &str) -> Option<String> {
    // The uuid crate matches the `urn:uuid:` prefix case-sensitively.
    let parsed = uuid::Uuid::try_parse(&text.trim().to_ascii_lowercase()).ok()?;
    Some(parsed.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_external_job_id() {
        let spec = "type = \"webhook\"\nexternalJobID = \"0B5B2C2E-6E5A-4F0C-9C55-8B7E1F7B3A11\"\n";
        assert_eq!(
            external_job_id(spec).unwrap(),
            "0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11"
        );
    }

    #[test]
    fn every_uuid_form_is_one_canonical_form() {
        let canonical = "0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11";
        for form in [
            "0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11",
            "0B5B2C2E6E5A4F0C9C558B7E1F7B3A11",
            "{0B5B2C2E-6E5A-4F0C-9C55-8B7E1F7B3A11}",
            "URN:UUID:0b5b2c2e-6e5a-4f0c-9c55-8B7E1F7B3A11",
            " urn:uuid:0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11 ",
        ] {
            assert_eq!(canonical_uuid(form).as_deref(), Some(canonical), "{form}");
        }
        for bad in [
            "",
            "urn:uuid:",
            "{0b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11",
            "x",
        ] {
            assert_eq!(canonical_uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_bad_specs() {
        assert!(matches!(
            external_job_id("type = "),
            Err(SpecError::Toml(_))
        ));
        assert_eq!(
            external_job_id("type = \"cron\""),
            Err(SpecError::MissingExternalJobId)
        );
        assert!(matches!(
            external_job_id("externalJobID = 5"),
            Err(SpecError::BadExternalJobId(_))
        ));
        assert!(matches!(
            external_job_id("externalJobID = \"not-a-uuid\""),
            Err(SpecError::BadExternalJobId(_))
        ));
    }
}
