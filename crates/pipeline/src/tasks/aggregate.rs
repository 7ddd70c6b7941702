//! The aggregates `sum`, `mean`, `median`, `mode`, and `any`: the tasks that decide for
//! themselves how many failed inputs they tolerate (spec §4, "Aggregates").

use std::collections::HashMap;

use super::math::precision;
use super::{Random, TaskError, flag, no_errors, param};
use crate::value::convert::{to_allowed_faults, to_decimal, to_list};
use crate::value::decimal::DIVISION_PRECISION;
use crate::value::render::{go_v_float, to_json};
use crate::value::{Decimal, Map, Resolver, Source, Value};

/// `values` and `allowedFaults` resolved and checked: the non-error entries. `allowed_floor`
/// is median's rule (an unset `allowedFaults` never goes below zero).
fn good_entries(
    r: &Resolver<'_>,
    task: &str,
    allowed_floor: bool,
    extra: Option<&TaskError>,
) -> Result<Vec<Value>, TaskError> {
    let values = param(r, "values", &[Source::V, Source::JWithErrors, Source::IS]).and_then(|v| {
        to_list(&v.unwrap_or(Value::Null)).map_err(|e| TaskError(format!("values: {e}")))
    });
    let allowed = param(r, "allowedFaults", &[Source::LRaw]).and_then(|v| match v {
        Some(Value::String(s)) => {
            to_allowed_faults(&s).map_err(|e| TaskError(format!("allowedFaults: {e}")))
        }
        _ => Ok(None),
    });
    no_errors(&[values.as_ref().err(), allowed.as_ref().err(), extra])?;
    let (values, allowed) = (values?, allowed?);
    let n = values.len() as i128;
    let allowed = match allowed {
        Some(a) => i128::from(a),
        None if allowed_floor => (n - 1).max(0),
        None => n - 1,
    };
    let faults = values.iter().filter(|v| v.is_error()).count() as i128;
    if faults > allowed {
        return Err(TaskError(format!(
            "Number of faulty inputs {faults} to {task} task > number allowed faults {allowed}: \
             too many errors"
        )));
    }
    Ok(values.into_iter().filter(|v| !v.is_error()).collect())
}

fn decimals(values: &[Value]) -> Result<Vec<Decimal>, TaskError> {
    values
        .iter()
        .map(|v| to_decimal(v).map_err(|e| TaskError(format!("values: {e}"))))
        .collect()
}

fn nonempty(values: Vec<Value>) -> Result<Vec<Value>, TaskError> {
    if values.is_empty() {
        Err(TaskError::new("values: wrong number of task inputs"))
    } else {
        Ok(values)
    }
}

fn total(values: &[Decimal]) -> Decimal {
    values.iter().fold(Decimal::zero(), |acc, d| acc.add(d))
}

/// The sum of the values.
pub fn sum(r: &Resolver<'_>) -> Result<Value, TaskError> {
    let values = nonempty(good_entries(r, "sum", false, None)?)?;
    Ok(Value::Decimal(total(&decimals(&values)?)))
}

/// The mean of the values, to `precision` places (16 by default).
pub fn mean(r: &Resolver<'_>) -> Result<Value, TaskError> {
    let precision = precision(r);
    let values = nonempty(good_entries(r, "mean", false, precision.as_ref().err())?)?;
    let values = decimals(&values)?;
    let count = Decimal::from(values.len() as i64);
    total(&values)
        .div_round(&count, precision?.unwrap_or(DIVISION_PRECISION))
        .map(Value::Decimal)
        .map_err(|e| TaskError(e.to_string()))
}

/// The median: the middle value as given, or the mean of the two middle ones (16 places).
/// With `lax`, nulls are dropped first and nothing left gives null.
pub fn median(r: &Resolver<'_>) -> Result<Value, TaskError> {
    let lax = flag(r, "lax");
    let mut values = good_entries(r, "median", true, lax.as_ref().err())?;
    if lax? {
        values.retain(|v| *v != Value::Null);
        if values.is_empty() {
            return Ok(Value::Null);
        }
    }
    if values.is_empty() {
        return Err(TaskError::new(
            "no values to medianize: wrong number of task inputs",
        ));
    }
    let mut values = decimals(&values)?;
    values.sort();
    let k = values.len() / 2;
    if values.len() % 2 == 1 {
        return Ok(Value::Decimal(values.swap_remove(k)));
    }
    values[k - 1]
        .add(&values[k])
        .div_round(&Decimal::from(2), DIVISION_PRECISION)
        .map(Value::Decimal)
        .map_err(|e| TaskError(e.to_string()))
}

/// The most frequent values: `{"results": [...], "occurrences": N}`. Values are compared by
/// their canonical text, so `1.234` as decimal, float and string are one value; ties are
/// listed in the order each reached the top count.
pub fn mode(r: &Resolver<'_>) -> Result<Value, TaskError> {
    let values = nonempty(good_entries(r, "mode", false, None)?)?;
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut top = 0u64;
    let mut modes: Vec<Value> = Vec::new();
    for value in values {
        let count = counts.entry(canonical(&value)).or_insert(0);
        *count += 1;
        if *count > top {
            top = *count;
            modes = vec![value];
        } else if *count == top {
            modes.push(value);
        }
    }
    let mut out = Map::new();
    out.insert("results".into(), Value::List(modes));
    out.insert("occurrences".into(), Value::Int(top as i64));
    Ok(Value::Map(out))
}

/// The text `mode` compares values by: Go's `%v` for scalars, raw bytes, JSON otherwise.
fn canonical(value: &Value) -> Vec<u8> {
    match value {
        Value::Decimal(d) => d.to_string().into_bytes(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::BigInt(i) => i.to_string().into_bytes(),
        Value::Float(f) => go_v_float(*f).into_bytes(),
        Value::String(s) => s.clone().into_bytes(),
        Value::Bytes(b) => b.clone(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Null => b"<nil>".to_vec(),
        other => to_json(other).into_bytes(),
    }
}

/// A uniformly random non-failed input.
pub fn any(r: &Resolver<'_>, random: &dyn Random) -> Result<Value, TaskError> {
    if r.inputs().is_empty() {
        return Err(TaskError::new(
            "AnyTask requires at least 1 input: wrong number of task inputs",
        ));
    }
    let good: Vec<&Value> = r.inputs().iter().filter(|v| !v.is_error()).collect();
    if good.is_empty() {
        return Err(TaskError::new(
            "There were zero non-errored inputs: bad input for task",
        ));
    }
    let index = random.pick(good.len()).min(good.len() - 1);
    Ok(good[index].clone())
}
