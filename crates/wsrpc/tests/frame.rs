//! Frame classification: what each side does with every kind of frame it may receive.

mod common;

use bytes::Bytes;
use common::Xorshift;
use offchain_proto::message::{Message, Request, message::Exchange};
use offchain_wsrpc::frame::{self, CallIdCheck, Ignored, Inbound};
use prost::Message as _;

fn request_frame(call_id: &str) -> Vec<u8> {
    frame::encode_request("ProposeJob", call_id, Bytes::from_static(b"\x0a\x01x"))
}

#[test]
fn a_request_with_a_v4_call_id_is_served_in_any_spelling() {
    for call_id in [
        "9f3c2b1e-8d4a-4c6b-a1e2-3f4d5c6b7a89",
        "9F3C2B1E-8D4A-4C6B-A1E2-3F4D5C6B7A89",
        "9f3c2b1e8d4a4c6ba1e23f4d5c6b7a89",
    ] {
        match frame::classify(&request_frame(call_id), CallIdCheck::RequireV4) {
            Inbound::Request(request) => {
                assert_eq!(request.method, "ProposeJob");
                assert_eq!(request.call_id, call_id);
                assert_eq!(request.payload.as_ref(), b"\x0a\x01x");
            }
            other => panic!("{call_id}: {other:?}"),
        }
    }
}

#[test]
fn a_request_with_a_bad_call_id_is_dropped_on_the_jd_side_only() {
    for call_id in [
        "",
        "not-a-uuid",
        // A valid UUID, but version 1.
        "9f3c2b1e-8d4a-1c6b-a1e2-3f4d5c6b7a89",
        "9f3c2b1e-8d4a-4c6b-a1e2-3f4d5c6b7a8",
    ] {
        assert!(
            matches!(
                frame::classify(&request_frame(call_id), CallIdCheck::RequireV4),
                Inbound::BadCallId(_)
            ),
            "{call_id:?} was not dropped"
        );
        assert!(
            matches!(
                frame::classify(&request_frame(call_id), CallIdCheck::Off),
                Inbound::Request(_)
            ),
            "{call_id:?} was dropped although the check is off"
        );
    }
}

#[test]
fn responses_are_classified_with_their_outcome() {
    let ok = frame::encode_response("abc", Ok(Bytes::from_static(b"\x12\x01y")));
    match frame::classify(&ok, CallIdCheck::RequireV4) {
        Inbound::Response { call_id, outcome } => {
            assert_eq!(call_id, "abc");
            assert_eq!(outcome, Ok(Bytes::from_static(b"\x12\x01y")));
        }
        other => panic!("{other:?}"),
    }
    let failed = frame::encode_response("abc", Err("version conflict".into()));
    match frame::classify(&failed, CallIdCheck::Off) {
        Inbound::Response { outcome, .. } => {
            assert_eq!(outcome, Err("version conflict".to_string()))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_and_unparseable_frames_are_ignored() {
    assert_eq!(
        frame::classify(&[], CallIdCheck::RequireV4),
        Inbound::Ignored(Ignored::Empty)
    );
    let empty_message = Message { exchange: None }.encode_to_vec();
    assert_eq!(
        frame::classify(&empty_message, CallIdCheck::RequireV4),
        Inbound::Ignored(Ignored::Empty)
    );
    assert_eq!(
        frame::classify(b"\xff\xff\xff", CallIdCheck::RequireV4),
        Inbound::Ignored(Ignored::Unparseable)
    );
    // A request whose method is not UTF-8 is not a valid `Message`.
    let mut bad_utf8 = Message {
        exchange: Some(Exchange::Request(Request {
            method: "x".into(),
            call_id: String::new(),
            payload: Bytes::new(),
        })),
    }
    .encode_to_vec();
    let last = bad_utf8.len() - 1;
    bad_utf8[last] = 0xff;
    assert_eq!(
        frame::classify(&bad_utf8, CallIdCheck::Off),
        Inbound::Ignored(Ignored::Unparseable)
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Xorshift(0x5eed_f1ce);
    let valid = request_frame("9f3c2b1e-8d4a-4c6b-a1e2-3f4d5c6b7a89");
    for round in 0..20_000 {
        let bytes: Vec<u8> = if round % 2 == 0 {
            rng.bytes(300)
        } else {
            // A valid frame with a few bytes flipped or cut: reaches deeper into the decoder.
            let mut bytes = valid.clone();
            for _ in 0..(rng.next() % 4 + 1) {
                let at = (rng.next() as usize) % bytes.len();
                bytes[at] = rng.next() as u8;
            }
            bytes.truncate((rng.next() as usize) % (bytes.len() + 1));
            bytes
        };
        for check in [CallIdCheck::RequireV4, CallIdCheck::Off] {
            let _ = frame::classify(&bytes, check);
        }
    }
}
