//! Any received frame: classified on both sides, a request's payload decoded by the typed
//! router into an answer or an error string. Never a panic.
#![no_main]

use futures_util::FutureExt;
use libfuzzer_sys::fuzz_target;
use offchain_proto::cfm;
use offchain_wsrpc::frame::{self, CallIdCheck, Inbound};
use offchain_wsrpc::rpc::{Router, Service};

fuzz_target!(|data: &[u8]| {
    let router = Router::new().method("ProposeJob", |request: cfm::ProposeJobRequest| async move {
        Ok(cfm::ProposeJobResponse { id: request.id })
    });
    for check in [CallIdCheck::RequireV4, CallIdCheck::Off] {
        if let Inbound::Request(request) | Inbound::BadCallId(request) =
            frame::classify(data, check)
        {
            // Decoding is synchronous: the future is ready at once.
            let answer = router
                .handle(&request.method, request.payload)
                .now_or_never();
            assert!(answer.is_some(), "the router did not answer at once");
        }
    }
});
