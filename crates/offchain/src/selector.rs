//! Label selectors and labels written the kubectl way, e.g. `env=prod,type!=bootstrap`,
//! `env in (prod,test)`, `flag`, `!flag`.

use offchain_proto::label::{Label, Selector, SelectorOp};

/// Why a selector or label did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad selector {input:?}: {reason}")]
pub struct SelectorError {
    /// The whole text given.
    pub input: String,
    /// What is wrong, naming the offending part.
    pub reason: String,
}

/// Parses a comma-separated list of requirements into selectors (all must match).
///
/// | text | selector |
/// |---|---|
/// | `k=v`, `k==v` | `EQ` |
/// | `k!=v` | `NOT_EQ` |
/// | `k in (a, b)` | `IN` with value `a,b` |
/// | `k notin (a, b)` | `NOT_IN` with value `a,b` |
/// | `k` | `EXIST` |
/// | `!k` | `NOT_EXIST` |
///
/// ```
/// use offchain::selector::parse_selectors;
/// let selectors = parse_selectors("env in (prod, test),!bootstrap").unwrap();
/// assert_eq!(selectors.len(), 2);
/// assert_eq!(selectors[0].value.as_deref(), Some("prod,test"));
/// ```
pub fn parse_selectors(input: &str) -> Result<Vec<Selector>, SelectorError> {
    let fail = |reason: String| SelectorError {
        input: input.to_string(),
        reason,
    };
    split_top_level(input)
        .map_err(fail)?
        .into_iter()
        .map(|term| parse_requirement(term.trim()).map_err(fail))
        .collect()
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(input: &str) -> Result<Vec<&str>, String> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err("nested parentheses".into()),
            ')' if depth == 0 => return Err(format!("unexpected ')' at position {}", i + 1)),
            ')' => depth = 0,
            ',' if depth == 0 => {
                terms.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed '('".into());
    }
    terms.push(&input[start..]);
    if terms.iter().any(|t| t.trim().is_empty()) {
        return Err("empty requirement (check for stray commas)".into());
    }
    Ok(terms)
}

fn parse_requirement(term: &str) -> Result<Selector, String> {
    let selector = |key: &str, op: SelectorOp, value: Option<String>| -> Result<Selector, String> {
        Ok(Selector {
            key: checked_key(key, term)?,
            op: op as i32,
            value,
        })
    };
    if let Some(key) = term.strip_prefix('!') {
        return selector(key.trim(), SelectorOp::NotExist, None);
    }
    if let Some((key, value)) = term.split_once("!=") {
        return selector(
            key.trim(),
            SelectorOp::NotEq,
            Some(checked_value(value.trim(), term)?),
        );
    }
    if let Some((key, value)) = term.split_once('=') {
        let value = value.strip_prefix('=').unwrap_or(value);
        return selector(
            key.trim(),
            SelectorOp::Eq,
            Some(checked_value(value.trim(), term)?),
        );
    }
    if let Some(open) = term.find('(') {
        let head = term[..open].trim();
        let list = term[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("{term:?}: nothing may follow the closing ')'"))?;
        let (key, op) = if let Some(key) = head.strip_suffix(" notin") {
            (key, SelectorOp::NotIn)
        } else if let Some(key) = head.strip_suffix(" in") {
            (key, SelectorOp::In)
        } else {
            return Err(format!(
                "{term:?}: expected `key in (…)` or `key notin (…)`"
            ));
        };
        let items: Vec<&str> = list.split(',').map(str::trim).collect();
        if items.iter().any(|i| i.is_empty()) {
            return Err(format!("{term:?}: empty value in list"));
        }
        for item in &items {
            checked_value(item, term)?;
        }
        return selector(key.trim(), op, Some(items.join(",")));
    }
    selector(term, SelectorOp::Exist, None)
}

fn checked_key(key: &str, term: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err(format!("{term:?}: missing label key"));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| c.is_whitespace() || "=!(),".contains(*c))
    {
        return Err(format!("{term:?}: label key {key:?} contains {bad:?}"));
    }
    Ok(key.to_string())
}

fn checked_value(value: &str, term: &str) -> Result<String, String> {
    if let Some(bad) = value.chars().find(|c| "=!(),".contains(*c)) {
        return Err(format!("{term:?}: value {value:?} contains {bad:?}"));
    }
    Ok(value.to_string())
}

/// Parses one label: `key=value` or a bare `key` (a label without a value).
pub fn parse_label(input: &str) -> Result<Label, SelectorError> {
    let fail = |reason: String| SelectorError {
        input: input.to_string(),
        reason,
    };
    let input_trimmed = input.trim();
    let (key, value) = match input_trimmed.split_once('=') {
        Some((key, value)) => (key.trim(), Some(value.trim().to_string())),
        None => (input_trimmed, None),
    };
    let key = checked_key(key, input_trimmed).map_err(fail)?;
    Ok(Label { key, value })
}

/// Checks a selector built by hand, e.g. read from a file: a known operator, a key, and a
/// value (without empty list items) for the operators that compare one. The JD accepts such
/// selectors but they match nothing, which is never what was meant; the dry-run client
/// refuses them.
///
/// ```
/// use offchain::proto::label::{Selector, SelectorOp};
/// use offchain::selector::validate_selector;
/// let no_value = Selector { key: "env".into(), op: SelectorOp::Eq as i32, value: None };
/// assert!(validate_selector(&no_value).is_err());
/// ```
pub fn validate_selector(selector: &Selector) -> Result<(), SelectorError> {
    let fail = |reason: String| SelectorError {
        input: format_selectors(std::slice::from_ref(selector)),
        reason,
    };
    if selector.key.trim().is_empty() {
        return Err(fail("missing label key".into()));
    }
    let op = SelectorOp::try_from(selector.op)
        .map_err(|_| fail(format!("unknown operator {}", selector.op)))?;
    let value = selector.value.as_deref();
    match op {
        SelectorOp::Exist | SelectorOp::NotExist => Ok(()),
        SelectorOp::Eq | SelectorOp::NotEq => value
            .map(drop)
            .ok_or_else(|| fail(format!("{} needs a value", op.as_str_name()))),
        SelectorOp::In | SelectorOp::NotIn => match value {
            None => Err(fail(format!("{} needs a value list", op.as_str_name()))),
            Some(list) if list.split(',').any(|item| item.trim().is_empty()) => {
                Err(fail("empty value in list".into()))
            }
            Some(_) => Ok(()),
        },
    }
}

/// Writes selectors back in the syntax [`parse_selectors`] reads.
pub fn format_selectors(selectors: &[Selector]) -> String {
    let term = |s: &Selector| {
        let value = s.value.as_deref().unwrap_or("");
        match SelectorOp::try_from(s.op) {
            Ok(SelectorOp::Eq) => format!("{}={value}", s.key),
            Ok(SelectorOp::NotEq) => format!("{}!={value}", s.key),
            Ok(SelectorOp::In) => format!("{} in ({value})", s.key),
            Ok(SelectorOp::NotIn) => format!("{} notin ({value})", s.key),
            Ok(SelectorOp::Exist) => s.key.clone(),
            Ok(SelectorOp::NotExist) => format!("!{}", s.key),
            Err(_) => format!("{}?{value}", s.key),
        }
    };
    selectors.iter().map(term).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &str) -> (String, SelectorOp, Option<String>) {
        let mut parsed = parse_selectors(input).unwrap();
        assert_eq!(parsed.len(), 1, "{input}");
        let s = parsed.remove(0);
        (s.key, SelectorOp::try_from(s.op).unwrap(), s.value)
    }

    #[test]
    fn parses_all_six_operators() {
        assert_eq!(
            one("env=prod"),
            ("env".into(), SelectorOp::Eq, Some("prod".into()))
        );
        assert_eq!(
            one("env==prod"),
            ("env".into(), SelectorOp::Eq, Some("prod".into()))
        );
        assert_eq!(
            one("env != prod"),
            ("env".into(), SelectorOp::NotEq, Some("prod".into()))
        );
        assert_eq!(
            one("env in (prod, test)"),
            ("env".into(), SelectorOp::In, Some("prod,test".into()))
        );
        assert_eq!(
            one("env notin (a)"),
            ("env".into(), SelectorOp::NotIn, Some("a".into()))
        );
        assert_eq!(one("flag"), ("flag".into(), SelectorOp::Exist, None));
        assert_eq!(one("!flag"), ("flag".into(), SelectorOp::NotExist, None));
        assert_eq!(
            one("env="),
            ("env".into(), SelectorOp::Eq, Some(String::new()))
        );
    }

    #[test]
    fn splits_terms_outside_parentheses_only() {
        let parsed = parse_selectors("env in (prod,test),type!=bootstrap,!x").unwrap();
        assert_eq!(
            format_selectors(&parsed),
            "env in (prod,test),type!=bootstrap,!x"
        );
    }

    #[test]
    fn bad_input_names_the_problem() {
        for (input, needle) in [
            ("", "empty requirement"),
            ("env=prod,", "empty requirement"),
            ("env in (prod", "unclosed"),
            ("env in prod)", "unexpected ')'"),
            ("env in ((a))", "nested"),
            ("env within (a)", "expected `key in"),
            ("=prod", "missing label key"),
            ("!", "missing label key"),
            ("env in (a,,b)", "empty value"),
            ("my key=1", "contains ' '"),
            ("env=a=b", "contains '='"),
        ] {
            let err = parse_selectors(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn labels_with_and_without_values() {
        assert_eq!(parse_label("env=prod").unwrap(), Label::new("env", "prod"));
        assert_eq!(parse_label("bootstrap").unwrap(), Label::flag("bootstrap"));
        assert!(parse_label("=x").is_err());
    }
}
