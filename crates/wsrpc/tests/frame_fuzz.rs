//! Property tests for frames (issue 11, item 4): any bytes, random or a mutated valid frame,
//! classify without panicking, re-encode to what was read, and a request's payload is
//! decoded by the typed router into an answer or an error string naming the method.
//! Deterministic: a fixed seed, no persistence files.

use bytes::Bytes;
use futures_util::FutureExt;
use offchain_proto::cfm;
use offchain_wsrpc::frame::{self, CallIdCheck, Ignored, Inbound};
use offchain_wsrpc::rpc::{Router, Service};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

const CALL_ID: &str = "9f3c2b1e-8d4a-4c6b-a1e2-3f4d5c6b7a89";

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xf4a3e),
        ..ProptestConfig::default()
    }
}

/// A valid request or response frame carrying a `ProposeJobRequest`-shaped payload.
fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let payload = proptest::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from);
    (any::<bool>(), payload, ".{0,12}").prop_map(|(request, payload, error)| {
        if request {
            frame::encode_request("ProposeJob", CALL_ID, payload)
        } else if error.is_empty() {
            frame::encode_response(CALL_ID, Ok(payload))
        } else {
            frame::encode_response(CALL_ID, Err(error))
        }
    })
}

/// Random bytes, or a valid frame with a few bytes overwritten, inserted or cut off.
fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..5);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..128),
        (valid_frame(), edits).prop_map(|(mut bytes, edits)| {
            for (at, byte, kind) in edits {
                let at = at % (bytes.len() + 1);
                match kind {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => bytes.truncate(at),
                }
            }
            bytes
        }),
    ]
}

/// The node's router for one method; its handler echoes the job id back.
fn router() -> Router {
    Router::new().method("ProposeJob", |request: cfm::ProposeJobRequest| async move {
        Ok(cfm::ProposeJobResponse { id: request.id })
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_frame_is_classified_and_served_or_refused_with_a_message(bytes in frame_bytes()) {
        let router = router();
        for check in [CallIdCheck::RequireV4, CallIdCheck::Off] {
            match frame::classify(&bytes, check) {
                Inbound::Request(request) | Inbound::BadCallId(request) => {
                    // What was read is what the frame says: encoding it again and
                    // classifying gives the same request.
                    let again = frame::encode_request(
                        &request.method, &request.call_id, request.payload.clone(),
                    );
                    let reread = frame::classify(&again, CallIdCheck::Off);
                    prop_assert_eq!(reread, Inbound::Request(request.clone()));
                    // The handler's future is ready at once: decoding is synchronous.
                    let answer = router.handle(&request.method, request.payload).now_or_never();
                    match answer {
                        Some(Ok(_)) => prop_assert_eq!(request.method.as_str(), "ProposeJob"),
                        Some(Err(message)) => prop_assert!(
                            message.contains(&format!("{:?}", request.method))
                                || message.starts_with("ProposeJob: undecodable request: "),
                            "{message}"
                        ),
                        None => prop_assert!(false, "the router did not answer at once"),
                    }
                }
                Inbound::Response { call_id, outcome } => {
                    let again = frame::encode_response(&call_id, outcome.clone());
                    let reread = frame::classify(&again, check);
                    prop_assert_eq!(reread, Inbound::Response { call_id, outcome });
                }
                Inbound::Ignored(Ignored::Empty | Ignored::Unparseable) => {}
            }
        }
    }
}
