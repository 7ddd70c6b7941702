//! Parse-time checks of literal task parameters (an extension: the reference finds these
//! only when the task runs). A value holding `$(` is left to the runner, and so is every
//! parameter whose literal the reference ignores (`jsonparse`/`conditional` `data`); each
//! check refuses only what would fail at run time in any case.

use crate::common::parse_go_bool;
use crate::duration::parse_duration;
use crate::error::quoted;
use crate::task_type::TaskType;

enum Literal {
    Decimal,
    Bool,
    Duration,
    /// Unsigned digits, untrimmed.
    Digits,
    /// A 32-bit integer with optional sign, untrimmed.
    Int32,
    /// A JSON array of strings with an even number of elements.
    Headers,
    JsonObject,
    JsonArray,
    Json,
}

fn kind(task: TaskType, key: &str) -> Option<Literal> {
    use TaskType as T;
    Some(match (task, key) {
        (T::Multiply, "times" | "input")
        | (T::Divide, "input" | "divisor")
        | (T::LessThan, "left" | "right") => Literal::Decimal,
        (T::JsonParse | T::Median, "lax") | (T::Http, "allowUnrestrictedNetworkAccess") => {
            Literal::Bool
        }
        (T::Bridge, "cacheTTL") => Literal::Duration,
        (_, "allowedFaults") => Literal::Digits,
        (_, "precision") => Literal::Int32,
        (T::Http | T::Bridge, "headers") => Literal::Headers,
        (T::Http | T::Bridge, "requestData") | (T::Merge, "left" | "right") => Literal::JsonObject,
        (_, "values") => Literal::JsonArray,
        (T::Memo, "value") => Literal::Json,
        _ => return None,
    })
}

/// Checks the literal `value` of parameter `key` (canonical) of a `task` task.
pub(crate) fn check(task: TaskType, key: &str, value: &str) -> Result<(), String> {
    let Some(kind) = kind(task, key) else {
        return Ok(());
    };
    if value.contains("$(") {
        return Ok(());
    }
    let trimmed = value.trim();
    let untrimmed = matches!(kind, Literal::Digits | Literal::Int32);
    if (untrimmed && value.is_empty()) || (!untrimmed && trimmed.is_empty()) {
        return Ok(()); // empty literal = absent; a required parameter is the runner's call
    }
    let why = match kind {
        Literal::Decimal => {
            (!is_decimal(trimmed)).then_some("expected a decimal number such as 12, -1.5 or 1e18")
        }
        Literal::Bool => parse_go_bool(trimmed)
            .is_none()
            .then_some("expected true or false"),
        Literal::Duration => parse_duration(trimmed)
            .is_err()
            .then_some("expected a Go duration such as \"30s\""),
        Literal::Digits => (!value.bytes().all(|b| b.is_ascii_digit())
            || value.parse::<u32>().is_err())
        .then_some("expected an unsigned integer"),
        Literal::Int32 => value
            .parse::<i32>()
            .is_err()
            .then_some("expected a 32-bit integer"),
        Literal::Headers => match first_json(trimmed) {
            Some(serde_json::Value::Array(items)) if items.iter().all(|i| i.is_string()) => {
                (items.len() % 2 != 0).then_some("headers must have an even number of elements")
            }
            _ => Some("expected a JSON array of strings: [\"Name\", \"value\", …]"),
        },
        Literal::JsonObject => (!matches!(
            first_json(trimmed),
            Some(serde_json::Value::Object(_) | serde_json::Value::Null)
        ))
        .then_some("expected a JSON object"),
        Literal::JsonArray => (!matches!(
            first_json(trimmed),
            Some(serde_json::Value::Array(_) | serde_json::Value::Null)
        ))
        .then_some("expected a JSON array"),
        Literal::Json => first_json(trimmed)
            .is_none()
            .then_some("expected a JSON value (quote text: <\"text\">)"),
    };
    match why {
        Some(why) => Err(format!("{key}: {}: {why}", quoted(value))),
        None => Ok(()),
    }
}

/// The first JSON document of `text` (the reference ignores what follows it).
fn first_json(text: &str) -> Option<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .next()?
        .ok()
}

/// §3.2 decimal text: sign, digits with at most one `.`, optional exponent.
pub(crate) fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_follows_the_reference() {
        for ok in ["1", "-1.5", "+2", "1.", ".5", "1e18", "1.5E-3", "0"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in [
            "", ".", "e5", "1e", "1.2.3", "0x10", "1_000", "Inf", "NaN", "--1", "1 2",
        ] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn literals_that_must_fail_at_run_time_are_refused() {
        use TaskType as T;
        assert!(
            check(T::Multiply, "times", "abc")
                .unwrap_err()
                .starts_with("times: \"abc\": expected a decimal")
        );
        assert!(check(T::Multiply, "times", " 12 ").is_ok());
        assert!(check(T::Multiply, "times", "$(x)").is_ok());
        assert!(check(T::Multiply, "times", "").is_ok());
        assert!(check(T::Bridge, "cacheTTL", "10").is_err());
        assert!(check(T::JsonParse, "lax", "yes").is_err());
        assert!(check(T::Sum, "allowedFaults", " 1").is_err());
        assert!(check(T::Mean, "precision", "-2").is_ok());
        assert!(check(T::Http, "headers", r#"["a","b"]"#).is_ok());
        assert!(
            check(T::Http, "headers", r#"["a"]"#)
                .unwrap_err()
                .contains("even number")
        );
        assert!(check(T::Http, "headers", r#"[1, 2]"#).is_err());
        assert!(check(T::Bridge, "requestData", r#"{"a": 1} trailing"#).is_ok());
        assert!(check(T::Bridge, "requestData", "[1]").is_err());
        assert!(check(T::Memo, "value", "hi").is_err());
        assert!(check(T::Memo, "value", "10").is_ok());
        assert!(check(T::Median, "values", "[1, 2]").is_ok());
        assert!(
            check(T::JsonParse, "data", "not json").is_ok(),
            "a literal data is ignored (quirk)"
        );
        assert!(check(T::Lookup, "key", " anything ").is_ok());
    }
}
