//! OAuth2 client credentials (RFC 6749 §4.4).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::cache::{Grant, TokenCache};
use super::endpoint::{TokenEndpoint, error_fields};
use super::{TokenError, TokenSource};

/// How long a token without a readable `expires_in` is used (RFC 6749 leaves it to the
/// server).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Tokens from an OAuth2 token endpoint for a client id and secret, cached and fetched
/// again a margin before they expire.
///
/// ```no_run
/// use std::sync::Arc;
/// use offchain::auth::ClientCredentials;
/// use offchain::RemoteConfig;
/// # fn run() -> Result<(), offchain::auth::TokenError> {
/// let url = "https://auth.example.com/oauth2/token";
/// let tokens = ClientCredentials::new(url, "deployer", "secret")?
///     .with_scopes(["jd/operator"]);
/// let config = RemoteConfig::new("https://jd.example.com").with_token_source(Arc::new(tokens));
/// # Ok(()) }
/// ```
pub struct ClientCredentials {
    endpoint: TokenEndpoint,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    credentials_in_body: bool,
    cache: TokenCache,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<ExpiresIn>,
}

/// `expires_in` in seconds: a number, as RFC 6749 has it, or a string of digits, as some
/// servers send it.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresIn {
    Number(u64),
    Text(String),
}

impl ExpiresIn {
    fn lifetime(&self) -> Option<Duration> {
        match self {
            ExpiresIn::Number(seconds) => Some(Duration::from_secs(*seconds)),
            ExpiresIn::Text(text) => text.trim().parse().ok().map(Duration::from_secs),
        }
    }
}

impl ClientCredentials {
    /// A source for `client_id` and `client_secret` at `token_url`, authenticating with
    /// HTTP Basic (RFC 6749 §2.3.1) and asking for no particular scope.
    pub fn new(
        token_url: impl AsRef<str>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, TokenError> {
        Ok(ClientCredentials {
            endpoint: TokenEndpoint::new(token_url.as_ref())?,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: Vec::new(),
            credentials_in_body: false,
            cache: TokenCache::default(),
        })
    }

    /// Asks for `scopes` (sent space-separated).
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sends the id and secret as `client_id`/`client_secret` form fields instead of HTTP
    /// Basic, for servers that want them there.
    pub fn with_credentials_in_body(mut self) -> Self {
        self.credentials_in_body = true;
        self
    }

    async fn fetch(&self) -> Result<Grant, TokenError> {
        let scope = self.scopes.join(" ");
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if self.credentials_in_body {
            form.push(("client_id", &self.client_id));
            form.push(("client_secret", &self.client_secret));
        }
        let basic = (!self.credentials_in_body).then(|| {
            // §2.3.1: both are form-encoded before they are joined and base64-encoded.
            let encode =
                |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            (encode(&self.client_id), encode(&self.client_secret))
        });
        let answer: TokenResponse = self
            .endpoint
            .post(
                |request| {
                    let request = request.form(&form);
                    match &basic {
                        Some((id, secret)) => request.basic_auth(id, Some(secret)),
                        None => request,
                    }
                },
                |json| error_fields(json, "error", "error_description"),
            )
            .await?;
        if answer.access_token.is_empty() {
            return Err(self.endpoint.malformed("the access_token is empty"));
        }
        Ok(Grant {
            access_token: answer.access_token,
            lifetime: answer
                .expires_in
                .and_then(|e| e.lifetime())
                .unwrap_or(DEFAULT_LIFETIME),
            refresh_token: None,
        })
    }
}

impl fmt::Debug for ClientCredentials {
    // The secret and the tokens must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenSource for ClientCredentials {
    async fn token(&self) -> Result<String, TokenError> {
        self.cache.token(|_| self.fetch()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_is_read_as_a_number_or_a_string() {
        let read = |json: &str| {
            serde_json::from_str::<TokenResponse>(json)
                .unwrap()
                .expires_in
                .and_then(|e| e.lifetime())
        };
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(read(r#"{"access_token":"t","expires_in":3600}"#), hour);
        assert_eq!(read(r#"{"access_token":"t","expires_in":"3600"}"#), hour);
        assert_eq!(read(r#"{"access_token":"t","expires_in":"soon"}"#), None);
        assert_eq!(read(r#"{"access_token":"t"}"#), None);
    }
}
