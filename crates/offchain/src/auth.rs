//! Bearer tokens for JDs that require operator authentication.

use std::fmt;

use async_trait::async_trait;

/// Why a token could not be produced.
#[derive(Debug, thiserror::Error)]
#[error("cannot get an operator token: {0}")]
pub struct TokenError(pub String);

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
