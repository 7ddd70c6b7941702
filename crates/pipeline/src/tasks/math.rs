//! `multiply`, `divide`, `lessthan`: exact decimal arithmetic.

use super::{TaskError, at_most_one_input, both, check_inputs, no_errors, param, required_as};
use crate::value::convert::{to_decimal, to_precision};
use crate::value::decimal::DIVISION_PRECISION;
use crate::value::{Resolver, Source, Value};

const INPUT: &[Source] = &[Source::V, Source::L, Source::I];
const OPERAND: &[Source] = &[Source::V, Source::L];

/// `input` × `times`, exact.
pub fn multiply(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let (input, times) = both(
        required_as(r, "input", INPUT, to_decimal),
        required_as(r, "times", OPERAND, to_decimal),
    )?;
    input
        .mul(&times)
        .map(Value::Decimal)
        .map_err(|e| TaskError(e.to_string()))
}

/// `input` ÷ `divisor`, rounded half away from zero to `precision` places (16 by default).
pub fn divide(r: &Resolver<'_>) -> Result<Value, TaskError> {
    check_inputs(r.inputs(), -1, -1, 0)?;
    let input = required_as(r, "input", INPUT, to_decimal);
    let divisor = required_as(r, "divisor", OPERAND, to_decimal);
    let precision = precision(r);
    no_errors(&[
        input.as_ref().err(),
        divisor.as_ref().err(),
        precision.as_ref().err(),
    ])?;
    let precision = precision?.unwrap_or(DIVISION_PRECISION);
    input?
        .div_round(&divisor?, precision)
        .map(Value::Decimal)
        .map_err(|e| TaskError(e.to_string()))
}

/// The optional `precision` parameter (V, untrimmed L).
pub(crate) fn precision(r: &Resolver<'_>) -> Result<Option<i32>, TaskError> {
    match param(r, "precision", &[Source::V, Source::LRaw])? {
        None => Ok(None),
        Some(v) => to_precision(&v).map_err(|e| TaskError(format!("precision: {e}"))),
    }
}

/// `left < right`.
pub fn less_than(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let (left, right) = both(
        required_as(r, "left", INPUT, to_decimal),
        required_as(r, "right", OPERAND, to_decimal),
    )?;
    Ok(Value::Bool(left < right))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Decimal, Vars};
    use std::collections::BTreeMap;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn text(v: Value) -> String {
        match v {
            Value::Decimal(d) => d.to_string(),
            other => panic!("not a decimal: {other:?}"),
        }
    }

    fn call(
        f: fn(&Resolver<'_>) -> Result<Value, TaskError>,
        pairs: &[(&str, &str)],
        inputs: &[Value],
    ) -> Result<Value, TaskError> {
        let a = attrs(pairs);
        let mut vars = Vars::new();
        vars.set_output("dec", Value::Decimal(Decimal::parse("2.5").unwrap()));
        f(&Resolver::new(&a, &vars, inputs))
    }

    #[test]
    fn multiply_is_exact() {
        let m = |p: &[(&str, &str)], i: &[Value]| text(call(multiply, p, i).unwrap());
        assert_eq!(
            m(&[("input", "12345.678"), ("times", "1e18")], &[]),
            "12345678000000000000000"
        );
        assert_eq!(m(&[("times", "100")], &[Value::Float(0.1)]), "10");
        assert_eq!(m(&[("times", "$(dec)")], &[Value::string("-4")]), "-10");
        assert_eq!(
            m(
                &[("times", "1e18")],
                &[Value::BigInt("18446744073709551615".parse().unwrap())]
            ),
            "18446744073709551615000000000000000000"
        );
        assert_eq!(
            call(multiply, &[("input", "1")], &[]).unwrap_err().0,
            "times: parameter is empty"
        );
        assert_eq!(
            call(multiply, &[("input", "abc"), ("times", "x")], &[])
                .unwrap_err()
                .0,
            "input: can't convert abc to decimal: bad input for task\n\
             times: can't convert x to decimal: bad input for task"
        );
        assert_eq!(
            call(multiply, &[("times", "2")], &[]).unwrap_err().0,
            "input: index out of range"
        );
        assert_eq!(
            call(multiply, &[("input", "1e99999"), ("times", "1e99999")], &[])
                .unwrap_err()
                .0,
            "multiply overflow"
        );
        assert_eq!(
            call(multiply, &[("times", "2")], &[Value::Null])
                .unwrap_err()
                .0,
            "input: type <nil> cannot be converted to decimal.Decimal: bad input for task"
        );
    }

    #[test]
    fn divide_rounds() {
        let d = |p: &[(&str, &str)]| text(call(divide, p, &[]).unwrap());
        assert_eq!(
            d(&[("input", "12345.67"), ("divisor", "1e18")]),
            "0.0000000000000123"
        );
        assert_eq!(
            d(&[("input", "200"), ("divisor", "6"), ("precision", "18")]),
            "33.333333333333333333"
        );
        assert_eq!(
            d(&[
                ("input", "12345.67"),
                ("divisor", "1000"),
                ("precision", "-1")
            ]),
            "10"
        );
        assert_eq!(
            d(&[("input", "-2"), ("divisor", "3")]),
            "-0.6666666666666667"
        );
        assert_eq!(
            d(&[("input", "1"), ("divisor", "3"), ("precision", "")]),
            "0.3333333333333333"
        );
        assert_eq!(
            call(divide, &[("input", "1"), ("divisor", "0")], &[])
                .unwrap_err()
                .0,
            "divide by zero"
        );
        assert!(
            call(
                divide,
                &[("input", "1"), ("divisor", "2"), ("precision", " 2")],
                &[]
            )
            .unwrap_err()
            .0
            .starts_with("precision: ")
        );
        assert_eq!(
            text(call(divide, &[("divisor", "2")], &[Value::Int(5), Value::Int(7)]).unwrap()),
            "2.5",
            "divide takes any number of inputs and reads the first"
        );
    }

    #[test]
    fn less_than() {
        let lt = |p: &[(&str, &str)], i: &[Value]| call(super::less_than, p, i).unwrap();
        assert_eq!(lt(&[("left", "1"), ("right", "2")], &[]), Value::Bool(true));
        assert_eq!(
            lt(&[("right", "2")], &[Value::string("2.0")]),
            Value::Bool(false)
        );
        assert_eq!(
            lt(&[("left", "-1e30"), ("right", "$(dec)")], &[]),
            Value::Bool(true)
        );
        assert_eq!(
            call(super::less_than, &[("left", "1")], &[]).unwrap_err().0,
            "right: parameter is empty"
        );
    }
}
