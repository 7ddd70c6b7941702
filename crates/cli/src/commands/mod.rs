//! The client commands: each turns its arguments into one or a few library calls and hands
//! the answer to the printer.

pub mod csa;
pub mod jobs;
pub mod nodes;
pub mod proposals;

use anyhow::Result;
use offchain::proto::label::{Label, Selector};
use offchain::selector;

use crate::UsageError;
use crate::args::ClientArgs;
use crate::client::Jd;
use crate::output::Printer;

/// Connects as `args` say and gives the command its client and printer.
pub async fn connect(args: &ClientArgs) -> Result<(Jd, Printer)> {
    let jd = Jd::connect(args).await?;
    Ok((jd, Printer::new(args.format)))
}

/// Parses every `-l` given; all their requirements must match.
pub fn parse_selectors(texts: &[String]) -> Result<Vec<Selector>> {
    let mut selectors = Vec::new();
    for text in texts {
        let parsed = selector::parse_selectors(text).map_err(|e| UsageError(e.to_string()))?;
        selectors.extend(parsed);
    }
    Ok(selectors)
}

/// Parses every `--label`.
pub fn parse_labels(texts: &[String]) -> Result<Vec<Label>> {
    texts
        .iter()
        .map(|text| {
            selector::parse_label(text)
                .map_err(|e| UsageError(e.to_string().replacen("selector", "label", 1)).into())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_selector_flags_add_up_and_bad_ones_are_usage_errors() {
        let parsed = parse_selectors(&["env=prod".into(), "!bootstrap".into()]).unwrap();
        assert_eq!(parsed.len(), 2);
        let err = parse_selectors(&["env in (a".into()]).unwrap_err();
        assert!(err.is::<UsageError>());
        assert!(err.to_string().contains("unclosed"), "{err}");
    }

    #[test]
    fn bad_labels_are_named_as_labels() {
        let err = parse_labels(&["=x".into()]).unwrap_err();
        assert!(err.to_string().starts_with("bad label"), "{err}");
        assert_eq!(
            parse_labels(&["env=prod".into()]).unwrap(),
            vec![Label::new("env", "prod")]
        );
    }
}
