//! Any selector text: parsed or refused with a reason; what parses round-trips and the JD's
//! matcher takes it. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offchain::proto::label::Label;
use offchain::selector::{format_selectors, parse_label, parse_selectors};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_label(text);
    match parse_selectors(text) {
        Ok(selectors) => {
            assert_eq!(
                parse_selectors(&format_selectors(&selectors)).ok(),
                Some(selectors.clone())
            );
            let labels = [Label::new("env", "prod"), Label::flag(text)];
            for selector in &selectors {
                let _ = offchain_jd::selector::matches(&labels, selector);
            }
        }
        Err(error) => assert!(!error.reason.is_empty()),
    }
});
