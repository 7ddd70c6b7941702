//! Any PATCH body: a resumption or a typed error with a message. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offchain_bridge::{parse_classic_callback, parse_resume_body};

fuzz_target!(|data: &[u8]| {
    if let Err(error) = parse_resume_body(data) {
        assert!(!error.to_string().is_empty());
    }
    if let Err(error) = parse_classic_callback(data) {
        assert!(!error.to_string().is_empty());
    }
});
