//! The frame test vectors of `shared/spec/node-link.md` ("Test vectors"): our `message`
//! and `cfm` messages encode to exactly those bytes and decode back.

use offchain_proto::cfm::{ProposeJobRequest, ProposeJobResponse};
use offchain_proto::message::{Message, Request, Response, message::Exchange};
use prost::Message as _;

const JOB_ID: &str = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46";
const CALL_ID: &str = "9f3c2b1e-8d4a-4c6b-a1e2-3f4d5c6b7a89";

const REQUEST_FRAME: &str = concat!(
    "126e0a0a50726f706f73654a6f62122439663363326231652d386434612d346336622d613165322d3366346435",
    "633662376138391a3a0a2430656563376531642d643064322d343736632d613161382d373264666236363333",
    "663436121074797065203d2022776562686f6f6b222001",
);
const OK_RESPONSE_FRAME: &str = concat!(
    "1a4e0a2439663363326231652d386434612d346336622d613165322d3366346435633662376138391226122430",
    "656563376531642d643064322d343736632d613161382d373264666236363333663436",
);
const ERROR_RESPONSE_FRAME: &str = concat!(
    "1a380a2439663363326231652d386434612d346336622d613165322d33663464356336623761383",
    "91a1076657273696f6e20636f6e666c696374",
);

fn propose_job() -> ProposeJobRequest {
    ProposeJobRequest {
        id: JOB_ID.into(),
        spec: r#"type = "webhook""#.into(),
        multiaddrs: vec![],
        version: 1,
    }
}

fn frame(exchange: Exchange) -> Message {
    Message {
        exchange: Some(exchange),
    }
}

#[test]
fn request_frame_matches_the_spec_vector() {
    let message = frame(Exchange::Request(Request {
        method: "ProposeJob".into(),
        call_id: CALL_ID.into(),
        payload: propose_job().encode_to_vec().into(),
    }));
    assert_eq!(hex::encode(message.encode_to_vec()), REQUEST_FRAME);

    let decoded = Message::decode(hex::decode(REQUEST_FRAME).unwrap().as_slice()).unwrap();
    assert_eq!(decoded, message);
    let Some(Exchange::Request(request)) = decoded.exchange else {
        panic!("not a request: {decoded:?}");
    };
    assert_eq!(
        ProposeJobRequest::decode(request.payload).unwrap(),
        propose_job()
    );
}

#[test]
fn ok_response_frame_matches_the_spec_vector() {
    let answer = ProposeJobResponse { id: JOB_ID.into() };
    let message = frame(Exchange::Response(Response {
        call_id: CALL_ID.into(),
        payload: answer.encode_to_vec().into(),
        error: String::new(),
    }));
    assert_eq!(hex::encode(message.encode_to_vec()), OK_RESPONSE_FRAME);

    let decoded = Message::decode(hex::decode(OK_RESPONSE_FRAME).unwrap().as_slice()).unwrap();
    assert_eq!(decoded, message);
    let Some(Exchange::Response(response)) = decoded.exchange else {
        panic!("not a response: {decoded:?}");
    };
    assert_eq!(
        ProposeJobResponse::decode(response.payload).unwrap(),
        answer
    );
}

#[test]
fn error_response_frame_matches_the_spec_vector() {
    let message = frame(Exchange::Response(Response {
        call_id: CALL_ID.into(),
        payload: Default::default(),
        error: "version conflict".into(),
    }));
    assert_eq!(hex::encode(message.encode_to_vec()), ERROR_RESPONSE_FRAME);

    let decoded = Message::decode(hex::decode(ERROR_RESPONSE_FRAME).unwrap().as_slice()).unwrap();
    assert_eq!(decoded, message);
}
