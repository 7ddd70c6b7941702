//! Posting to a token endpoint and reading its answer, bounded, with errors that name the
//! endpoint without its query or credentials.

use std::time::Duration;

use reqwest::{RequestBuilder, Url};
use serde::de::DeserializeOwned;

use super::TokenError;

/// Longest a token request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from a token endpoint; token responses are a few KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Longest error code or description kept from a refusal.
const MAX_REASON_CHARS: usize = 200;

/// A token endpoint and the HTTP client that talks to it.
#[derive(Clone)]
pub(super) struct TokenEndpoint {
    url: Url,
    /// Scheme, host, port and path: safe to show.
    shown: String,
    http: reqwest::Client,
}

impl TokenEndpoint {
    /// Validates `url` (http or https, with a host) and sets up a client that does not
    /// follow redirects (credentials go to this URL only).
    pub(super) fn new(url: &str) -> Result<Self, TokenError> {
        let config = |reason: String, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
            TokenError::Config { reason, source }
        };
        let parsed = Url::parse(url.trim())
            .map_err(|e| config("the token URL is not a URL".into(), Some(Box::new(e))))?;
        let host = match (parsed.scheme(), parsed.host_str()) {
            ("http" | "https", Some(host)) => host.to_string(),
            _ => {
                return Err(config(
                    "the token URL must be http(s)://host/…".into(),
                    None,
                ));
            }
        };
        let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        let shown = format!("{}://{host}{port}{}", parsed.scheme(), parsed.path());
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| config("cannot set up an HTTP client".into(), Some(Box::new(e))))?;
        Ok(TokenEndpoint {
            url: parsed,
            shown,
            http,
        })
    }

    /// Posts the request `build` makes; parses a success as `T`, and a refusal with
    /// `reason` (which reads the endpoint's error code and description).
    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
        reason: fn(&serde_json::Value) -> Option<String>,
    ) -> Result<T, TokenError> {
        let unreachable = |e: reqwest::Error| TokenError::Unreachable {
            endpoint: self.shown.clone(),
            source: e.without_url(),
        };
        let mut response = build(self.http.post(self.url.clone()))
            .send()
            .await
            .map_err(unreachable)?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(self.malformed(format!("the answer is over {MAX_ANSWER_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let status = response.status();
        if !status.is_success() {
            let reason = serde_json::from_slice(&body)
                .ok()
                .and_then(|json| reason(&json))
                .unwrap_or_else(|| "no error code given".into());
            return Err(TokenError::Refused {
                endpoint: self.shown.clone(),
                status: status.as_u16(),
                reason,
            });
        }
        serde_json::from_slice(&body).map_err(|e| TokenError::Malformed {
            endpoint: self.shown.clone(),
            source: Box::new(e),
        })
    }

    /// A [`TokenError::Malformed`] for this endpoint.
    pub(super) fn malformed(&self, why: impl Into<String>) -> TokenError {
        TokenError::Malformed {
            endpoint: self.shown.clone(),
            source: why.into().into(),
        }
    }

    /// A [`TokenError::Refused`] for an answer that is no refusal by HTTP status.
    pub(super) fn refused(&self, status: u16, reason: impl Into<String>) -> TokenError {
        TokenError::Refused {
            endpoint: self.shown.clone(),
            status,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Debug for TokenEndpoint {
    // The URL's query or user info could hold credentials: show the safe part only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `code: description` from the string fields `code` and `description` of a JSON error
/// answer, each cut to a readable length; `None` without a code.
pub(super) fn error_fields(
    json: &serde_json::Value,
    code: &str,
    description: &str,
) -> Option<String> {
    let field = |name: &str| {
        json.get(name)
            .and_then(serde_json::Value::as_str)
            .map(|text| text.chars().take(MAX_REASON_CHARS).collect::<String>())
    };
    let code = field(code)?;
    Some(match field(description) {
        Some(text) => format!("{code}: {text}"),
        None => code,
    })
}
