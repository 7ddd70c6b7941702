//! The JD's side of a link: TLS handshake, peer key, one link per key, WebSocket upgrade
//! (`node-link.md`, "Transport").
//!
//! [`accept`] turns one incoming stream into an authenticated WebSocket, all under one
//! deadline (10 s by default, like the existing JD's read deadline); [`serve`] runs it for
//! every connection of a listener. Any path is accepted; clients with or without ALPN are
//! (see [`crate::tls`]). While [`LinkRegistry`] holds a live link for the key, the upgrade
//! is answered `200 OK` with an empty body instead of `101`.

mod registry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub use registry::{BoxFuture, Claim, LinkGuard, LinkRegistry, Probe};

use crate::keys::PublicKey;

/// The existing JD's frame and message limit, in bytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 10_000_000;

/// The most a busy key's upgrade request may hold before the `200` answer: more is not an
/// upgrade request.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The answer to a second upgrade for a key that already has a live link, as the existing
/// JD sends it: a plain success with no body.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/// How incoming links are accepted.
#[derive(Debug, Clone)]
pub struct AcceptConfig {
    /// One deadline for the TLS handshake, the key check and the WebSocket upgrade.
    pub handshake_timeout: Duration,
    /// Frame and message limits of the accepted WebSockets.
    pub websocket: WebSocketConfig,
    /// How many handshakes [`serve`] runs at once; further connections wait in the
    /// listener's backlog, so a flood of half-open connections cannot exhaust memory.
    pub max_concurrent_handshakes: usize,
}

impl Default for AcceptConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            websocket: websocket_config(DEFAULT_MAX_MESSAGE_SIZE),
            max_concurrent_handshakes: 1024,
        }
    }
}

/// A WebSocket configuration whose frames and messages are limited to `max_size` bytes.
pub fn websocket_config(max_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_size))
        .max_frame_size(Some(max_size))
}

/// A link that passed the handshake.
#[derive(Debug)]
pub struct Accepted<S> {
    /// The peer's CSA key, from its certificate.
    pub peer: PublicKey,
    /// The upgrade request as the peer sent it (path and headers).
    pub request: Request,
    /// The WebSocket, ready for the link's messages.
    pub websocket: WebSocketStream<TlsStream<S>>,
    /// The link's hold on its key: drop it when the link ends; it tells the link when a
    /// newer one replaces it.
    pub guard: LinkGuard,
}

/// Why an incoming connection did not become a link.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The handshake did not finish within the deadline.
    #[error("the handshake did not finish in time")]
    Timeout,
    /// The TLS handshake failed (a refused key among other causes: see
    /// [`crate::tls::refusal`]).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// The handshake finished without a readable peer key (cannot happen with
    /// [`crate::tls::server_config`]).
    #[error("the peer presented no usable key")]
    NoPeerKey,
    /// A live link holds the peer's key; the upgrade was answered `200`.
    #[error("a link for this key is already up")]
    Busy,
    /// The busy answer could not be given: the request was unreadable or too long.
    #[error("answering the upgrade request failed: {0}")]
    BusyAnswer(#[source] std::io::Error),
    /// The WebSocket upgrade failed.
    #[error("WebSocket upgrade failed: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
}

/// Runs the TLS handshake, claims the peer's key in `registry` and upgrades to a WebSocket,
/// under `config.handshake_timeout`.
pub async fn accept<S>(
    stream: S,
    tls: &TlsAcceptor,
    registry: &LinkRegistry,
    config: &AcceptConfig,
) -> Result<Accepted<S>, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let handshake = async {
        let mut stream = tls.accept(stream).await.map_err(AcceptError::Tls)?;
        let peer = crate::tls::peer_public_key(stream.get_ref().1).ok_or(AcceptError::NoPeerKey)?;
        let guard = match registry.claim(peer).await {
            Claim::Granted(guard) => guard,
            Claim::Busy => {
                answer_busy(&mut stream)
                    .await
                    .map_err(AcceptError::BusyAnswer)?;
                return Err(AcceptError::Busy);
            }
        };
        let mut request = None;
        // The signature is tungstenite's `Callback`, error response and all.
        #[allow(clippy::result_large_err)]
        let record_request = |seen: &Request, response: Response| {
            request = Some(seen.clone());
            Ok(response)
        };
        let websocket = tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            record_request,
            Some(config.websocket),
        )
        .await?;
        Ok(Accepted {
            peer,
            // The callback runs before any upgrade succeeds.
            request: request.unwrap_or_default(),
            websocket,
            guard,
        })
    };
    tokio::time::timeout(config.handshake_timeout, handshake)
        .await
        .unwrap_or(Err(AcceptError::Timeout))
}

/// Reads the upgrade request's head and answers `200` with no body. Written by hand:
/// tungstenite refuses a success status as a rejection
/// (`ProtocolError::CustomResponseSuccessful`).
async fn answer_busy<S>(stream: &mut S) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buffer[..read]);
        if head.len() > MAX_REQUEST_HEAD {
            return Err(std::io::Error::other("upgrade request too long"));
        }
    }
    stream.write_all(BUSY_RESPONSE).await?;
    stream.shutdown().await
}

/// Accepts links on `listener` until `links` is closed: each connection is handshaken in
/// its own task (at most `config.max_concurrent_handshakes` at once) and every link that
/// passes is sent to `links`. A failed handshake is logged at `debug` with the peer's
/// address and never stops the loop.
pub async fn serve(
    listener: TcpListener,
    tls: TlsAcceptor,
    registry: LinkRegistry,
    config: AcceptConfig,
    links: mpsc::Sender<Accepted<TcpStream>>,
) {
    let handshakes = Arc::new(Semaphore::new(config.max_concurrent_handshakes.max(1)));
    let config = Arc::new(config);
    loop {
        let permit = tokio::select! {
            permit = handshakes.clone().acquire_owned() => permit,
            () = links.closed() => return,
        };
        let Ok(permit) = permit else { return };
        let (stream, address) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accepting a node connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = links.closed() => return,
        };
        let (tls, registry, config, links) =
            (tls.clone(), registry.clone(), config.clone(), links.clone());
        tokio::spawn(async move {
            let result = accept(stream, &tls, &registry, &config).await;
            drop(permit);
            match result {
                Ok(accepted) => {
                    // A closed channel means the server is shutting down: the link just ends.
                    let _ = links.send(accepted).await;
                }
                Err(error) => log_refused(address, &error),
            }
        });
    }
}

fn log_refused(address: SocketAddr, error: &AcceptError) {
    tracing::debug!(peer = %address, %error, "node connection not accepted");
}
