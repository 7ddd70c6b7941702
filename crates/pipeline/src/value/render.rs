//! The JSON forms of a value (spec §3.3): how outputs are stored and shown, and how values go
//! out in HTTP/bridge request bodies.

use std::fmt::Write as _;

use base64::Engine as _;

use super::Value;
use super::decimal::go_non_finite;

/// Why a value cannot go into a request body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// A failed task's error marker inside the body.
    #[error("cannot encode an errored value: {0}")]
    ErrorValue(String),
    /// NaN or an infinity.
    #[error("json: unsupported value: {0}")]
    NonFinite(&'static str),
}

/// The stored/shown JSON of a value: decimals as strings, bytes (and UUIDs) as `"0x…"` hex,
/// integers and floats as numbers in Go's form, maps with sorted keys, memo objects as their
/// content. An error marker shows as `null` (its text is reported beside the output).
pub fn to_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, Mode::Stored).unwrap_or_else(|_| out.push_str("null"));
    out
}

/// The JSON of a value in an outgoing request body: decimals as strings, UUIDs as canonical
/// hyphenated text, bytes as base64; error markers and non-finite floats are refused.
pub fn to_body_json(value: &Value) -> Result<String, BodyError> {
    let mut out = String::new();
    write_value(&mut out, value, Mode::Body)?;
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Stored,
    Body,
}

fn write_value(out: &mut String, value: &Value, mode: Mode) -> Result<(), BodyError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Decimal(d) => write_string(out, &d.to_string()),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                if mode == Mode::Body {
                    return Err(BodyError::NonFinite(go_non_finite(*f)));
                }
                out.push_str("null");
            } else {
                out.push_str(&go_json_float(*f));
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Bytes(b) => match mode {
            Mode::Stored => write_string(out, &format!("0x{}", hex::encode(b))),
            Mode::Body => write_string(out, &base64::engine::general_purpose::STANDARD.encode(b)),
        },
        Value::Uuid(u) => match mode {
            Mode::Stored => write_string(out, &format!("0x{}", hex::encode(u.as_bytes()))),
            Mode::Body => write_string(out, &u.hyphenated().to_string()),
        },
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, mode)?;
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v, mode)?;
            }
            out.push('}');
        }
        Value::Memo(inner) => write_value(out, inner, mode)?,
        Value::Error(e) => match mode {
            Mode::Stored => out.push_str("null"),
            Mode::Body => return Err(BodyError::ErrorValue(e.clone())),
        },
    }
    Ok(())
}

/// A JSON string the way Go's `encoding/json` writes it (HTML-safe: `<` `>` `&` escaped).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go 1.22+ writes these two short forms too.
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's JSON number form of a finite float: shortest digits, an exponent only when the
/// magnitude is below 1e-6 or at least 1e21 (`1e+21`, `1e-7`).
pub fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        go_exponent(f, 1)
    } else {
        format!("{f}")
    }
}

/// Go's `%v` of a float (`strconv` 'g' with shortest digits): an exponent with at least two
/// digits when the decimal exponent is below −4 or at least 6 (`1e+06`, `1e-05`).
pub fn go_v_float(f: f64) -> String {
    if !f.is_finite() {
        return go_non_finite(f).to_owned();
    }
    if f == 0.0 {
        return format!("{f}");
    }
    let exp = format!("{f:e}")
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse::<i32>().ok())
        .unwrap_or(0);
    if !(-4..6).contains(&exp) {
        go_exponent(f, 2)
    } else {
        format!("{f}")
    }
}

/// Shortest `d.ddde±X` with at least `min_digits` exponent digits (Go's `e` format).
fn go_exponent(f: f64, min_digits: usize) -> String {
    let text = format!("{f:e}");
    let Some((mantissa, exp)) = text.split_once('e') else {
        return text;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>min_digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Decimal, Map};

    #[test]
    fn stored_forms() {
        let mut map = Map::new();
        map.insert(
            "b".into(),
            Value::Decimal(Decimal::parse("9.65e21").unwrap()),
        );
        map.insert("a".into(), Value::Bytes(vec![]));
        map.insert("c".into(), Value::string("<&>\u{1}\u{8}"));
        map.insert("d".into(), Value::Memo(Box::new(Value::Decimal(17.into()))));
        map.insert(
            "e".into(),
            Value::List(vec![
                Value::Int(-3),
                Value::Float(1e21),
                Value::Float(1e-7),
                Value::Null,
            ]),
        );
        assert_eq!(
            to_json(&Value::Map(map)),
            r#"{"a":"0x","b":"9650000000000000000000","c":"\u003c\u0026\u003e\u0001\b","d":"17","e":[-3,1e+21,1e-7,null]}"#
        );
        assert_eq!(to_json(&Value::Bytes(vec![0xab, 1])), r#""0xab01""#);
        let id = uuid::Uuid::from_u128(0x0123456789abcdef0123456789abcdef);
        assert_eq!(
            to_json(&Value::Uuid(id)),
            r#""0x0123456789abcdef0123456789abcdef""#
        );
    }

    #[test]
    fn go_float_forms() {
        for (f, json) in [
            (0.1, "0.1"),
            (1.0, "1"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (-2.5e-10, "-2.5e-10"),
            (1e100, "1e+100"),
        ] {
            assert_eq!(go_json_float(f), json);
        }
        assert_eq!(go_v_float(1.234), "1.234");
        assert_eq!(go_v_float(1e21), "1e+21");
        assert_eq!(go_v_float(123456.0), "123456");
        assert_eq!(go_v_float(1234567.0), "1.234567e+06");
        assert_eq!(go_v_float(0.00001), "1e-05");
    }

    #[test]
    fn body_forms() {
        let id = uuid::Uuid::from_u128(0x0123456789abcdef0123456789abcdef);
        let list = Value::List(vec![
            Value::Uuid(id),
            Value::Bytes(vec![1, 2, 3]),
            Value::Decimal(Decimal::parse("0.5").unwrap()),
        ]);
        assert_eq!(
            to_body_json(&list).unwrap(),
            r#"["01234567-89ab-cdef-0123-456789abcdef","AQID","0.5"]"#
        );
        assert_eq!(
            to_body_json(&Value::Error("boom".into())).unwrap_err(),
            BodyError::ErrorValue("boom".into())
        );
    }
}
