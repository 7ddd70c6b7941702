//! The task that owns a link's WebSocket: one loop that reads, writes, pings and ends it.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{LinkConfig, LinkEnd, Service, Shared};
use crate::frame::{self, Ignored, Inbound};

/// How long we wait for the peer's close frame after sending ours, before shutting the
/// socket anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

pub(super) struct Driver<S> {
    ws: WebSocketStream<S>,
    config: LinkConfig,
    service: Arc<dyn Service>,
    shared: Arc<Shared>,
    /// Weak, so the link closes once every handle is gone; upgraded for each request.
    responder: mpsc::WeakSender<Vec<u8>>,
    outgoing: mpsc::Receiver<Vec<u8>>,
    serving: Arc<Semaphore>,
    /// Probes waiting for the pong to our latest probe ping, and that ping's number (its
    /// payload), so an older pong does not answer a newer probe.
    probing: Vec<oneshot::Sender<()>>,
    probe_ping: u64,
}

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub(super) fn new(
        ws: WebSocketStream<S>,
        config: LinkConfig,
        service: Arc<dyn Service>,
        shared: Arc<Shared>,
        responder: mpsc::WeakSender<Vec<u8>>,
        outgoing: mpsc::Receiver<Vec<u8>>,
    ) -> Self {
        let serving = Arc::new(Semaphore::new(config.max_concurrent_requests));
        Self {
            ws,
            config,
            service,
            shared,
            responder,
            outgoing,
            serving,
            probing: Vec::new(),
            probe_ping: 0,
        }
    }

    pub(super) async fn run(mut self) {
        let end = self.serve().await;
        tracing::debug!(%end, "link ended");
        // Refuse new calls, fail the pending ones, tell the watchers; then say goodbye.
        self.outgoing.close();
        self.shared.pending().clear();
        self.shared.ended.send_replace(Some(end.clone()));
        self.shut(&end).await;
    }

    /// Runs the link until something ends it.
    async fn serve(&mut self) -> LinkEnd {
        let start = Instant::now();
        let mut ping = interval_at(start + self.config.ping_interval, self.config.ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pong_deadline = start + self.config.pong_timeout;
        loop {
            // Unbiased on purpose: a steady stream of outgoing frames must not keep us from
            // reading pongs, nor a chatty peer keep our answers from going out.
            tokio::select! {
                () = self.shared.close.notified() => return LinkEnd::Closed,
                () = sleep_until(pong_deadline) => return LinkEnd::PongTimeout,
                () = self.shared.probe.notified() => {
                    if let Err(end) = self.send_probe_ping().await {
                        return end;
                    }
                }
                queued = self.outgoing.recv() => match queued {
                    Some(frame) => {
                        if let Err(end) = self.write_batch(frame).await {
                            return end;
                        }
                    }
                    // Every handle is gone and no request is being served.
                    None => return LinkEnd::Closed,
                },
                _ = ping.tick() => {
                    if let Err(end) = self.write(WsMessage::Ping(Bytes::new())).await {
                        return end;
                    }
                }
                received = self.ws.next() => match received {
                    Some(Ok(WsMessage::Binary(data))) => {
                        if let Err(end) = self.receive(data) {
                            return end;
                        }
                    }
                    // Text frames are treated like binary ones (spec).
                    Some(Ok(WsMessage::Text(text))) => {
                        if let Err(end) = self.receive(Bytes::from(text)) {
                            return end;
                        }
                    }
                    Some(Ok(WsMessage::Pong(payload))) => {
                        pong_deadline = Instant::now() + self.config.pong_timeout;
                        if payload.as_ref() == self.probe_ping.to_be_bytes() {
                            for prober in self.probing.drain(..) {
                                let _ = prober.send(());
                            }
                        }
                    }
                    Some(Ok(WsMessage::Ping(_))) => {
                        // tungstenite queued the pong; send it now rather than with the next frame.
                        if let Err(end) = self.flush().await {
                            return end;
                        }
                    }
                    Some(Ok(WsMessage::Close(frame))) => {
                        return LinkEnd::ClosedByPeer { code: frame.map(|f| u16::from(f.code)) };
                    }
                    Some(Ok(WsMessage::Frame(_))) => {}
                    Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                        return LinkEnd::FrameTooLarge;
                    }
                    Some(Err(error)) => return LinkEnd::Transport(error.to_string()),
                    None => return LinkEnd::Transport("closed without a close frame".into()),
                },
            }
        }
    }

    /// Acts on one received frame; `Err` ends the link.
    fn receive(&mut self, data: Bytes) -> Result<(), LinkEnd> {
        if data.len() > self.config.max_frame_size {
            return Err(LinkEnd::FrameTooLarge);
        }
        match frame::classify(&data, self.config.call_ids) {
            Inbound::Request(request) => {
                self.serve_request(request.method, request.call_id, request.payload)
            }
            Inbound::BadCallId(request) => {
                tracing::debug!(method = %request.method, "request with a call id that is not a UUIDv4 dropped");
            }
            Inbound::Response { call_id, outcome } => {
                match self.shared.pending().remove(&call_id) {
                    // The caller may have given up in the meantime; nothing to do then.
                    Some(waiting) => drop(waiting.send(outcome)),
                    None => tracing::debug!("response to no pending call ignored"),
                }
            }
            Inbound::Ignored(Ignored::Empty) => tracing::debug!("empty frame ignored"),
            Inbound::Ignored(Ignored::Unparseable) => tracing::debug!("unparseable frame ignored"),
        }
        Ok(())
    }

    /// Answers one request in its own task, so requests are served concurrently and a
    /// slow one never holds up the link.
    fn serve_request(&self, method: String, call_id: String, payload: Bytes) {
        let Some(respond) = self.responder.upgrade() else {
            return; // every handle is gone: the link is closing
        };
        let permit = self.serving.clone().try_acquire_owned();
        let service = self.service.clone();
        tokio::spawn(async move {
            let outcome = match permit {
                // A bug in a handler costs its caller an error string, not the link.
                Ok(_permit) => AssertUnwindSafe(service.handle(&method, payload))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err("internal error".to_owned())),
                Err(_) => Err("too many concurrent requests".to_owned()),
            };
            // The link may have ended meanwhile; the answer then has nowhere to go.
            let _ = respond
                .send(frame::encode_response(&call_id, outcome))
                .await;
        });
    }

    /// Sends a ping numbered anew for the probes that came in since the last one; its
    /// pong answers them all.
    async fn send_probe_ping(&mut self) -> Result<(), LinkEnd> {
        let new = std::mem::take(
            &mut *self
                .shared
                .probes
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.probing.extend(new);
        self.probe_ping += 1;
        let payload = Bytes::copy_from_slice(&self.probe_ping.to_be_bytes());
        self.write(WsMessage::Ping(payload)).await
    }

    /// Writes `first` and whatever else is queued, with one flush.
    async fn write_batch(&mut self, first: Vec<u8>) -> Result<(), LinkEnd> {
        let ws = &mut self.ws;
        let outgoing = &mut self.outgoing;
        let written = timeout(self.config.write_timeout, async {
            ws.feed(WsMessage::Binary(first.into())).await?;
            while let Ok(next) = outgoing.try_recv() {
                ws.feed(WsMessage::Binary(next.into())).await?;
            }
            ws.flush().await
        })
        .await;
        written_or_end(written)
    }

    async fn write(&mut self, message: WsMessage) -> Result<(), LinkEnd> {
        written_or_end(timeout(self.config.write_timeout, self.ws.send(message)).await)
    }

    async fn flush(&mut self) -> Result<(), LinkEnd> {
        written_or_end(timeout(self.config.write_timeout, self.ws.flush()).await)
    }

    /// Sends our close frame (unless the peer's close was already answered by
    /// tungstenite), waits briefly for the peer's, and shuts the socket.
    async fn shut(&mut self, end: &LinkEnd) {
        let (code, reason) = match end {
            LinkEnd::FrameTooLarge => (CloseCode::Size, "frame too large"),
            LinkEnd::PongTimeout => (CloseCode::Away, "no pong"),
            _ => (CloseCode::Normal, ""),
        };
        let close = CloseFrame {
            code,
            reason: reason.into(),
        };
        // Bounded: after a write timeout the socket may take nothing more.
        if timeout(self.config.write_timeout, self.ws.close(Some(close)))
            .await
            .is_ok_and(|sent| sent.is_ok())
        {
            let _ = timeout(CLOSE_GRACE, async {
                while let Some(Ok(_)) = self.ws.next().await {}
            })
            .await;
        }
        let _ = timeout(CLOSE_GRACE, self.ws.get_mut().shutdown()).await;
    }
}

fn written_or_end(
    written: Result<Result<(), WsError>, tokio::time::error::Elapsed>,
) -> Result<(), LinkEnd> {
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(LinkEnd::Transport(error.to_string())),
        Err(_elapsed) => Err(LinkEnd::WriteTimeout),
    }
}
