//! One WebSocket frame = one protobuf `message.Message` (`node-link.md`, "Framing").
//!
//! [`classify`] turns any received bytes into what the link should do with them, the way
//! the spec says existing peers do: serve a request, drop a request whose call id is not
//! a UUIDv4 (the JD side only, [`CallIdCheck`]), match a response, or ignore the frame.
//! It never panics, whatever the bytes.

use bytes::Bytes;
use offchain_proto::message::{Message, Request, Response, message::Exchange};
use prost::Message as _;

/// Whether requests must carry a version-4 UUID as call id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallIdCheck {
    /// The JD's rule: a request whose call id is not a UUIDv4 (any case, with or without
    /// dashes) is dropped without an answer.
    RequireV4,
    /// The node's rule: call ids are not checked.
    Off,
}

/// What a received frame is.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A request to serve.
    Request(Request),
    /// A request whose call id failed [`CallIdCheck::RequireV4`]: dropped, not answered.
    BadCallId(Request),
    /// The answer to one of our calls: the response payload, or the peer's error string.
    Response {
        call_id: String,
        outcome: Result<Bytes, String>,
    },
    /// Nothing to act on; the link stays up.
    Ignored(Ignored),
}

/// Why a frame was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// No bytes, or a `Message` with neither a request nor a response.
    Empty,
    /// Not a protobuf `Message`.
    Unparseable,
}

/// Classifies the bytes of one received frame.
pub fn classify(bytes: &[u8], check: CallIdCheck) -> Inbound {
    let message = match Message::decode(bytes) {
        Ok(message) => message,
        Err(_) => return Inbound::Ignored(Ignored::Unparseable),
    };
    match message.exchange {
        None => Inbound::Ignored(Ignored::Empty),
        Some(Exchange::Request(request)) => {
            if check == CallIdCheck::RequireV4 && !is_uuid_v4(&request.call_id) {
                Inbound::BadCallId(request)
            } else {
                Inbound::Request(request)
            }
        }
        Some(Exchange::Response(response)) => Inbound::Response {
            call_id: response.call_id,
            // A non-empty error means failure, whatever the payload says.
            outcome: if response.error.is_empty() {
                Ok(response.payload)
            } else {
                Err(response.error)
            },
        },
    }
}

/// Encodes a request frame.
pub fn encode_request(method: &str, call_id: &str, payload: Bytes) -> Vec<u8> {
    encode(Exchange::Request(Request {
        method: method.to_owned(),
        call_id: call_id.to_owned(),
        payload,
    }))
}

/// Encodes a response frame: the payload on success, an empty payload and the error
/// string on failure.
pub fn encode_response(call_id: &str, outcome: Result<Bytes, String>) -> Vec<u8> {
    let (payload, error) = match outcome {
        Ok(payload) => (payload, String::new()),
        Err(error) => (Bytes::new(), error),
    };
    encode(Exchange::Response(Response {
        call_id: call_id.to_owned(),
        payload,
        error,
    }))
}

fn encode(exchange: Exchange) -> Vec<u8> {
    Message {
        exchange: Some(exchange),
    }
    .encode_to_vec()
}

/// A version-4 UUID, hyphenated or not, in any case.
fn is_uuid_v4(call_id: &str) -> bool {
    // `Uuid::try_parse` also takes braced and `urn:` forms; the spec names only these two.
    matches!(call_id.len(), 32 | 36)
        && uuid::Uuid::try_parse(call_id).is_ok_and(|id| id.get_version_num() == 4)
}
