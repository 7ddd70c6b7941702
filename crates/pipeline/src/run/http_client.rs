//! [`ReqwestClient`]: the real [`HttpClient`] (feature `reqwest`), shared by the CLI's
//! `offchain job run` and the node.
//!
//! It lives here, behind a feature that is off by default, because both users need exactly
//! the same behaviour (body bound, deadline, redirects, restricted mode) and neither may
//! depend on the other; `offchain-bridge` is serde-only by design. Without the feature this
//! crate has no I/O at all (fuzzing, benchmarks).
//!
//! - Bodies: at most [`MAX_BODY_BYTES`] + 1 bytes are read, then the connection is dropped —
//!   enough for the runner to tell an oversize answer apart.
//! - Deadline: the request's `timeout` (the runner's time left) covers connect, headers and
//!   body; its expiry is [`HttpError::TimedOut`].
//! - Redirects: followed, at most 10 (as reqwest and the reference node do).
//! - Restricted requests (`allowUnrestrictedNetworkAccess` false): the host name is resolved
//!   here and refused when **any** of its addresses is loopback, private, link-local,
//!   multicast or unspecified (so a name with one public and one private answer cannot be
//!   used to reach inside); a redirect to such a literal IP is refused too. No proxy is used
//!   for them, since a proxy would resolve the name itself.
//! - Error texts name no URL (a query string may carry an API key) and the client's `Debug`
//!   prints nothing of the requests.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::{Attempt, Policy};

use super::calls::{is_restricted, literal_ip};
use super::io::{BoxFuture, HttpClient, HttpError, HttpRequest, HttpResponse, MAX_BODY_BYTES};

/// Redirects followed before giving up (Go's and reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// Why the client could not be built (TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// HTTP over reqwest: one client for unrestricted requests, one whose resolver and redirect
/// policy refuse private addresses.
#[derive(Clone)]
pub struct ReqwestClient {
    open: reqwest::Client,
    restricted: reqwest::Client,
}

impl fmt::Debug for ReqwestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestClient").finish_non_exhaustive()
    }
}

impl ReqwestClient {
    /// Both clients, with rustls.
    pub fn new() -> Result<Self, ClientBuildError> {
        let open = reqwest::Client::builder()
            .redirect(redirects(false))
            .build()
            .map_err(ClientBuildError)?;
        let restricted = reqwest::Client::builder()
            .redirect(redirects(true))
            .dns_resolver(PublicOnly)
            .no_proxy()
            .build()
            .map_err(ClientBuildError)?;
        Ok(Self { open, restricted })
    }
}

impl HttpClient for ReqwestClient {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        Box::pin(self.send_one(request))
    }
}

impl ReqwestClient {
    async fn send_one(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let client = if request.restricted {
            &self.restricted
        } else {
            &self.open
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| HttpError::Transport(format!("invalid method {:?}", request.method)))?;
        let mut builder = client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        if let Some(timeout) = request.timeout {
            builder = builder.timeout(timeout);
        }
        let mut response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_owned(), v)
            })
            .collect();
        let mut body = Vec::new();
        // One byte over the bound is all the runner needs to see; the rest is never read.
        while body.len() <= MAX_BODY_BYTES {
            match response.chunk().await.map_err(transport)? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        body.truncate(MAX_BODY_BYTES + 1);
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// A reqwest error as the runner reports it: timeouts as such, everything else as its cause
/// chain without the URL.
fn transport(error: reqwest::Error) -> HttpError {
    if error.is_timeout() {
        return HttpError::TimedOut;
    }
    let error = error.without_url();
    let mut text = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = cause {
        let part = e.to_string();
        // Some causes repeat their source's text; print each once.
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        cause = e.source();
    }
    HttpError::Transport(text)
}

/// At most [`MAX_REDIRECTS`]; in restricted mode never to a private literal IP (a name is
/// checked by [`PublicOnly`] when it is resolved).
fn redirects(restricted: bool) -> Policy {
    Policy::custom(move |attempt: Attempt<'_>| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(format!("stopped after {MAX_REDIRECTS} redirects"));
        }
        if restricted
            && let Some(ip) = literal_ip(attempt.url().as_str()).filter(|ip| is_restricted(*ip))
        {
            return attempt.error(Disallowed(ip));
        }
        attempt.follow()
    })
}

/// The system resolver, refusing names with any restricted address.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| is_restricted(a.ip())) {
                return Err(Disallowed(bad.ip()).into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The reference node's text for a refused address.
#[derive(Debug, thiserror::Error)]
#[error(
    "disallowed IP {0}. Connections to local/private and multicast networks are disabled by \
     default for security reasons"
)]
struct Disallowed(IpAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn restricted_names_resolving_to_loopback_are_refused() {
        match PublicOnly.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<SocketAddr>>()),
            Err(e) => assert!(e.to_string().starts_with("disallowed IP "), "{e}"),
        }
    }
}
