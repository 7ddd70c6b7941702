//! Any request body and key path: a value or a precise `VarError`. Never a panic. The first
//! line of the input is the path, the rest the webhook's request body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offchain_pipeline::value::{Value, Vars};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, body) = text.split_once('\n').unwrap_or((text, ""));
    let mut vars = Vars::new();
    vars.set_webhook_run(body, Value::Null);
    vars.set_output("ds", Value::List(vec![Value::Int(1)]));
    vars.set_error("bad", "boom");
    if let Err(error) = vars.get(path) {
        assert!(!error.to_string().is_empty());
    }
});
