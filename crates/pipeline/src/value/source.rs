//! How a task attribute gets its value (spec §3.6): the sources V, J, L, I and IS, tried in a
//! per-parameter order, and the project's text interpolation of `$(path)` in plain strings.

use std::collections::BTreeMap;

use super::json::{SlotParseError, match_slot, parse_with_slots};
use super::render::to_json;
use super::{Value, Vars};

/// One place a parameter's value may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The trimmed attribute is exactly `$(path)`: that variable, any kind.
    V,
    /// The attribute is JSON whose `$(path)` slots hold variables; error markers refused.
    J,
    /// As [`Source::J`], but error markers are kept (aggregates' `values`).
    JWithErrors,
    /// The attribute text, trimmed, `$(path)` interpolated; empty = absent.
    L,
    /// The attribute text untrimmed, `$(path)` interpolated; never absent (missing = `""`).
    LRaw,
    /// The first explicit-edge input; none is an error (`index out of range`).
    I,
    /// All explicit-edge inputs as a list, error markers included.
    IS,
}

/// A source that failed; the text is the reference's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Resolves one task's parameters from its attributes, the run variables and its inputs.
#[derive(Debug, Clone, Copy)]
pub struct Resolver<'a> {
    attrs: &'a BTreeMap<String, String>,
    vars: &'a Vars,
    inputs: &'a [Value],
}

impl<'a> Resolver<'a> {
    /// `attrs` are the task's attributes after DOT value decoding (§2.4: `<…>` already
    /// stripped); `inputs` are the explicit-edge inputs in order (§3.6), failed ones as error
    /// markers.
    pub fn new(attrs: &'a BTreeMap<String, String>, vars: &'a Vars, inputs: &'a [Value]) -> Self {
        Self {
            attrs,
            vars,
            inputs,
        }
    }

    /// The explicit-edge inputs.
    pub fn inputs(&self) -> &'a [Value] {
        self.inputs
    }

    /// The run variables.
    pub fn vars(&self) -> &'a Vars {
        self.vars
    }

    /// The raw attribute text; keys match case-insensitively, as in the reference.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        self.attrs
            .get(name)
            .or_else(|| {
                self.attrs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }

    /// The first source that is not absent; `Ok(None)` when all are absent.
    pub fn resolve(&self, name: &str, sources: &[Source]) -> Result<Option<Value>, SourceError> {
        for source in sources {
            if let Some(value) = self.one_source(name, *source)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    fn one_source(&self, name: &str, source: Source) -> Result<Option<Value>, SourceError> {
        let text = self.attr(name);
        match source {
            Source::V => text.map_or(Ok(None), |t| self.whole_variable(t)),
            Source::J => text.map_or(Ok(None), |t| self.json(t, false)),
            Source::JWithErrors => text.map_or(Ok(None), |t| self.json(t, true)),
            Source::L => match text.map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => self.interpolate(t).map(|s| Some(Value::String(s))),
            },
            Source::LRaw => self
                .interpolate(text.unwrap_or(""))
                .map(|s| Some(Value::String(s))),
            Source::I => match self.inputs.first() {
                None => Err(SourceError("index out of range".into())),
                Some(Value::Error(e)) => Err(SourceError(e.clone())),
                Some(v) => Ok(Some(v.clone())),
            },
            Source::IS => Ok(Some(Value::List(self.inputs.to_vec()))),
        }
    }

    /// V: the trimmed text is exactly `$(path)` with a single `$`.
    fn whole_variable(&self, text: &str) -> Result<Option<Value>, SourceError> {
        let trimmed = text.trim();
        let is_variable = trimmed.len() >= 3
            && trimmed.starts_with("$(")
            && trimmed.ends_with(')')
            && trimmed.matches('$').count() == 1;
        if !is_variable {
            return Ok(None);
        }
        let path = trimmed[2..trimmed.len() - 1].trim();
        if path.is_empty() {
            return Ok(None);
        }
        match self.vars.get(path) {
            Err(e) => Err(SourceError(e.to_string())),
            Ok(Value::Error(e)) => Err(SourceError(format!("VarExpr: {e}: too many errors"))),
            Ok(v) => Ok(Some(v.clone())),
        }
    }

    /// J: JSON with `$(path)` value slots.
    fn json(&self, text: &str, allow_errors: bool) -> Result<Option<Value>, SourceError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let vars = self.vars;
        let mut resolve = |path: &str| match vars.get(path) {
            Err(e) => Err(e.to_string()),
            Ok(Value::Error(e)) if !allow_errors => {
                Err(format!("error is not allowed: {e}: bad input for task"))
            }
            Ok(v) => Ok(v.clone()),
        };
        parse_with_slots(text, &mut resolve).map(Some).map_err(|e| {
            SourceError(match e {
                SlotParseError::Resolve(m) => m,
                SlotParseError::Syntax(j) => {
                    format!("while unmarshalling JSON: {j}; context: {text}: bad input for task")
                }
                SlotParseError::SlotInString(p) => format!(
                    "while unmarshalling JSON: variable $({p}) cannot stand inside a JSON string \
                     or key; context: {text}: bad input for task"
                ),
            })
        })
    }

    /// Project: every `$(path)` in plain text is replaced by the variable's text.
    pub fn interpolate(&self, text: &str) -> Result<String, SourceError> {
        if !text.contains("$(") {
            return Ok(text.to_owned());
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("$(") {
            out.push_str(&rest[..at]);
            match match_slot(&rest[at..]) {
                Some((len, path)) => {
                    let value = self
                        .vars
                        .get(path)
                        .map_err(|e| SourceError(e.to_string()))?;
                    out.push_str(&interpolation_text(value)?);
                    rest = &rest[at + len..];
                }
                None => {
                    out.push_str("$(");
                    rest = &rest[at + 2..];
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The text a value takes inside a string: strings as is, decimals as §3.2 text, bytes as
/// `0x…` hex, UUIDs canonical, memo objects as their content, others as compact JSON.
pub fn interpolation_text(value: &Value) -> Result<String, SourceError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Decimal(d) => Ok(d.to_string()),
        Value::Bytes(b) => Ok(format!("0x{}", hex::encode(b))),
        Value::Uuid(u) => Ok(u.hyphenated().to_string()),
        Value::Memo(inner) => interpolation_text(inner),
        Value::Error(e) => Err(SourceError(format!("VarExpr: {e}: too many errors"))),
        other => Ok(to_json(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Decimal;

    fn setup() -> (BTreeMap<String, String>, Vars) {
        let mut vars = Vars::new();
        vars.set_output("a", Value::Decimal(Decimal::parse("1.50").unwrap()));
        vars.set_output("s", Value::string("x y"));
        vars.set_error("bad", "boom");
        (BTreeMap::new(), vars)
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn order_and_absence() {
        let (_, vars) = setup();
        let a = attrs(&[("times", " $(a) "), ("lit", "  10 "), ("Key", "k")]);
        let inputs = [Value::Int(5)];
        let r = Resolver::new(&a, &vars, &inputs);
        let dec = Value::Decimal(Decimal::parse("1.5").unwrap());
        assert_eq!(
            r.resolve("times", &[Source::V, Source::L]).unwrap(),
            Some(dec)
        );
        assert_eq!(
            r.resolve("lit", &[Source::V, Source::L]).unwrap(),
            Some(Value::string("10"))
        );
        assert_eq!(
            r.resolve("lit", &[Source::LRaw]).unwrap(),
            Some(Value::string("  10 "))
        );
        assert_eq!(
            r.resolve("key", &[Source::L]).unwrap(),
            Some(Value::string("k"))
        );
        assert_eq!(
            r.resolve("missing", &[Source::V, Source::L, Source::I])
                .unwrap(),
            Some(Value::Int(5))
        );
        assert_eq!(
            r.resolve("missing", &[Source::V, Source::J, Source::L])
                .unwrap(),
            None
        );
        let none: [Value; 0] = [];
        let r = Resolver::new(&a, &vars, &none);
        assert_eq!(
            r.resolve("missing", &[Source::I]).unwrap_err().0,
            "index out of range"
        );
    }

    #[test]
    fn whole_variable_errors() {
        let (_, vars) = setup();
        let a = attrs(&[("x", "$(bad)"), ("y", "$(nope)"), ("z", "$(a)$(a)")]);
        let r = Resolver::new(&a, &vars, &[]);
        assert_eq!(
            r.resolve("x", &[Source::V]).unwrap_err().0,
            "VarExpr: boom: too many errors"
        );
        assert_eq!(
            r.resolve("y", &[Source::V]).unwrap_err().0,
            "key nope (segment 0 in keypath nope): keypath not found"
        );
        assert_eq!(r.resolve("z", &[Source::V]).unwrap(), None);
    }

    #[test]
    fn json_slots() {
        let (_, vars) = setup();
        let a = attrs(&[
            ("list", "[ $(a), $(s) ]"),
            ("errs", "[$(bad), 1]"),
            ("instr", r#"{"k": "$(a)"}"#),
            ("bare", "hi"),
        ]);
        let r = Resolver::new(&a, &vars, &[]);
        assert_eq!(
            r.resolve("list", &[Source::J]).unwrap(),
            Some(Value::List(vec![
                Value::Decimal(Decimal::parse("1.5").unwrap()),
                Value::string("x y")
            ]))
        );
        assert_eq!(
            r.resolve("errs", &[Source::J]).unwrap_err().0,
            "error is not allowed: boom: bad input for task"
        );
        assert_eq!(
            r.resolve("errs", &[Source::JWithErrors]).unwrap(),
            Some(Value::List(vec![
                Value::Error("boom".into()),
                Value::Int(1)
            ]))
        );
        assert!(
            r.resolve("instr", &[Source::J])
                .unwrap_err()
                .0
                .contains("$(a)")
        );
        assert_eq!(
            r.resolve("bare", &[Source::J]).unwrap_err().0,
            "while unmarshalling JSON: invalid character 'h' looking for beginning of value; \
             context: hi: bad input for task"
        );
    }

    #[test]
    fn interpolation() {
        let (_, vars) = setup();
        let a = attrs(&[("url", "http://h/$(s)/$( a )?q=$(my-task)")]);
        let r = Resolver::new(&a, &vars, &[]);
        assert_eq!(
            r.resolve("url", &[Source::V, Source::L]).unwrap(),
            Some(Value::string("http://h/x y/1.5?q=$(my-task)"))
        );
        assert_eq!(
            r.interpolate("$(bad)").unwrap_err().0,
            "VarExpr: boom: too many errors"
        );
        assert_eq!(
            interpolation_text(&Value::List(vec![Value::Int(1)])).unwrap(),
            "[1]"
        );
    }
}
