//! Bearer tokens for JDs that require operator authentication.
//!
//! - [`StaticToken`]: a fixed token, e.g. from `JD_TOKEN`.
//! - [`ClientCredentials`]: OAuth2 client credentials (RFC 6749 §4.4) from a token URL.
//! - [`CognitoTokenSource`]: AWS Cognito user-password sign-in (`USER_PASSWORD_AUTH` with
//!   the secret hash), as the Go deployment framework does.
//!
//! The fetched sources cache their token and fetch a new one a margin before it expires
//! (a tenth of its lifetime, at most 60 s); concurrent callers share one fetch. Secrets
//! (client secrets, passwords, tokens) never appear in `Debug` output or error messages.

mod cache;
mod cognito;
mod endpoint;
mod oauth2;

use std::fmt;

use async_trait::async_trait;

pub use cognito::{CognitoAuth, CognitoTokenSource};
pub use oauth2::ClientCredentials;

/// Why a token could not be produced. The underlying error, where there is one, is the
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token source is set up wrongly (e.g. the token URL does not parse).
    #[error("invalid token source: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The token endpoint could not be reached, or did not answer in time.
    #[error("cannot reach the token endpoint {endpoint}")]
    Unreachable {
        /// Where (scheme, host, port and path only).
        endpoint: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The token endpoint refused, e.g. with `invalid_client` or `NotAuthorizedException`.
    #[error("the token endpoint {endpoint} refused with HTTP {status}: {reason}")]
    Refused {
        /// Where (scheme, host, port and path only).
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The endpoint's error code and description.
        reason: String,
    },
    /// The token endpoint answered something that is not a token response.
    #[error("the token endpoint {endpoint} answered something that is not a token response")]
    Malformed {
        /// Where (scheme, host, port and path only).
        endpoint: String,
        /// Why it could not be read.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another token source failed.
    #[error("cannot get an operator token")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Supplies the bearer token sent as `authorization: Bearer …` with every call.
///
/// Called before each call, so an implementation may cache and refresh short-lived tokens.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// The token to send now.
    async fn token(&self) -> Result<String, TokenError>;
}

/// A fixed token, e.g. from `JD_TOKEN`.
#[derive(Clone)]
pub struct StaticToken(String);

impl StaticToken {
    /// A source that always answers `token`.
    pub fn new(token: impl Into<String>) -> Self {
        StaticToken(token.into())
    }
}

impl fmt::Debug for StaticToken {
    // Tokens must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(***)")
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<String, TokenError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_token_answers_its_token_and_hides_it_in_debug() {
        let source = StaticToken::new("s3cret");
        assert_eq!(source.token().await.unwrap(), "s3cret");
        assert!(!format!("{source:?}").contains("s3cret"));
    }
}
