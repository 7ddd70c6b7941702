//! The common attributes of §5, type-checked at parse time as the reference does.

use std::time::Duration;

use crate::duration::parse_duration;
use crate::error::quoted;

/// Parsed common attributes of one task; the runner applies their semantics (§5, §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonAttrs {
    /// Output position; `-1` when unset.
    pub index: i32,
    /// Per-attempt deadline; `Some(ZERO)` when written as `0` (which still turns off the
    /// default HTTP timeout).
    pub timeout: Option<Duration>,
    /// Total attempts as written (0 and 1 both mean one attempt).
    pub retries: u32,
    /// Delay before the first retry, when set.
    pub min_backoff: Option<Duration>,
    /// Cap of the retry delay, when set.
    pub max_backoff: Option<Duration>,
    /// An error of this task ends the run.
    pub fail_early: bool,
}

impl Default for CommonAttrs {
    fn default() -> Self {
        Self {
            index: -1,
            timeout: None,
            retries: 0,
            min_backoff: None,
            max_backoff: None,
            fail_early: false,
        }
    }
}

impl CommonAttrs {
    /// Applies one common attribute (canonical key); the error names the attribute.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let bad = |why: String| format!("invalid {key} {}: {why}", quoted(value));
        match key {
            "index" => {
                let n = parse_go_int(value).map_err(|why| bad(why.into()))?;
                if n < 0 {
                    return Err(bad("result sorting indexes should start with 0".into()));
                }
                self.index = n;
            }
            "timeout" => {
                self.timeout = Some(parse_duration(value).map_err(|e| bad(e.to_string()))?)
            }
            "minBackoff" => {
                self.min_backoff = Some(parse_duration(value).map_err(|e| bad(e.to_string()))?)
            }
            "maxBackoff" => {
                self.max_backoff = Some(parse_duration(value).map_err(|e| bad(e.to_string()))?)
            }
            "retries" => self.retries = parse_unsigned(value).map_err(|why| bad(why.into()))?,
            "failEarly" => {
                self.fail_early = parse_go_bool(value).ok_or_else(|| bad(BOOL_FORMS.into()))?
            }
            "streamID" => {
                parse_unsigned(value).map_err(|why| bad(why.into()))?;
            }
            _ => {} // `tags`: free text
        }
        Ok(())
    }
}

const BOOL_FORMS: &str = "expected 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False";

/// Go's `strconv.ParseBool`, with `""` as false (the reference's decoding of an empty text).
pub(crate) fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Unsigned decimal digits into a u32; `""` is 0.
fn parse_unsigned(text: &str) -> Result<u32, &'static str> {
    if text.is_empty() {
        return Ok(0);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected an unsigned decimal integer");
    }
    text.parse()
        .map_err(|_| "out of range (at most 4294967295)")
}

/// Go's `strconv.ParseInt(text, 0, 32)`: sign, `0x`/`0o`/`0b` prefixes, leading-`0` octal,
/// `_` between digits; `""` is 0 (the reference's decoding of an empty text).
pub(crate) fn parse_go_int(text: &str) -> Result<i32, &'static str> {
    const SYNTAX: &str = "expected an integer (Go syntax: 12, 0x1f, 0o17, 0b101, 017)";
    if text.is_empty() {
        return Ok(0);
    }
    let (negative, unsigned) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    // Go: underscores only between digits, or right after a base prefix.
    let underscores_ok =
        !digits.ends_with('_') && !digits.contains("__") && (prefixed || !digits.starts_with('_'));
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || !underscores_ok || clean.starts_with(['+', '-']) {
        return Err(SYNTAX);
    }
    let magnitude = i64::from_str_radix(&clean, radix).map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => "out of range for a 32-bit integer",
        _ => SYNTAX,
    })?;
    let value = if negative { -magnitude } else { magnitude };
    i32::try_from(value).map_err(|_| "out of range for a 32-bit integer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_int_forms() {
        for (text, n) in [
            ("", 0),
            ("0", 0),
            ("12", 12),
            ("+3", 3),
            ("-4", -4),
            ("0x10", 16),
            ("0X1f", 31),
            ("0o7", 7),
            ("0b101", 5),
            ("017", 15),
            ("1_000", 1000),
            ("0x_1f", 31),
        ] {
            assert_eq!(parse_go_int(text), Ok(n), "{text}");
        }
        for bad in [
            "x",
            "1.5",
            "_1",
            "1_",
            "1__0",
            "08",
            "0x",
            "2147483648",
            "--1",
            "+-1",
            " 1",
        ] {
            assert!(parse_go_int(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn common_attributes_are_checked_and_named() {
        let mut c = CommonAttrs::default();
        assert_eq!(c.index, -1);
        c.set("index", "0x2").unwrap();
        c.set("timeout", "0").unwrap();
        c.set("retries", "3").unwrap();
        c.set("minBackoff", "1m").unwrap();
        c.set("failEarly", "True").unwrap();
        c.set("tags", "anything at all").unwrap();
        assert_eq!(
            (c.index, c.timeout, c.retries, c.min_backoff, c.fail_early),
            (
                2,
                Some(Duration::ZERO),
                3,
                Some(Duration::from_secs(60)),
                true
            )
        );
        assert!(
            c.set("index", "-1")
                .unwrap_err()
                .contains("result sorting indexes should start with 0")
        );
        assert!(
            c.set("retries", "-1")
                .unwrap_err()
                .starts_with("invalid retries \"-1\"")
        );
        assert!(c.set("timeout", "10").unwrap_err().contains("missing unit"));
        assert!(
            c.set("failEarly", "yes")
                .unwrap_err()
                .contains("expected 1, t")
        );
        assert!(c.set("streamID", "abc").is_err());
    }
}
