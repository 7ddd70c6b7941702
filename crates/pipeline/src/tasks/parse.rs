//! `jsonparse`: a value out of a JSON document.

use super::{TaskError, at_most_one_input, flag, no_errors, param, required_as};
use crate::value::convert::{to_bytes, to_string};
use crate::value::json::{Numbers, parse_first};
use crate::value::{Resolver, Source, Value};

/// `data` (V, I, as bytes), `path` (V, L split on `separator`), `lax`: the value at `path`.
pub fn json_parse(r: &Resolver<'_>) -> Result<Value, TaskError> {
    at_most_one_input(r)?;
    let separator = param(r, "separator", &[Source::LRaw]).and_then(|v| {
        let text = v.map(|v| to_string(&v)).transpose();
        text.map_err(|e| TaskError(format!("separator: {e}")))
    });
    let path = param(r, "path", &[Source::V, Source::LRaw]);
    let data = required_as(r, "data", &[Source::V, Source::I], to_bytes);
    let lax = flag(r, "lax");
    no_errors(&[
        separator.as_ref().err(),
        path.as_ref().err(),
        data.as_ref().err(),
        lax.as_ref().err(),
    ])?;
    let separator = match separator?.unwrap_or_default() {
        s if s.is_empty() => ",".to_owned(),
        s => s,
    };
    let path = path_segments(path?.unwrap_or(Value::Null), &separator)?;
    let (data, lax) = (data?, lax?);
    let text = String::from_utf8_lossy(&data);
    let document = parse_first(&text, Numbers::Exact).map_err(|e| TaskError(e.0))?;
    lookup_path(document, &path, lax, &text)
}

/// The path as segments: a list of strings, or text split on the separator ("" = none).
fn path_segments(value: Value, separator: &str) -> Result<Vec<String>, TaskError> {
    let bad = |what: &str| TaskError(format!("path: {what}: bad input for task"));
    match value {
        Value::Null => Ok(Vec::new()),
        Value::List(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(bad(&format!("path part is a {}", other.go_type()))),
            })
            .collect(),
        Value::String(_) | Value::Bytes(_) => {
            let text = to_string(&value).map_err(|e| TaskError(format!("path: {e}")))?;
            if text.is_empty() {
                Ok(Vec::new())
            } else {
                Ok(text.split(separator).map(str::to_owned).collect())
            }
        }
        other => Err(bad(&format!(
            "expected string or list, got {}",
            other.go_type()
        ))),
    }
}

fn lookup_path(
    mut current: Value,
    path: &[String],
    lax: bool,
    data: &str,
) -> Result<Value, TaskError> {
    let not_found = || {
        TaskError(format!(
            "could not resolve path [\"{}\"] in {data}: keypath not found",
            path.join("\",\"")
        ))
    };
    for (i, segment) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let next = match current {
            Value::Map(mut map) => map.remove(segment.as_str()),
            Value::List(mut list) => {
                let digits = segment.strip_prefix(['-', '+']).unwrap_or(segment);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(TaskError(format!(
                        "JSONParse task error: {segment} is not a valid array index"
                    )));
                }
                let len = list.len() as i64;
                match segment.parse::<i64>() {
                    Ok(index) => {
                        let index = if index < 0 { len + index } else { index };
                        (0..len)
                            .contains(&index)
                            .then(|| list.swap_remove(index as usize))
                    }
                    Err(_) => None, // beyond i64: out of range
                }
            }
            _ => return Err(not_found()),
        };
        current = match next {
            Some(v) => v,
            None if lax && last => return Ok(Value::Null),
            None => return Err(not_found()),
        };
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Vars;
    use std::collections::BTreeMap;

    fn run(pairs: &[(&str, &str)], inputs: &[Value]) -> Result<Value, TaskError> {
        let attrs: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let vars = Vars::new();
        json_parse(&Resolver::new(&attrs, &vars, inputs))
    }

    const DOC: &str = r#"{"data": {"price": 12345.678, "big": 123456789012345678901234567890, "list": [1, 2, 3], "nil": null}}"#;

    #[test]
    fn paths() {
        let input = [Value::string(DOC)];
        assert_eq!(
            run(&[("path", "data,price")], &input).unwrap(),
            Value::Float(12345.678)
        );
        assert_eq!(
            run(&[("path", "data.list.-1"), ("separator", ".")], &input).unwrap(),
            Value::Int(3)
        );
        assert_eq!(
            run(&[("path", "data,big")], &input).unwrap(),
            Value::BigInt("123456789012345678901234567890".parse().unwrap())
        );
        assert_eq!(run(&[("path", "data,nil")], &input).unwrap(), Value::Null);
        assert!(matches!(run(&[], &input).unwrap(), Value::Map(_)));
        assert_eq!(
            run(
                &[("path", "a::b"), ("separator", "::")],
                &[Value::string(r#"{"a":{"b":true}}"#)]
            )
            .unwrap(),
            Value::Bool(true)
        );
    }

    #[test]
    fn missing_paths_and_lax() {
        let input = [Value::string(r#"{"a": [1]}"#)];
        assert_eq!(
            run(&[("path", "a,5")], &input).unwrap_err().0,
            r#"could not resolve path ["a","5"] in {"a": [1]}: keypath not found"#
        );
        assert_eq!(
            run(&[("path", "a,5"), ("lax", "true")], &input).unwrap(),
            Value::Null
        );
        assert_eq!(
            run(
                &[("path", "a,99999999999999999999"), ("lax", "true")],
                &input
            )
            .unwrap(),
            Value::Null
        );
        assert_eq!(
            run(&[("path", "zz"), ("lax", "true")], &input).unwrap(),
            Value::Null
        );
        assert!(run(&[("path", "zz,y"), ("lax", "true")], &input).is_err());
        assert_eq!(
            run(&[("path", "a,x")], &input).unwrap_err().0,
            "JSONParse task error: x is not a valid array index"
        );
        assert!(
            run(&[("path", "a,0,b")], &input)
                .unwrap_err()
                .0
                .ends_with("keypath not found")
        );
    }

    #[test]
    fn data_sources_and_errors() {
        assert_eq!(run(&[], &[]).unwrap_err().0, "data: index out of range");
        assert_eq!(
            run(&[("data", "{\"a\":1}")], &[]).unwrap_err().0,
            "data: index out of range",
            "a literal data is ignored"
        );
        assert!(
            run(&[], &[Value::Map(Default::default())])
                .unwrap_err()
                .0
                .starts_with("data: ")
        );
        assert_eq!(
            run(&[], &[Value::string("{bad")]).unwrap_err().0,
            "invalid character 'b' looking for beginning of object key string"
        );
        assert_eq!(
            run(&[], &[Value::string("1"), Value::string("2")])
                .unwrap_err()
                .0,
            "task inputs: min: 0 max: 1 (got 2): wrong number of task inputs"
        );
        assert_eq!(
            run(&[], &[Value::Error("x".into())]).unwrap_err().0,
            "task inputs: too many errors"
        );
        assert_eq!(
            run(&[("path", "a")], &[Value::string(r#"{"a":1} {"a":2}"#)]).unwrap(),
            Value::Int(1)
        );
        assert_eq!(
            run(&[("path", "a"), ("lax", "maybe")], &[Value::string("{}")])
                .unwrap_err()
                .0,
            "lax: strconv.ParseBool: parsing \"maybe\": invalid syntax: bad input for task"
        );
    }
}
