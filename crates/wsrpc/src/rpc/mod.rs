//! A [`Link`]: one WebSocket connection carrying calls in both directions
//! (`node-link.md`, "Framing" and the liveness rules of "Transport").
//!
//! [`Link::spawn`] hands the stream to a driver task that owns it: it writes our frames,
//! reads the peer's, matches responses to pending calls by call id, serves requests
//! concurrently through a [`Service`], pings every [`LinkConfig::ping_interval`] and
//! declares the peer dead when no pong came for [`LinkConfig::pong_timeout`]. Whatever
//! ends a link, the driver sends a close frame and shuts the socket down, and every
//! pending call fails with [`CallError::NotReady`].
//!
//! The link works over any `AsyncRead + AsyncWrite` stream; TLS and the upgrade happen
//! before it (a caller should handshake with [`LinkConfig::websocket_config`], so an
//! oversized frame is refused before it is buffered).

mod driver;
mod service;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::frame::{self, CallIdCheck};

pub use service::{Router, Service};

/// Timers and limits of one link. [`LinkConfig::jd`] and [`LinkConfig::node`] are the
/// spec's values for each side; tests shorten the timers.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// How often we send an empty ping (spec: 18 s).
    pub ping_interval: Duration,
    /// The link is dead when the last pong is older than this (spec: 20 s). Data frames do
    /// not extend it.
    pub pong_timeout: Duration,
    /// A write (or flush) that takes longer ends the link (spec: 10 s).
    pub write_timeout: Duration,
    /// The largest frame we accept; a larger one closes the link with code 1009.
    pub max_frame_size: usize,
    /// Whether requests with a call id that is not a UUIDv4 are dropped (the JD's rule).
    pub call_ids: CallIdCheck,
    /// Requests served at once; one more is answered with an error string at once.
    pub max_concurrent_requests: usize,
}

impl LinkConfig {
    /// The existing JD's frame limit.
    pub const JD_MAX_FRAME_SIZE: usize = 10_000_000;
    /// The existing node's frame limit.
    pub const NODE_MAX_FRAME_SIZE: usize = 100_000_000;

    /// The JD's side: 10 000 000-byte frames, call ids checked.
    pub fn jd() -> Self {
        Self {
            max_frame_size: Self::JD_MAX_FRAME_SIZE,
            call_ids: CallIdCheck::RequireV4,
            ..Self::node()
        }
    }

    /// The node's side: 100 MB frames, call ids not checked.
    pub fn node() -> Self {
        Self {
            ping_interval: Duration::from_secs(18),
            pong_timeout: Duration::from_secs(20),
            write_timeout: Duration::from_secs(10),
            max_frame_size: Self::NODE_MAX_FRAME_SIZE,
            call_ids: CallIdCheck::Off,
            max_concurrent_requests: 1024,
        }
    }

    /// tungstenite's read buffer per link. Its default (128 KiB, allocated up front) would
    /// make an idle link cost more than the JD's memory target per link; node-link frames
    /// are small, and a larger one still arrives (the buffer grows for it).
    pub const READ_BUFFER_SIZE: usize = 8 * 1024;

    /// The WebSocket settings to handshake with: tungstenite itself refuses frames and
    /// messages over [`Self::max_frame_size`] (the link checks again either way), and the
    /// read buffer is [`Self::READ_BUFFER_SIZE`].
    pub fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(Self::READ_BUFFER_SIZE)
            .max_message_size(Some(self.max_frame_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}

/// Why a call failed. The messages are the ones existing peers produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer within the call's timeout.
    #[error("call timeout: context deadline exceeded")]
    Timeout,
    /// There is no link to the peer at all (for layers that look links up by key).
    #[error("client not connected")]
    NotConnected,
    /// The link ended before or while the call was made.
    #[error("connection is not ready")]
    NotReady,
    /// The peer answered with an error string.
    #[error("{0}")]
    Remote(String),
    /// The peer answered with a payload that is not the expected response message.
    #[error("undecodable response to {method}: {reason}")]
    Decode { method: String, reason: String },
}

/// Why a link ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkEnd {
    /// We closed it: [`Link::close`], or every [`Link`] handle was dropped.
    #[error("closed by us")]
    Closed,
    /// The peer sent a close frame.
    #[error("closed by the peer (close code {})", code.map_or("none".to_owned(), |c| c.to_string()))]
    ClosedByPeer { code: Option<u16> },
    /// No pong within [`LinkConfig::pong_timeout`].
    #[error("no pong from the peer: dead")]
    PongTimeout,
    /// A write took longer than [`LinkConfig::write_timeout`].
    #[error("write timeout")]
    WriteTimeout,
    /// The peer sent a frame over [`LinkConfig::max_frame_size`] (we closed with 1009).
    #[error("frame over the size limit")]
    FrameTooLarge,
    /// The connection failed or ended without a close frame.
    #[error("connection lost: {0}")]
    Transport(String),
}

/// Our calls waiting for an answer: call id → where the answer goes.
type PendingCalls = HashMap<String, oneshot::Sender<Result<Bytes, String>>>;

/// What the handles and the driver share.
struct Shared {
    pending: Mutex<PendingCalls>,
    /// Wakes the driver to close the link.
    close: Notify,
    /// Callers of [`Link::probe`] waiting for a pong, and the driver's wake-up for them.
    probes: Mutex<Vec<oneshot::Sender<()>>>,
    probe: Notify,
    /// `Some` once the link has ended.
    ended: watch::Sender<Option<LinkEnd>>,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, PendingCalls> {
        // The map stays consistent even if a holder panicked: every operation is one call.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handle to one link. Clones share the link; dropping the last handle closes it (after
/// the requests it is serving have been answered).
#[derive(Clone)]
pub struct Link {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Vec<u8>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("ended", &*self.shared.ended.borrow())
            .finish_non_exhaustive()
    }
}

/// Frames queued for the driver to write; callers wait (within their timeout) when full.
const OUTGOING_QUEUE: usize = 256;

impl Link {
    /// Starts serving `ws` with `service` answering the peer's requests. Must be called
    /// inside a Tokio runtime.
    pub fn spawn<S>(ws: WebSocketStream<S>, config: LinkConfig, service: Arc<dyn Service>) -> Link
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING_QUEUE);
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            close: Notify::new(),
            probes: Mutex::new(Vec::new()),
            probe: Notify::new(),
            ended: watch::Sender::new(None),
        });
        let driver = driver::Driver::new(
            ws,
            config,
            service,
            shared.clone(),
            outgoing.downgrade(),
            outgoing_rx,
        );
        tokio::spawn(driver.run());
        Link { shared, outgoing }
    }

    /// Calls `method` on the peer with an encoded request and returns the encoded
    /// response, waiting at most `timeout` for it.
    pub async fn call(
        &self,
        method: &str,
        request: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        if self.end().is_some() {
            return Err(CallError::NotReady);
        }
        let call_id = uuid::Uuid::new_v4().to_string();
        let (answer_tx, answer_rx) = oneshot::channel();
        self.shared.pending().insert(call_id.clone(), answer_tx);
        let frame = frame::encode_request(method, &call_id, request);
        let outcome = tokio::time::timeout(timeout, async {
            self.outgoing
                .send(frame)
                .await
                .map_err(|_| CallError::NotReady)?;
            // The driver drops every sender when the link ends.
            answer_rx.await.map_err(|_| CallError::NotReady)
        })
        .await;
        match outcome {
            Ok(Ok(answer)) => answer.map_err(CallError::Remote),
            Ok(Err(error)) => {
                self.shared.pending().remove(&call_id);
                Err(error)
            }
            Err(_elapsed) => {
                self.shared.pending().remove(&call_id);
                Err(CallError::Timeout)
            }
        }
    }

    /// [`Link::call`] with protobuf messages.
    pub async fn call_message<Req, Resp>(
        &self,
        method: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        let answer = self
            .call(method, request.encode_to_vec().into(), timeout)
            .await?;
        Resp::decode(answer).map_err(|error| CallError::Decode {
            method: method.to_owned(),
            reason: error.to_string(),
        })
    }

    /// Whether the peer still answers: sends a ping and waits at most `within` for its
    /// pong. For telling a stale link from a live one when the same key connects again,
    /// without waiting for the pong timeout.
    pub async fn probe(&self, within: Duration) -> bool {
        if self.end().is_some() {
            return false;
        }
        let (answered, pong) = oneshot::channel();
        self.shared
            .probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(answered);
        self.shared.probe.notify_one();
        matches!(tokio::time::timeout(within, pong).await, Ok(Ok(())))
    }

    /// Closes the link: a close frame (1000) goes out, the socket is shut, pending calls
    /// fail. Returns at once; [`Link::ended`] tells when it is done.
    pub fn close(&self) {
        self.shared.close.notify_one();
    }

    /// Why the link ended, or `None` while it is up.
    pub fn end(&self) -> Option<LinkEnd> {
        self.shared.ended.borrow().clone()
    }

    /// Waits until the link has ended and says why.
    pub async fn ended(&self) -> LinkEnd {
        let mut ended = self.shared.ended.subscribe();
        match ended.wait_for(Option::is_some).await {
            Ok(end) => end.clone().unwrap_or(LinkEnd::Closed),
            // The sender lives in `shared`, which we hold: it cannot be gone.
            Err(_) => LinkEnd::Closed,
        }
    }
}
