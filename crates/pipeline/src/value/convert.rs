//! Parameter conversions (spec §3.7): what each kind of task parameter accepts.
//!
//! Every refusal ends with the reference's `bad input for task`.

use super::json::{Numbers, parse_whole};
use super::{Decimal, Map, Value};

/// A value a parameter cannot take; the text ends with `: bad input for task`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: bad input for task")]
pub struct ConvertError(pub String);

fn refuse(what: impl Into<String>) -> ConvertError {
    ConvertError(what.into())
}

/// Decimal, integers, finite floats, §3.2 text, a memo number.
pub fn to_decimal(value: &Value) -> Result<Decimal, ConvertError> {
    match value {
        Value::Decimal(d) => Ok(d.clone()),
        Value::Int(i) => Ok(Decimal::from(*i)),
        Value::BigInt(i) => Ok(Decimal::from(i.clone())),
        Value::Float(f) => Decimal::from_f64(*f).map_err(|e| refuse(e.to_string())),
        Value::String(s) => Decimal::parse(s).map_err(|e| refuse(e.to_string())),
        Value::Memo(inner) if matches!(**inner, Value::Decimal(_)) => to_decimal(inner),
        other => Err(refuse(format!(
            "type {} cannot be converted to decimal.Decimal",
            other.go_type()
        ))),
    }
}

/// String, bytes (as text), a memo string. Numbers and bools are refused.
pub fn to_string(value: &Value) -> Result<String, ConvertError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Value::Memo(inner) if matches!(**inner, Value::String(_)) => to_string(inner),
        other => Err(refuse(format!("expected string, got {}", other.go_type()))),
    }
}

/// Bytes; a string is hex-decoded when it is `0x` + even-length hex, else its UTF-8 bytes;
/// null is empty; a memo string as a string.
pub fn to_bytes(value: &Value) -> Result<Vec<u8>, ConvertError> {
    match value {
        Value::Bytes(b) => Ok(b.clone()),
        Value::String(s) => Ok(string_bytes(s)),
        Value::Null => Ok(Vec::new()),
        Value::Memo(inner) if matches!(**inner, Value::String(_)) => to_bytes(inner),
        other => Err(refuse(format!(
            "expected array of bytes, got {}",
            other.go_type()
        ))),
    }
}

/// A string's bytes under the bytes rule: `0x…` valid hex decoded, else UTF-8.
pub fn string_bytes(s: &str) -> Vec<u8> {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_else(|| s.as_bytes().to_vec())
}

/// Bool; Go's `strconv.ParseBool` texts; a memo bool.
pub fn to_bool(value: &Value) -> Result<bool, ConvertError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => parse_bool(s),
        Value::Memo(inner) if matches!(**inner, Value::Bool(_)) => to_bool(inner),
        other => Err(refuse(format!("expected bool, got {}", other.go_type()))),
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, ConvertError> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(refuse(format!(
            "strconv.ParseBool: parsing {s:?}: invalid syntax"
        ))),
    }
}

/// Map; null means none; text holding a JSON object (every number a float); a memo map.
pub fn to_map(value: &Value) -> Result<Option<Map>, ConvertError> {
    match value {
        Value::Map(m) => Ok(Some(m.clone())),
        Value::Null => Ok(None),
        Value::String(_) | Value::Bytes(_) => {
            let text = to_string(value)?;
            match parse_whole(&text, Numbers::Floats).map_err(|e| refuse(e.0))? {
                Value::Map(m) => Ok(Some(m)),
                Value::Null => Ok(None),
                other => Err(refuse(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                ))),
            }
        }
        Value::Memo(inner) if matches!(**inner, Value::Map(_)) => to_map(inner),
        other => Err(refuse(format!("expected map, got {}", other.go_type()))),
    }
}

/// List; null is empty; text holding a JSON array (every number a float). Memo lists are
/// refused, as in the reference.
pub fn to_list(value: &Value) -> Result<Vec<Value>, ConvertError> {
    match value {
        Value::List(l) => Ok(l.clone()),
        Value::Null => Ok(Vec::new()),
        Value::String(_) | Value::Bytes(_) => {
            let text = to_string(value)?;
            match parse_whole(&text, Numbers::Floats).map_err(|e| refuse(e.0))? {
                Value::List(l) => Ok(l),
                Value::Null => Ok(Vec::new()),
                other => Err(refuse(format!(
                    "json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))),
            }
        }
        other => Err(refuse(format!("expected slice, got {}", other.go_type()))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Map(_) => "object",
        Value::List(_) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        _ => "number",
    }
}

/// `allowedFaults`: literal unsigned decimal digits; empty means unset.
pub fn to_allowed_faults(text: &str) -> Result<Option<u64>, ConvertError> {
    if text.is_empty() {
        return Ok(None);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(format!(
            "strconv.ParseUint: parsing {text:?}: invalid syntax"
        )));
    }
    text.parse::<u64>().map(Some).map_err(|_| {
        refuse(format!(
            "strconv.ParseUint: parsing {text:?}: value out of range"
        ))
    })
}

/// `precision`: an `int32` from an integer kind or text with an optional sign; empty text or
/// null means unset.
pub fn to_precision(value: &Value) -> Result<Option<i32>, ConvertError> {
    let out_of_range = || refuse("precision out of int32 range");
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => {
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(refuse(format!(
                    "strconv.ParseInt: parsing {s:?}: invalid syntax"
                )));
            }
            s.parse::<i32>().map(Some).map_err(|_| {
                refuse(format!(
                    "strconv.ParseInt: parsing {s:?}: value out of range"
                ))
            })
        }
        Value::Int(i) => i32::try_from(*i).map(Some).map_err(|_| out_of_range()),
        Value::Decimal(_) | Value::BigInt(_) | Value::Float(_) => {
            let d = to_decimal(value)?;
            let i = d
                .to_i64()
                .ok_or_else(|| refuse(format!("precision {d} is not an integer")))?;
            i32::try_from(i).map(Some).map_err(|_| out_of_range())
        }
        other => Err(refuse(format!("expected int32, got {}", other.go_type()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(
            to_decimal(&Value::string("1.5e1")).unwrap().to_string(),
            "15"
        );
        assert_eq!(to_decimal(&Value::Float(0.1)).unwrap().to_string(), "0.1");
        assert_eq!(
            to_decimal(&Value::Memo(Box::new(Value::Decimal(17.into())))).unwrap(),
            Decimal::from(17)
        );
        assert_eq!(
            to_decimal(&Value::string("abc")).unwrap_err().to_string(),
            "can't convert abc to decimal: bad input for task"
        );
        assert_eq!(
            to_decimal(&Value::string(" 1")).unwrap_err().to_string(),
            "can't convert  1 to decimal: bad input for task"
        );
        assert_eq!(
            to_decimal(&Value::Bool(true)).unwrap_err().to_string(),
            "type bool cannot be converted to decimal.Decimal: bad input for task"
        );
        assert_eq!(
            to_decimal(&Value::Null).unwrap_err().to_string(),
            "type <nil> cannot be converted to decimal.Decimal: bad input for task"
        );
    }

    #[test]
    fn strings_bytes_bools() {
        assert_eq!(to_string(&Value::Bytes(b"hi".to_vec())).unwrap(), "hi");
        assert_eq!(
            to_string(&Value::Int(1)).unwrap_err().to_string(),
            "expected string, got int64: bad input for task"
        );
        assert_eq!(to_bytes(&Value::string("0xff")).unwrap(), vec![0xff]);
        assert_eq!(to_bytes(&Value::string("0xf")).unwrap(), b"0xf".to_vec());
        assert_eq!(to_bytes(&Value::string("0Xzz")).unwrap(), b"0Xzz".to_vec());
        assert_eq!(to_bytes(&Value::Null).unwrap(), Vec::<u8>::new());
        assert!(to_bytes(&Value::Map(Map::new())).is_err());
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(to_bool(&Value::string(t)).unwrap());
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert!(!to_bool(&Value::string(f)).unwrap());
        }
        assert!(to_bool(&Value::string("yes")).is_err());
    }

    #[test]
    fn maps_and_lists_from_text_use_floats() {
        let m = to_map(&Value::string(r#"{"a": 1}"#)).unwrap().unwrap();
        assert_eq!(m["a"], Value::Float(1.0));
        assert_eq!(to_map(&Value::Null).unwrap(), None);
        assert!(to_map(&Value::string("[1]")).is_err());
        assert_eq!(
            to_list(&Value::string("[1, 2]")).unwrap(),
            vec![Value::Float(1.0), Value::Float(2.0)]
        );
        assert!(to_list(&Value::Memo(Box::new(Value::List(vec![])))).is_err());
    }

    #[test]
    fn counts_and_precision() {
        assert_eq!(to_allowed_faults("").unwrap(), None);
        assert_eq!(to_allowed_faults("2").unwrap(), Some(2));
        assert!(to_allowed_faults(" 2").is_err());
        assert!(to_allowed_faults("-1").is_err());
        assert_eq!(to_precision(&Value::string("-2")).unwrap(), Some(-2));
        assert_eq!(to_precision(&Value::string("")).unwrap(), None);
        assert!(to_precision(&Value::string("99999999999")).is_err());
        assert_eq!(to_precision(&Value::Decimal(18.into())).unwrap(), Some(18));
    }
}
