//! Bad input, liveness and closing: a link survives what the spec says it must, and
//! ends cleanly (close frame, socket shut) otherwise.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Echo, link_and_raw_peer, quick, within};
use futures_util::{SinkExt, StreamExt};
use offchain_proto::message::Message as Frame;
use offchain_wsrpc::frame;
use offchain_wsrpc::rpc::{Link, LinkConfig, LinkEnd};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const GOOD_ID: &str = "9f3c2b1e-8d4a-4c6b-a1e2-3f4d5c6b7a89";

/// Reads frames until a response arrives and returns (call id, outcome).
async fn next_response(peer: &mut WebSocketStream<TcpStream>) -> (String, Result<Bytes, String>) {
    loop {
        let message = within("a response", peer.next()).await.unwrap().unwrap();
        if let Message::Binary(data) = message
            && let frame::Inbound::Response { call_id, outcome } =
                frame::classify(&data, frame::CallIdCheck::Off)
        {
            return (call_id, outcome);
        }
    }
}

async fn send_request(
    peer: &mut WebSocketStream<TcpStream>,
    call_id: &str,
    payload: &'static [u8],
) {
    let request = frame::encode_request("Echo", call_id, Bytes::from_static(payload));
    peer.send(Message::Binary(request.into())).await.unwrap();
}

#[tokio::test]
async fn a_request_with_a_bad_call_id_is_dropped_on_the_jd_side() {
    let (_jd, mut peer) = link_and_raw_peer(LinkConfig::jd()).await;
    send_request(&mut peer, "not-a-uuid", b"\0dropped").await;
    send_request(&mut peer, GOOD_ID, b"\0served").await;
    // Answers to later requests with good ids come back; the bad one never does.
    let second = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46";
    send_request(&mut peer, second, b"\x05later").await;
    let mut answered = vec![
        next_response(&mut peer).await,
        next_response(&mut peer).await,
    ];
    answered.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        answered,
        vec![
            (second.to_owned(), Ok(Bytes::from_static(b"\x05later"))),
            (GOOD_ID.to_owned(), Ok(Bytes::from_static(b"\0served"))),
        ]
    );
}

#[tokio::test]
async fn the_node_side_answers_any_call_id() {
    let (_node, mut peer) = link_and_raw_peer(LinkConfig::node()).await;
    send_request(&mut peer, "42", b"\0fine").await;
    assert_eq!(
        next_response(&mut peer).await,
        ("42".to_owned(), Ok(Bytes::from_static(b"\0fine")))
    );
}

#[tokio::test]
async fn garbage_text_frames_and_empty_messages_leave_the_link_usable() {
    let (jd, mut peer) = link_and_raw_peer(LinkConfig::jd()).await;
    let mut rng = common::Xorshift(0x5eed);
    for _ in 0..500 {
        let garbage = rng.bytes(200);
        peer.send(Message::Binary(garbage.into())).await.unwrap();
    }
    peer.send(Message::Binary(
        Frame { exchange: None }.encode_to_vec().into(),
    ))
    .await
    .unwrap();
    peer.send(Message::Binary(Bytes::new())).await.unwrap();
    peer.send(Message::text("{\"not\": \"protobuf\"}"))
        .await
        .unwrap();
    // A response to a call nobody made is ignored too.
    let stray = frame::encode_response(GOOD_ID, Ok(Bytes::new()));
    peer.send(Message::Binary(stray.into())).await.unwrap();
    // A request in a text frame is served like a binary one.
    let request = frame::encode_request("Echo", GOOD_ID, Bytes::from_static(b"\0text"));
    let text = String::from_utf8(request).expect("this request frame happens to be UTF-8");
    peer.send(Message::text(text)).await.unwrap();
    assert_eq!(
        next_response(&mut peer).await,
        (GOOD_ID.to_owned(), Ok(Bytes::from_static(b"\0text")))
    );
    assert_eq!(jd.end(), None);
}

async fn oversized_frame_closes_with_1009(jd_config: LinkConfig, handshake_limit: bool) {
    let node = LinkConfig::node();
    let (server, mut peer) = if handshake_limit {
        common::ws_pair(&jd_config, &node).await
    } else {
        // The server handshook without the limit: the link's own check must catch it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepting = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio_tungstenite::accept_async(tcp).await.unwrap()
        });
        let tcp = TcpStream::connect(address).await.unwrap();
        let (client, _) = tokio_tungstenite::client_async(format!("ws://{address}/"), tcp)
            .await
            .unwrap();
        (accepting.await.unwrap(), client)
    };
    let limit = jd_config.max_frame_size;
    let jd = Link::spawn(server, jd_config, Arc::new(Echo));
    peer.send(Message::Binary(vec![0u8; limit + 1].into()))
        .await
        .unwrap();
    assert_eq!(expect_close_frame(&mut peer).await, CloseCode::Size);
    assert_eq!(
        within("the link to end", jd.ended()).await,
        LinkEnd::FrameTooLarge
    );
}

#[tokio::test]
async fn an_oversized_frame_closes_the_link_with_1009() {
    let mut config = LinkConfig::jd();
    config.max_frame_size = 1000;
    oversized_frame_closes_with_1009(config.clone(), true).await;
    oversized_frame_closes_with_1009(config, false).await;
}

#[tokio::test]
async fn a_frame_at_the_limit_is_accepted() {
    let mut config = LinkConfig::jd();
    config.max_frame_size = 1000;
    let (server, mut peer) = common::ws_pair(&config, &LinkConfig::node()).await;
    let jd = Link::spawn(server, config, Arc::new(Echo));
    let request = frame::encode_request("Echo", GOOD_ID, Bytes::new());
    let mut padded = request.clone();
    padded.resize(1000, 0); // trailing zero bytes: unparseable, ignored
    peer.send(Message::Binary(padded.into())).await.unwrap();
    peer.send(Message::Binary(request.into())).await.unwrap();
    assert_eq!(next_response(&mut peer).await.0, GOOD_ID);
    assert_eq!(jd.end(), None);
}

#[tokio::test]
async fn the_jd_and_node_defaults_are_the_spec_values() {
    let jd = LinkConfig::jd();
    assert_eq!(jd.max_frame_size, 10_000_000);
    assert_eq!(jd.ping_interval, Duration::from_secs(18));
    assert_eq!(jd.pong_timeout, Duration::from_secs(20));
    assert_eq!(jd.write_timeout, Duration::from_secs(10));
    assert_eq!(jd.call_ids, frame::CallIdCheck::RequireV4);
    let node = LinkConfig::node();
    assert_eq!(node.max_frame_size, 100_000_000);
    assert_eq!(node.call_ids, frame::CallIdCheck::Off);
    let handshake = jd.websocket_config();
    assert_eq!(handshake.max_message_size, Some(10_000_000));
    assert_eq!(handshake.max_frame_size, Some(10_000_000));
    assert!(handshake.read_buffer_size <= 16 * 1024);
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_declared_dead() {
    let config = quick(LinkConfig::jd());
    let pong_timeout = config.pong_timeout;
    let (jd, mut peer) = link_and_raw_peer(config).await;
    let started = Instant::now();
    // The peer keeps sending data but never reads, so it never answers a ping: data
    // frames must not keep the link alive.
    let chatter = tokio::spawn(async move {
        loop {
            let request = frame::encode_request("Echo", GOOD_ID, Bytes::new());
            if peer.send(Message::Binary(request.into())).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert_eq!(
        within("dead-peer detection", jd.ended()).await,
        LinkEnd::PongTimeout
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= pong_timeout, "declared dead after {elapsed:?}");
    chatter.abort();
}

#[tokio::test]
async fn a_peer_that_answers_pings_stays_up_past_the_pong_timeout() {
    let config = quick(LinkConfig::jd());
    let (jd, node) = common::link_pair(config.clone(), quick(LinkConfig::node())).await;
    // Both sides are driven, so pongs flow; after two pong timeouts the link is up.
    tokio::time::sleep(config.pong_timeout * 2).await;
    assert_eq!(jd.end(), None);
    assert_eq!(node.end(), None);
}

async fn expect_close_frame(peer: &mut WebSocketStream<TcpStream>) -> CloseCode {
    let close = loop {
        match within("a close frame", peer.next()).await {
            Some(Ok(Message::Close(close))) => break close,
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    // Then the socket is shut: the stream ends.
    while let Some(Ok(_)) = within("the socket to shut", peer.next()).await {}
    close.map(|c| c.code).unwrap_or(CloseCode::Status)
}

#[tokio::test]
async fn closing_a_link_sends_a_close_frame_and_shuts_the_socket() {
    let (jd, mut peer) = link_and_raw_peer(LinkConfig::jd()).await;
    jd.close();
    assert_eq!(expect_close_frame(&mut peer).await, CloseCode::Normal);
    assert_eq!(within("the link to end", jd.ended()).await, LinkEnd::Closed);
}

#[tokio::test]
async fn dropping_every_handle_closes_the_link() {
    let (jd, mut peer) = link_and_raw_peer(LinkConfig::jd()).await;
    let copy = jd.clone();
    drop(jd);
    drop(copy);
    assert_eq!(expect_close_frame(&mut peer).await, CloseCode::Normal);
}

#[tokio::test]
async fn a_dead_peer_also_gets_a_close_frame() {
    let (jd, mut peer) = link_and_raw_peer(quick(LinkConfig::jd())).await;
    // Not reading means not answering pings; the close frame waits in the socket.
    assert_eq!(
        within("dead-peer detection", jd.ended()).await,
        LinkEnd::PongTimeout
    );
    assert_eq!(expect_close_frame(&mut peer).await, CloseCode::Away);
}

#[tokio::test]
async fn a_write_that_blocks_past_the_write_timeout_ends_the_link() {
    // A peer that never reads, behind a 1 KiB pipe: our writes block.
    let (ours, _theirs) = tokio::io::duplex(1024);
    let ws = WebSocketStream::from_raw_socket(ours, Role::Server, None).await;
    let mut config = quick(LinkConfig::jd());
    config.pong_timeout = Duration::from_secs(60); // only the write timeout may end it
    let jd = Link::spawn(ws, config, Arc::new(Echo));
    let started = Instant::now();
    let call = jd.call(
        "Echo",
        Bytes::from(vec![0u8; 64 * 1024]),
        Duration::from_secs(30),
    );
    let (_, end) = tokio::join!(call, jd.ended());
    assert_eq!(end, LinkEnd::WriteTimeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_busy_link_still_reads_its_pongs() {
    let config = quick(LinkConfig::jd());
    let (jd, node) = common::link_pair(config.clone(), quick(LinkConfig::node())).await;
    // Both sides keep their outgoing queues full for three pong timeouts.
    let busy_until = Instant::now() + config.pong_timeout * 2;
    let callers = (0..64).map(|n| {
        let link = if n % 2 == 0 { jd.clone() } else { node.clone() };
        async move {
            while Instant::now() < busy_until && link.end().is_none() {
                let _ = link
                    .call("Echo", Bytes::from(vec![0u8; 4096]), Duration::from_secs(5))
                    .await;
            }
        }
    });
    within("the busy period", futures_util::future::join_all(callers)).await;
    assert_eq!(jd.end(), None);
    assert_eq!(node.end(), None);
}

#[tokio::test]
async fn a_probe_tells_a_live_peer_from_a_stale_one() {
    // Live: the node side reads and answers pings.
    let (jd, _node) = common::link_pair(LinkConfig::jd(), LinkConfig::node()).await;
    let started = Instant::now();
    assert!(jd.probe(Duration::from_secs(2)).await);
    assert!(started.elapsed() < Duration::from_secs(1));
    // Several probes at once are answered together.
    let (a, b) = tokio::join!(
        jd.probe(Duration::from_secs(2)),
        jd.probe(Duration::from_secs(2))
    );
    assert!(a && b);

    // Stale: a peer that stopped reading never answers, and the probe says so at its
    // deadline, long before the 20 s pong timeout.
    let (stale, _silent_peer) = link_and_raw_peer(LinkConfig::jd()).await;
    let started = Instant::now();
    assert!(!stale.probe(Duration::from_millis(300)).await);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(stale.end(), None, "a probe alone does not end the link");

    // Ended: no probe succeeds.
    stale.close();
    within("the link to end", stale.ended()).await;
    assert!(!stale.probe(Duration::from_secs(2)).await);
}
