//! The bridge protocol between a node and an external adapter (`shared/spec/bridge.md`),
//! and nothing else: serde types and pure functions, no HTTP server, no client, no I/O.
//!
//! Both sides depend on this crate: the adapter framework (`offchain-adapter`, server side,
//! which re-exports [`protocol`]) and the pipeline's `bridge` task and the node (client
//! side), which never depend on the adapter framework.
//!
//! - [`protocol`]: the wire types of a request and of a success, error or pending answer
//!   (§1–2).
//! - [`request`]: the body a node sends — `requestData` plus `meta`, the included input and
//!   `responseURL` (§1).
//! - [`judge`](mod@judge): how a node judges an answer (§3): a value, pending, or an error with its
//!   text and whether a retry may help. Errors are never cacheable.
//! - [`resume`]: the PATCH bodies that finish a suspended async task (§4).
//!
//! # Example: one async call, from request to resumed output
//! ```
//! use offchain_bridge::judge::{BridgeResponse, Verdict, judge};
//! use offchain_bridge::request::{RequestExtras, build_request_body, resume_url};
//! use offchain_bridge::resume::{Resumption, parse_resume_body};
//! use serde_json::json;
//!
//! // The node builds the body from the task's resolved `requestData`.
//! let request_data = json!({"id": "7", "data": {"coin": "ETH", "market": "USD"}});
//! let serde_json::Value::Object(request_data) = request_data else { unreachable!() };
//! let url = resume_url("http://node:6688/", "6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11");
//! let body = build_request_body(
//!     request_data,
//!     &RequestExtras { meta: Some(&json!({})), response_url: Some(&url), ..Default::default() },
//! );
//! assert_eq!(body["meta"], json!({}));
//! assert_eq!(body["responseURL"], "http://node:6688/v2/resume/6b0e9a0e-8f0b-4a4e-9d5c-5e1f1c7f6c11");
//!
//! // The adapter answers "pending"; an async task suspends.
//! let answer = BridgeResponse {
//!     url: "http://adapter:8080/",
//!     status: 200,
//!     pending_header: None,
//!     body: br#"{"jobRunID":"7","data":{},"pending":true,"statusCode":200}"#,
//! };
//! assert_eq!(judge(&answer, true), Verdict::Pending);
//!
//! // An error sent with HTTP 200 is still an error, and is never cached.
//! let error = br#"{"statusCode":500,"error":{"name":"AdapterError","message":"boom"}}"#;
//! let verdict = judge(&BridgeResponse { body: error, ..answer }, false);
//! let Verdict::Error(failed) = &verdict else { panic!("{verdict:?}") };
//! assert_eq!(failed.message, "got error from http://adapter:8080/: (status code 500) AdapterError: boom");
//! assert!(failed.retryable && !verdict.cacheable());
//!
//! // Later the adapter PATCHes the value; it becomes the task's output text.
//! let patch = br#"{"value": {"data": {"result": 467.85}, "result": 467.85}}"#;
//! assert_eq!(
//!     parse_resume_body(patch),
//!     Ok(Resumption::Value(r#"{"data": {"result": 467.85}, "result": 467.85}"#.to_owned())),
//! );
//! ```
//!
//! This crate has no feature flags.

mod answer;
pub mod judge;
pub mod protocol;
pub mod request;
pub mod resume;

pub use judge::{BridgeError, BridgeResponse, Verdict, judge};
pub use protocol::{AdapterRequest, AdapterResponse};
pub use resume::{ResumeBodyError, Resumption, parse_classic_callback, parse_resume_body};
