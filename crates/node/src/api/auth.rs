//! Who may call the API: the bearer token's holder, or — without a token — loopback callers.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The environment variable holding the API token, read at start.
pub const API_TOKEN_ENV: &str = "OFFCHAIN_NODE_API_TOKEN";

/// The API's bearer token; only its SHA-256 is kept, so a memory dump or `Debug` shows nothing.
#[derive(Clone)]
pub struct ApiToken {
    hash: [u8; 32],
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

impl ApiToken {
    /// The token `token`; `None` when it is empty (an empty token would protect nothing).
    pub fn new(token: &str) -> Option<ApiToken> {
        (!token.is_empty()).then(|| ApiToken { hash: hash(token) })
    }

    /// The token from `OFFCHAIN_NODE_API_TOKEN`, if set and not empty.
    pub fn from_env() -> Option<ApiToken> {
        std::env::var(API_TOKEN_ENV)
            .ok()
            .and_then(|token| ApiToken::new(&token))
    }

    /// Whether `presented` is this token. Hashing first makes the comparison independent of
    /// the presented length, and the compare itself is constant time.
    fn matches(&self, presented: &str) -> bool {
        verify_slices_are_equal(&hash(presented), &self.hash).is_ok()
    }
}

fn hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

/// The authorization layer.
pub(super) async fn authorize(
    State(token): State<Arc<Option<ApiToken>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match token.as_ref() {
        Some(token) => {
            let presented = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "));
            if !presented.is_some_and(|presented| token.matches(presented)) {
                return ApiError::Unauthorized.into_response();
            }
        }
        None if !peer.ip().is_loopback() => return ApiError::LoopbackOnly.into_response(),
        None => {}
    }
    next.run(request).await
}
