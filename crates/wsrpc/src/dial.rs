//! The node's side of a link: dial the JD's node listener, TLS with exactly the JD's key and
//! no ALPN, WebSocket upgrade on `wss://host:port/` (`node-link.md`, "Transport"), and
//! [`redial`] forever with [`Backoff`].
//!
//! The upgrade request carries only `Host`, `Connection`, `Upgrade`,
//! `Sec-WebSocket-Version`, `Sec-WebSocket-Key` and `User-Agent`: tungstenite adds no
//! Origin, subprotocol or compression header unless asked.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::backoff::{Backoff, BackoffConfig};
use crate::tls::{Refusal, refusal, server_name};

/// A node's link to its JD.
pub type ClientLink = WebSocketStream<TlsStream<TcpStream>>;

/// The existing node's message limit, in bytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 100_000_000;

/// How to dial.
#[derive(Debug, Clone)]
pub struct DialConfig {
    /// One deadline for the TCP connect, the TLS handshake and the WebSocket upgrade.
    pub handshake_timeout: Duration,
    /// The `User-Agent` header of the upgrade request.
    pub user_agent: String,
    /// Frame and message limits of the link.
    pub websocket: WebSocketConfig,
}

impl Default for DialConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            user_agent: concat!("offchain-node/", env!("CARGO_PKG_VERSION")).to_owned(),
            websocket: crate::accept::websocket_config(DEFAULT_MAX_MESSAGE_SIZE),
        }
    }
}

/// Why dialing the JD failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The address is not `host:port`.
    #[error("the JD address must be host:port")]
    InvalidAddress,
    /// The configured `User-Agent` is not a valid header value.
    #[error("the User-Agent is not a valid header value")]
    InvalidUserAgent,
    /// No TCP connection.
    #[error("connecting failed: {0}")]
    Connect(#[source] std::io::Error),
    /// The dial did not finish within the deadline.
    #[error("the handshake did not finish in time")]
    Timeout,
    /// The JD does not allow this node's key (TLS alert `bad_certificate`).
    #[error("the JD refused this node's key")]
    KeyRefused,
    /// The server's key is not the configured JD key.
    #[error("the server's key is not the configured JD key")]
    ServerKeyMismatch,
    /// The JD already holds a link for this node's key (it answered the upgrade `200`).
    #[error("the JD already holds a link for this node's key")]
    Busy,
    /// The TLS handshake failed otherwise.
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// The WebSocket upgrade failed otherwise.
    #[error("WebSocket upgrade failed: {0}")]
    WebSocket(#[source] tokio_tungstenite::tungstenite::Error),
}

/// Dials the JD's node listener at `address` (`host:port`) and upgrades to a WebSocket.
/// `tls` comes from [`crate::tls::client_config`] with the JD's key.
pub async fn dial(
    address: &str,
    tls: Arc<ClientConfig>,
    config: &DialConfig,
) -> Result<ClientLink, DialError> {
    tokio::time::timeout(config.handshake_timeout, dial_once(address, tls, config))
        .await
        .unwrap_or(Err(DialError::Timeout))
}

async fn dial_once(
    address: &str,
    tls: Arc<ClientConfig>,
    config: &DialConfig,
) -> Result<ClientLink, DialError> {
    let host = host_of(address).ok_or(DialError::InvalidAddress)?;
    let mut request = format!("wss://{address}/")
        .into_client_request()
        .map_err(|_| DialError::InvalidAddress)?;
    let user_agent =
        HeaderValue::from_str(&config.user_agent).map_err(|_| DialError::InvalidUserAgent)?;
    request.headers_mut().insert(header::USER_AGENT, user_agent);

    let tcp = TcpStream::connect(address)
        .await
        .map_err(DialError::Connect)?;
    let stream = TlsConnector::from(tls)
        .connect(server_name(host), tcp)
        .await
        .map_err(|error| tls_error(error, DialError::Tls))?;
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config.websocket)).await
    {
        Ok((websocket, _response)) => Ok(websocket),
        Err(error) => Err(websocket_error(error)),
    }
}

/// The host part of `host:port`, without an IPv6 literal's brackets. Anything more (a
/// scheme, a path, credentials) is refused, so the address is safe to log.
fn host_of(address: &str) -> Option<&str> {
    if address.contains(['/', '@', '?', '#']) {
        return None;
    }
    let (host, port) = address.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

fn tls_error(error: std::io::Error, otherwise: fn(std::io::Error) -> DialError) -> DialError {
    match refusal(&error) {
        Some(Refusal::OurKeyRefused) => DialError::KeyRefused,
        Some(Refusal::PeerKeyRefused) => DialError::ServerKeyMismatch,
        None => otherwise(error),
    }
}

fn websocket_error(error: tokio_tungstenite::tungstenite::Error) -> DialError {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        // Under TLS 1.3 the JD's refusal of our key arrives on the first read: here.
        Error::Io(error) => tls_error(error, |error| DialError::WebSocket(Error::Io(error))),
        Error::Http(response) if response.status() == StatusCode::OK => DialError::Busy,
        error => DialError::WebSocket(error),
    }
}

/// Redial policy for [`redial`].
#[derive(Debug, Clone)]
pub struct RedialConfig {
    /// The waits between attempts.
    pub backoff: BackoffConfig,
    /// A link that stayed up at least this long resets the backoff; a shorter one counts as
    /// a failed attempt, so a JD that drops links at once is not hammered.
    pub stable_after: Duration,
}

impl Default for RedialConfig {
    fn default() -> Self {
        Self {
            backoff: BackoffConfig::default(),
            stable_after: Duration::from_secs(10),
        }
    }
}

/// Dials `address` forever, until the returned future is dropped: every link is handed to
/// `on_link`, whose future runs for the link's life; every failure is logged at `warn`
/// with its reason and handed to `on_failure`. Between attempts it waits as
/// `config.backoff` says, starting over after a link that lasted `config.stable_after`.
pub async fn redial<L, LF, F>(
    address: &str,
    tls: Arc<ClientConfig>,
    dial_config: &DialConfig,
    config: &RedialConfig,
    mut on_link: L,
    mut on_failure: F,
) where
    L: FnMut(ClientLink) -> LF,
    LF: Future<Output = ()>,
    F: FnMut(&DialError),
{
    let mut backoff = Backoff::new(config.backoff.clone());
    loop {
        match dial(address, tls.clone(), dial_config).await {
            Ok(link) => {
                let started = Instant::now();
                on_link(link).await;
                if started.elapsed() >= config.stable_after {
                    backoff.reset();
                }
            }
            Err(error) => {
                tracing::warn!(jd = %address, %error, "connecting to the JD failed");
                on_failure(&error);
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_host_is_read_from_host_port() {
        assert_eq!(host_of("jd.example:8080"), Some("jd.example"));
        assert_eq!(host_of("127.0.0.1:1"), Some("127.0.0.1"));
        assert_eq!(host_of("[::1]:8080"), Some("::1"));
        assert_eq!(host_of("jd.example"), None);
        assert_eq!(host_of(":8080"), None);
        assert_eq!(host_of("jd:port"), None);
        assert_eq!(host_of("wss://jd:8080"), None);
        assert_eq!(host_of("user:secret@jd:8080"), None);
    }
}
