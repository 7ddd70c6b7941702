//! Any TOML job spec and any DOT text: parsed or a `SpecError` with a message. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offchain_pipeline::{JobSpec, Pipeline};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = JobSpec::parse(text) {
        assert!(!error.to_string().is_empty());
    }
    if let Err(error) = Pipeline::parse(text) {
        assert!(!error.to_string().is_empty());
    }
});
