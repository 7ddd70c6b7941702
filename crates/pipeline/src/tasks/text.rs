//! Text and byte tasks: `length`, `lowercase`, `uppercase`, `hexencode`, `hexdecode`,
//! `base64encode`, `base64decode`.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::{TaskError, at_most_one_input, required, required_as};
use crate::value::convert::{to_bytes, to_decimal, to_string};
use crate::value::{Decimal, Resolver, Source, Value};

const INPUT: &[Source] = &[Source::V, Source::L, Source::I];

/// Go's `base64.StdEncoding`: padding required, non-zero trailing bits tolerated.
const STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// The byte count of `input` (as bytes: a `0x…` string counts decoded bytes).
pub fn length(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let bytes = required_as(r, "input", INPUT, to_bytes)?;
    Ok(Value::Decimal(Decimal::from(bytes.len() as i64)))
}

/// Unicode lower case, one character at a time (Go's `strings.ToLower`).
pub fn lowercase(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let text = required_as(r, "input", INPUT, to_string)?;
    Ok(Value::String(text.chars().map(simple_lower).collect()))
}

/// Unicode upper case, one character at a time (Go's `strings.ToUpper`).
pub fn uppercase(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let text = required_as(r, "input", INPUT, to_string)?;
    Ok(Value::String(text.chars().map(simple_upper).collect()))
}

/// Go maps each character to one character (Unicode simple case mapping); Rust's full
/// mapping may give several (`ß` → `SS`), where Go keeps the character. `İ` is the one
/// letter whose simple lower case differs from the first of its full mapping's characters.
fn simple_lower(c: char) -> char {
    if c == 'İ' {
        return 'i';
    }
    single(c.to_lowercase()).unwrap_or(c)
}

fn simple_upper(c: char) -> char {
    single(c.to_uppercase()).unwrap_or(c)
}

fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// `0x` + lower-case hex of a string's bytes or of bytes, or of a non-negative integer's
/// value; `""` for empty input.
pub fn hex_encode(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let value = required(r, "input", INPUT)?;
    let prefixed = |hex: String| {
        Value::String(if hex.is_empty() {
            hex
        } else {
            format!("0x{hex}")
        })
    };
    match &value {
        Value::Bytes(b) => return Ok(prefixed(hex::encode(b))),
        Value::String(s) => return Ok(prefixed(hex::encode(s))),
        _ => {}
    }
    if let Ok(s) = to_string(&value) {
        return Ok(prefixed(hex::encode(s)));
    }
    if let Ok(b) = to_bytes(&value) {
        return Ok(prefixed(hex::encode(b)));
    }
    let number = to_decimal(&value).map_err(|e| TaskError(format!("input: {e}")))?;
    let Some(integer) = number.to_integer() else {
        return Err(TaskError::new("decimal input"));
    };
    if number.is_negative() {
        return Err(TaskError::new("negative integer"));
    }
    Ok(prefixed(integer.to_str_radix(16)))
}

/// Bytes from `0x`-prefixed hex.
pub fn hex_decode(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let text = required_as(r, "input", INPUT, to_string)?;
    let Some(digits) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) else {
        return Err(TaskError::new("hex string must have prefix 0x"));
    };
    hex::decode(digits).map(Value::Bytes).map_err(|e| {
        TaskError(format!(
            "failed to decode hex string: {}",
            go_hex_error(e, digits)
        ))
    })
}

/// Go's `encoding/hex` error texts.
fn go_hex_error(e: hex::FromHexError, digits: &str) -> String {
    match e {
        hex::FromHexError::InvalidHexCharacter { c, .. } => {
            format!("encoding/hex: invalid byte: U+{:04X} {c:?}", c as u32)
        }
        _ if digits.len() % 2 == 1 => "encoding/hex: odd length hex string".to_owned(),
        other => other.to_string(),
    }
}

/// Standard padded base64 of a string's or bytes' bytes.
pub fn base64_encode(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let value = required(r, "input", INPUT)?;
    let bytes = match &value {
        Value::String(s) => s.as_bytes().to_vec(),
        other => to_bytes(other).map_err(|e| TaskError(format!("input: {e}")))?,
    };
    Ok(Value::String(STD_BASE64.encode(bytes)))
}

/// Bytes from standard padded base64; CR and LF are skipped.
pub fn base64_decode(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let text = required_as(r, "input", INPUT, to_string)?;
    let cleaned: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    STD_BASE64
        .decode(cleaned.as_bytes())
        .map(Value::Bytes)
        .map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(at, _)
                | base64::DecodeError::InvalidLastSymbol(at, _) => at,
                // Go reports an incomplete last quantum at its start.
                _ => cleaned.len() - cleaned.len() % 4,
            };
            TaskError(format!(
                "failed to decode base64 string: illegal base64 data at input byte {at}"
            ))
        })
}
