//! Links over real TCP on 127.0.0.1 for the rpc tests.

#![allow(dead_code)] // each test binary uses part of it

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use offchain_wsrpc::rpc::{Link, LinkConfig, Service};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;

/// Answers every method with its payload, or an error for `Fail`, after an optional
/// delay encoded as the payload's first byte (milliseconds × 10).
pub struct Echo;

#[async_trait::async_trait]
impl Service for Echo {
    async fn handle(&self, method: &str, payload: Bytes) -> Result<Bytes, String> {
        if let Some(&tens_of_ms) = payload.first() {
            tokio::time::sleep(Duration::from_millis(u64::from(tens_of_ms) * 10)).await;
        }
        match method {
            "Fail" => Err("refused".to_owned()),
            _ => Ok(payload),
        }
    }
}

/// Short timers so liveness tests take a fraction of a second.
pub fn quick(mut config: LinkConfig) -> LinkConfig {
    config.ping_interval = Duration::from_millis(50);
    // Generous next to the ping interval, so a loaded CI machine does not fake a death.
    config.pong_timeout = Duration::from_secs(1);
    config.write_timeout = Duration::from_millis(400);
    config
}

/// A connected TCP pair: (server side, client side) WebSocket streams.
pub async fn ws_pair(
    server: &LinkConfig,
    client: &LinkConfig,
) -> (WebSocketStream<TcpStream>, WebSocketStream<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server_config = server.websocket_config();
    let accepting = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio_tungstenite::accept_async_with_config(tcp, Some(server_config))
            .await
            .unwrap()
    });
    let tcp = TcpStream::connect(address).await.unwrap();
    let (client_ws, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{address}/"),
        tcp,
        Some(client.websocket_config()),
    )
    .await
    .unwrap();
    (accepting.await.unwrap(), client_ws)
}

/// A JD-side link and a node-side link on one TCP connection, both serving [`Echo`].
pub async fn link_pair(jd: LinkConfig, node: LinkConfig) -> (Link, Link) {
    let (server, client) = ws_pair(&jd, &node).await;
    (
        Link::spawn(server, jd, Arc::new(Echo)),
        Link::spawn(client, node, Arc::new(Echo)),
    )
}

/// A JD-side link serving [`Echo`], and the raw client stream to poke it with.
pub async fn link_and_raw_peer(jd: LinkConfig) -> (Link, WebSocketStream<TcpStream>) {
    let (server, client) = ws_pair(&jd, &LinkConfig::node()).await;
    (Link::spawn(server, jd, Arc::new(Echo)), client)
}

/// Fails a test that would otherwise hang.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within 10 s"))
}

/// xorshift64*: enough randomness to shake a decoder, seeded so a failure replays.
pub struct Xorshift(pub u64);

impl Xorshift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Up to `max_len` random bytes.
    pub fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.next() % (max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}
