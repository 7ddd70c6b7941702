//! Matching label sets against selectors, as the operator API defines it.

use offchain_proto::label::{Label, Selector, SelectorOp};

/// Whether `labels` satisfy every one of `selectors` (an empty list matches everything).
pub fn matches_all(labels: &[Label], selectors: &[Selector]) -> bool {
    selectors.iter().all(|selector| matches(labels, selector))
}

/// Whether `labels` satisfy `selector`.
///
/// `EQ`, `NOT_EQ`, `IN` and `NOT_IN` need the key present *with* a value and a selector
/// value; a missing key or value never matches, not even for the negated forms.
pub fn matches(labels: &[Label], selector: &Selector) -> bool {
    let label = labels.iter().find(|l| l.key == selector.key);
    let Ok(op) = SelectorOp::try_from(selector.op) else {
        return false;
    };
    match op {
        SelectorOp::Exist => label.is_some(),
        SelectorOp::NotExist => label.is_none(),
        SelectorOp::Eq | SelectorOp::NotEq | SelectorOp::In | SelectorOp::NotIn => {
            let (Some(have), Some(want)) = (
                label.and_then(|l| l.value.as_deref()),
                selector.value.as_deref(),
            ) else {
                return false;
            };
            match op {
                SelectorOp::Eq => have == want,
                SelectorOp::NotEq => have != want,
                SelectorOp::In => want.split(',').any(|item| item.trim() == have),
                _ => !want.split(',').any(|item| item.trim() == have),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(key: &str, op: SelectorOp, value: Option<&str>) -> Selector {
        Selector {
            key: key.into(),
            op: op as i32,
            value: value.map(Into::into),
        }
    }

    fn labels() -> Vec<Label> {
        vec![Label::new("env", "prod"), Label::flag("bootstrap")]
    }

    #[test]
    fn equality_needs_key_and_value() {
        assert!(matches(
            &labels(),
            &sel("env", SelectorOp::Eq, Some("prod"))
        ));
        assert!(!matches(
            &labels(),
            &sel("env", SelectorOp::Eq, Some("test"))
        ));
        assert!(matches(
            &labels(),
            &sel("env", SelectorOp::NotEq, Some("test"))
        ));
        assert!(!matches(
            &labels(),
            &sel("missing", SelectorOp::NotEq, Some("x"))
        ));
        assert!(!matches(
            &labels(),
            &sel("bootstrap", SelectorOp::NotEq, Some("x"))
        ));
        assert!(!matches(&labels(), &sel("env", SelectorOp::Eq, None)));
    }

    #[test]
    fn in_lists_are_trimmed() {
        assert!(matches(
            &labels(),
            &sel("env", SelectorOp::In, Some("test, prod "))
        ));
        assert!(!matches(
            &labels(),
            &sel("env", SelectorOp::In, Some("test,dev"))
        ));
        assert!(matches(
            &labels(),
            &sel("env", SelectorOp::NotIn, Some("test, dev"))
        ));
        assert!(!matches(
            &labels(),
            &sel("env", SelectorOp::NotIn, Some("prod"))
        ));
        assert!(!matches(
            &labels(),
            &sel("missing", SelectorOp::NotIn, Some("prod"))
        ));
    }

    #[test]
    fn existence_ignores_values() {
        assert!(matches(
            &labels(),
            &sel("bootstrap", SelectorOp::Exist, None)
        ));
        assert!(matches(
            &labels(),
            &sel("env", SelectorOp::Exist, Some("ignored"))
        ));
        assert!(matches(
            &labels(),
            &sel("missing", SelectorOp::NotExist, None)
        ));
        assert!(!matches(&labels(), &sel("env", SelectorOp::NotExist, None)));
    }

    #[test]
    fn unknown_op_matches_nothing() {
        let selector = Selector {
            key: "env".into(),
            op: 42,
            value: Some("prod".into()),
        };
        assert!(!matches(&labels(), &selector));
        assert!(matches_all(&labels(), &[]));
    }
}
