//! `lookup`, `conditional`, `merge`, `memo`: maps, conditions and held values.

use super::{TaskError, at_most_one_input, both, check_inputs, param, required, required_as};
use crate::value::convert::{to_bool, to_decimal, to_map, to_string};
use crate::value::{Resolver, Source, Value};

/// The input map's value at `key`; null when the key is missing.
pub fn lookup(r: &Resolver<'_>) -> Result<Value, TaskError> {
    check_inputs(r.inputs(), 1, 1, 0)?;
    let key = match param(r, "key", &[Source::LRaw])? {
        Some(v) => to_string(&v).map_err(|e| TaskError(format!("key: {e}")))?,
        None => String::new(),
    };
    match &r.inputs()[0] {
        Value::Map(map) => Ok(map.get(&key).cloned().unwrap_or(Value::Null)),
        other => Err(TaskError(format!(
            "unexpected input type: {}",
            other.go_type()
        ))),
    }
}

/// `true` when `data` (V, I) is true; fails otherwise.
pub fn conditional(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    if required_as(r, "data", &[Source::V, Source::I], to_bool)? {
        Ok(Value::Bool(true))
    } else {
        Err(TaskError::new("conditional was not satisfied"))
    }
}

/// `left` merged with `right`, shallow; right's keys win, its nulls included.
pub fn merge(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let side = |name: &str, label: &str, sources: &[Source]| {
        let value = required(r, name, sources).map_err(|e| {
            TaskError(format!(
                "{label}: {}",
                e.0.strip_prefix(&format!("{name}: ")).unwrap_or(&e.0)
            ))
        })?;
        to_map(&value)
            .map(Option::unwrap_or_default)
            .map_err(|e| TaskError(format!("{label}: {e}")))
    };
    let (mut left, right) = both(
        side("left", "left-side", &[Source::V, Source::J, Source::I]),
        side("right", "right-side", &[Source::V, Source::J]),
    )?;
    left.extend(right);
    Ok(Value::Map(left))
}

/// The value (J, I) held as a memo object; numbers become decimals.
pub fn memo(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let value = required(r, "value", &[Source::J, Source::I])?;
    memo_of(value).map(|v| Value::Memo(Box::new(v)))
}

fn memo_of(value: Value) -> Result<Value, TaskError> {
    Ok(match value {
        Value::Int(_) | Value::BigInt(_) | Value::Float(_) => {
            Value::Decimal(to_decimal(&value).map_err(|e| TaskError(format!("value: {e}")))?)
        }
        Value::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        Value::Uuid(u) => Value::String(u.hyphenated().to_string()),
        Value::Memo(inner) => *inner,
        Value::Error(e) => return Err(TaskError(format!("value: {e}"))),
        other => other,
    })
}
