//! Label sets are stored as JSON arrays of `[key, value-or-null]` pairs.

use offchain_proto::label::Label;

use super::{StoreError, StoreResult};

pub(super) fn encode(labels: &[Label]) -> String {
    let pairs: Vec<(&str, Option<&str>)> = labels
        .iter()
        .map(|l| (l.key.as_str(), l.value.as_deref()))
        .collect();
    // Serialising strings and nulls cannot fail.
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_string())
}

pub(super) fn decode(text: &str) -> StoreResult<Vec<Label>> {
    let pairs: Vec<(String, Option<String>)> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("label set {text:?}: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|(key, value)| Label { key, value })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_values_and_flags() {
        let labels = vec![
            Label::new("env", "prod"),
            Label::flag("bootstrap"),
            Label::new("e", ""),
        ];
        assert_eq!(decode(&encode(&labels)).unwrap(), labels);
    }

    #[test]
    fn corrupt_text_is_an_error() {
        assert!(matches!(decode("{"), Err(StoreError::Corrupt(_))));
    }
}
