//! AWS Cognito user-password sign-in, as the Go deployment framework does: `InitiateAuth`
//! with `USER_PASSWORD_AUTH` and the secret hash, the access token as bearer token, and
//! `REFRESH_TOKEN_AUTH` to renew it.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::hmac;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::cache::{Grant, TokenCache};
use super::endpoint::{TokenEndpoint, error_fields};
use super::{TokenError, TokenSource};

/// The Cognito user pool app client and user to sign in as.
#[derive(Clone)]
pub struct CognitoAuth {
    /// The user pool's AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// The app client id.
    pub client_id: String,
    /// The app client secret, for app clients that have one (then every request carries
    /// the secret hash).
    pub client_secret: Option<String>,
    /// The user name.
    pub username: String,
    /// The user's password.
    pub password: String,
}

impl fmt::Debug for CognitoAuth {
    // The secret and the password must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CognitoAuth")
            .field("region", &self.region)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Access tokens from AWS Cognito for a user name and password, cached and renewed with the
/// refresh token a margin before they expire (signing in again when the refresh token is
/// refused).
///
/// ```no_run
/// use offchain::auth::{CognitoAuth, CognitoTokenSource};
/// # fn run() -> Result<(), offchain::auth::TokenError> {
/// let tokens = CognitoTokenSource::new(CognitoAuth {
///     region: "eu-west-1".into(),
///     client_id: "app-client-id".into(),
///     client_secret: Some("app-client-secret".into()),
///     username: "deployer".into(),
///     password: "password".into(),
/// })?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CognitoTokenSource {
    auth: CognitoAuth,
    endpoint: TokenEndpoint,
    cache: TokenCache,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateAuthResponse {
    authentication_result: Option<AuthenticationResult>,
    challenge_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AuthenticationResult {
    access_token: String,
    expires_in: u64,
    refresh_token: Option<String>,
}

impl CognitoTokenSource {
    /// A source for `auth` at the region's Cognito endpoint,
    /// `https://cognito-idp.<region>.amazonaws.com/`.
    pub fn new(auth: CognitoAuth) -> Result<Self, TokenError> {
        let region = auth.region.trim();
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(TokenError::Config {
                reason: format!("{region:?} is not an AWS region (e.g. eu-west-1)"),
                source: None,
            });
        }
        let endpoint = TokenEndpoint::new(&format!("https://cognito-idp.{region}.amazonaws.com/"))?;
        Ok(CognitoTokenSource {
            auth,
            endpoint,
            cache: TokenCache::default(),
        })
    }

    /// Talks to `url` instead of the region's endpoint (a VPC endpoint, or a test double).
    pub fn with_endpoint(mut self, url: impl AsRef<str>) -> Result<Self, TokenError> {
        self.endpoint = TokenEndpoint::new(url.as_ref())?;
        Ok(self)
    }

    /// base64(HMAC-SHA256(key = client secret, message = user name + client id)).
    fn secret_hash(&self) -> Option<String> {
        let secret = self.auth.client_secret.as_deref()?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let message = format!("{}{}", self.auth.username, self.auth.client_id);
        let tag = hmac::sign(&key, message.as_bytes());
        Some(base64::engine::general_purpose::STANDARD.encode(tag.as_ref()))
    }

    /// A new token: with the refresh token when there is one and Cognito takes it,
    /// otherwise by signing in with the password.
    async fn fetch(&self, refresh_token: Option<String>) -> Result<Grant, TokenError> {
        if let Some(refresh_token) = refresh_token {
            let parameters = [("REFRESH_TOKEN", refresh_token)];
            match self.initiate_auth("REFRESH_TOKEN_AUTH", parameters).await {
                Err(TokenError::Refused { .. }) => {} // expired or revoked: sign in again
                other => return other,
            }
        }
        let parameters = [
            ("USERNAME", self.auth.username.clone()),
            ("PASSWORD", self.auth.password.clone()),
        ];
        self.initiate_auth("USER_PASSWORD_AUTH", parameters).await
    }

    async fn initiate_auth(
        &self,
        flow: &str,
        parameters: impl IntoIterator<Item = (&str, String)>,
    ) -> Result<Grant, TokenError> {
        let mut auth_parameters: Map<String, Value> = parameters
            .into_iter()
            .map(|(name, value)| (name.to_string(), Value::String(value)))
            .collect();
        if let Some(hash) = self.secret_hash() {
            auth_parameters.insert("SECRET_HASH".into(), Value::String(hash));
        }
        let body = json!({
            "AuthFlow": flow,
            "ClientId": self.auth.client_id,
            "AuthParameters": auth_parameters,
        });
        let answer: InitiateAuthResponse = self
            .endpoint
            .post(
                |request| {
                    request
                        .header(
                            "x-amz-target",
                            "AWSCognitoIdentityProviderService.InitiateAuth",
                        )
                        .header("content-type", "application/x-amz-json-1.1")
                        .body(body.to_string())
                },
                |json| error_fields(json, "__type", "message"),
            )
            .await?;
        let Some(result) = answer.authentication_result else {
            let challenge = answer.challenge_name.unwrap_or_else(|| "unnamed".into());
            return Err(self.endpoint.refused(
                200,
                format!(
                    "Cognito asks for the {challenge} challenge, which this source cannot answer"
                ),
            ));
        };
        if result.access_token.is_empty() {
            return Err(self.endpoint.malformed("the AccessToken is empty"));
        }
        Ok(Grant {
            access_token: result.access_token,
            lifetime: Duration::from_secs(result.expires_in),
            refresh_token: result.refresh_token,
        })
    }
}

#[async_trait]
impl TokenSource for CognitoTokenSource {
    async fn token(&self) -> Result<String, TokenError> {
        self.cache.token(|refresh| self.fetch(refresh)).await
    }
}
