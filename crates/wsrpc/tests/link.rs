//! Accepting and dialing links over real TCP + TLS: the JD's listener and the node's dialer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use offchain_wsrpc::accept::{self, AcceptConfig, Accepted, LinkRegistry};
use offchain_wsrpc::backoff::BackoffConfig;
use offchain_wsrpc::dial::{self, DialConfig, DialError, RedialConfig};
use offchain_wsrpc::keys::{AllowedKeys, PublicKey};
use offchain_wsrpc::tls::{self, Identity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

const LIMIT: Duration = Duration::from_secs(10);
const JD: u8 = 1;
const NODE: u8 = 2;

fn identity(n: u8) -> Identity {
    Identity::from_seed(&[n; 32]).unwrap()
}

fn key(n: u8) -> PublicKey {
    identity(n).public_key()
}

/// A JD listening on an ephemeral port, allowing `allowed`.
struct Jd {
    address: String,
    registry: LinkRegistry,
    links: mpsc::Receiver<Accepted<TcpStream>>,
}

impl Jd {
    async fn start(allowed: &[u8], config: AcceptConfig) -> Self {
        Self::start_as(JD, allowed, LinkRegistry::default(), config).await
    }

    async fn start_as(
        jd: u8,
        allowed: &[u8],
        registry: LinkRegistry,
        config: AcceptConfig,
    ) -> Self {
        let allowed = AllowedKeys::new(allowed.iter().map(|n| key(*n)));
        let tls = TlsAcceptor::from(tls::server_config(&identity(jd), allowed).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (sender, links) = mpsc::channel(8);
        tokio::spawn(accept::serve(
            listener,
            tls,
            registry.clone(),
            config,
            sender,
        ));
        Self {
            address,
            registry,
            links,
        }
    }

    async fn next_link(&mut self) -> Accepted<TcpStream> {
        tokio::time::timeout(LIMIT, self.links.recv())
            .await
            .expect("a link in time")
            .expect("the listener runs")
    }
}

fn node_tls(node: u8) -> Arc<rustls::ClientConfig> {
    tls::client_config(&identity(node), key(JD)).unwrap()
}

async fn dial_node(jd: &Jd, node: u8) -> Result<dial::ClientLink, DialError> {
    dial::dial(&jd.address, node_tls(node), &DialConfig::default()).await
}

#[tokio::test]
async fn an_allowed_node_gets_a_link_that_carries_messages_both_ways() {
    let mut jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let mut node_side = dial_node(&jd, NODE).await.expect("the node links up");
    let mut accepted = jd.next_link().await;
    assert_eq!(accepted.peer, key(NODE));
    assert!(jd.registry.contains(&key(NODE)));

    let request = &accepted.request;
    assert_eq!(request.uri().path(), "/");
    let mut names: Vec<&str> = request.headers().keys().map(|name| name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "connection",
            "host",
            "sec-websocket-key",
            "sec-websocket-version",
            "upgrade",
            "user-agent"
        ],
        "only the spec's headers"
    );
    let header = |name: &str| request.headers()[name].to_str().unwrap();
    assert_eq!(header("host"), jd.address);
    assert_eq!(header("connection"), "Upgrade");
    assert_eq!(header("upgrade"), "websocket");
    assert_eq!(header("sec-websocket-version"), "13");
    assert!(header("user-agent").starts_with("offchain-node/"));

    node_side
        .send(Message::binary(b"hello JD".to_vec()))
        .await
        .unwrap();
    let received = tokio::time::timeout(LIMIT, accepted.websocket.next())
        .await
        .unwrap();
    assert_eq!(
        received.unwrap().unwrap(),
        Message::binary(b"hello JD".to_vec())
    );
    accepted
        .websocket
        .send(Message::binary(b"hello node".to_vec()))
        .await
        .unwrap();
    let received = tokio::time::timeout(LIMIT, node_side.next()).await.unwrap();
    assert_eq!(
        received.unwrap().unwrap(),
        Message::binary(b"hello node".to_vec())
    );

    drop(accepted);
    assert!(
        !jd.registry.contains(&key(NODE)),
        "the key is released with the link"
    );
}

#[tokio::test]
async fn an_unknown_key_is_refused_by_the_jd() {
    let jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let error = dial_node(&jd, 3).await.expect_err("refused");
    assert!(matches!(error, DialError::KeyRefused), "{error:?}");
    assert_eq!(error.to_string(), "the JD refused this node's key");
}

#[tokio::test]
async fn a_jd_with_another_key_is_refused_by_the_node() {
    let jd = Jd::start_as(9, &[NODE], LinkRegistry::default(), AcceptConfig::default()).await;
    let error = dial_node(&jd, NODE).await.expect_err("refused");
    assert!(matches!(error, DialError::ServerKeyMismatch), "{error:?}");
}

#[tokio::test]
async fn a_second_link_for_a_live_key_is_answered_200() {
    let mut jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let _first = dial_node(&jd, NODE).await.unwrap();
    let first = jd.next_link().await;
    let error = dial_node(&jd, NODE).await.expect_err("busy");
    assert!(matches!(error, DialError::Busy), "{error:?}");
    assert!(!first.guard.is_replaced());
}

#[tokio::test]
async fn the_busy_answer_is_a_bare_200() {
    let mut jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let _first = dial_node(&jd, NODE).await.unwrap();
    let _held = jd.next_link().await;
    let tcp = TcpStream::connect(&jd.address).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(node_tls(NODE));
    let mut stream = connector
        .connect(tls::server_name("127.0.0.1"), tcp)
        .await
        .unwrap();
    stream
        .write_all(
            b"GET /any/path HTTP/1.1\r\nHost: jd\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(LIMIT, stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

#[tokio::test]
async fn a_stale_link_is_replaced_when_its_probe_gets_no_answer() {
    let registry = LinkRegistry::new(Duration::from_millis(100));
    let mut jd = Jd::start_as(JD, &[NODE], registry, AcceptConfig::default()).await;
    let _old_node_side = dial_node(&jd, NODE).await.unwrap();
    let mut old = jd.next_link().await;
    old.guard.set_probe(Arc::new(std::future::pending::<bool>));

    let _new_node_side = dial_node(&jd, NODE)
        .await
        .expect("the stale link is replaced");
    let new = jd.next_link().await;
    tokio::time::timeout(LIMIT, old.guard.replaced())
        .await
        .expect("the old link learns it was replaced");
    drop(old);
    assert!(
        jd.registry.contains(&key(NODE)),
        "the new link keeps the key"
    );
    assert!(!new.guard.is_replaced());
}

#[tokio::test]
async fn the_handshake_deadline_closes_a_silent_client() {
    let config = AcceptConfig {
        handshake_timeout: Duration::from_millis(200),
        ..AcceptConfig::default()
    };
    let jd = Jd::start(&[NODE], config).await;
    let mut silent = TcpStream::connect(&jd.address).await.unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(LIMIT, silent.read(&mut buffer))
        .await
        .expect("the JD closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn garbage_instead_of_tls_does_not_hurt_the_listener() {
    let mut jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let mut garbage = TcpStream::connect(&jd.address).await.unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 7, 7, 7])
        .await
        .unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buffer = [0u8; 64];
    let _ = tokio::time::timeout(LIMIT, garbage.read(&mut buffer)).await;
    drop(garbage);
    dial_node(&jd, NODE)
        .await
        .expect("the next client still links up");
    assert_eq!(jd.next_link().await.peer, key(NODE));
}

fn fast_redial() -> RedialConfig {
    RedialConfig {
        backoff: BackoffConfig {
            initial: Duration::from_millis(10),
            factor: 1.6,
            jitter: 0.2,
            max: Duration::from_millis(50),
        },
        stable_after: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn redial_keeps_trying_and_reports_each_refusal() {
    let jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let failures = Arc::new(AtomicUsize::new(0));
    let (refused, mut refusals) = mpsc::unbounded_channel();
    let redial = {
        let failures = failures.clone();
        async move {
            dial::redial(
                &jd.address,
                node_tls(3),
                &DialConfig::default(),
                &fast_redial(),
                |_link| async { panic!("an unknown key never links up") },
                move |error| {
                    failures.fetch_add(1, Ordering::SeqCst);
                    let _ = refused.send(error.to_string());
                },
            )
            .await;
        }
    };
    let task = tokio::spawn(redial);
    for _ in 0..3 {
        let reason = tokio::time::timeout(LIMIT, refusals.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reason, "the JD refused this node's key");
    }
    task.abort();
    assert!(failures.load(Ordering::SeqCst) >= 3);
}

#[tokio::test]
async fn redial_links_up_again_after_a_link_ends() {
    let mut jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let address = jd.address.clone();
    let (linked, mut links_up) = mpsc::unbounded_channel::<SocketAddr>();
    let task = tokio::spawn(async move {
        dial::redial(
            &address,
            node_tls(NODE),
            &DialConfig::default(),
            &fast_redial(),
            |link| {
                let linked = linked.clone();
                async move {
                    let _ = linked.send(link.get_ref().get_ref().0.local_addr().unwrap());
                    // The link ends at once.
                }
            },
            |error| panic!("no failure expected: {error}"),
        )
        .await;
    });
    let first = jd.next_link().await;
    drop(first);
    let second = jd.next_link().await;
    assert_eq!(second.peer, key(NODE));
    let one = links_up.recv().await.unwrap();
    let two = links_up.recv().await.unwrap();
    assert_ne!(one, two, "two separate connections");
    task.abort();
}

#[tokio::test]
async fn a_client_offering_alpn_still_gets_the_upgrade() {
    let mut jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let mut offering = (*node_tls(NODE)).clone();
    offering.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    dial::dial(&jd.address, Arc::new(offering), &DialConfig::default())
        .await
        .expect("the JD selects no protocol and upgrades");
    assert_eq!(jd.next_link().await.peer, key(NODE));
}

#[tokio::test]
async fn the_jd_applies_its_message_limit() {
    let config = AcceptConfig {
        websocket: accept::websocket_config(1000),
        ..AcceptConfig::default()
    };
    let mut jd = Jd::start(&[NODE], config).await;
    let mut node_side = dial_node(&jd, NODE).await.unwrap();
    let mut accepted = jd.next_link().await;
    node_side
        .send(Message::binary(vec![7u8; 1000]))
        .await
        .unwrap();
    let fits = tokio::time::timeout(LIMIT, accepted.websocket.next())
        .await
        .unwrap();
    assert_eq!(fits.unwrap().unwrap().len(), 1000);
    node_side
        .send(Message::binary(vec![7u8; 1001]))
        .await
        .unwrap();
    let too_big = tokio::time::timeout(LIMIT, accepted.websocket.next())
        .await
        .unwrap();
    assert!(
        matches!(
            too_big,
            Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(_)))
        ),
        "{too_big:?}"
    );
}

#[tokio::test]
async fn a_link_that_lasted_resets_the_backoff() {
    let mut jd = Jd::start(&[NODE], AcceptConfig::default()).await;
    let address = jd.address.clone();
    // Without a reset the third attempt would wait 50 ms × 1000 = 50 s.
    let config = RedialConfig {
        backoff: BackoffConfig {
            initial: Duration::from_millis(50),
            factor: 1000.0,
            jitter: 0.0,
            max: Duration::from_secs(600),
        },
        stable_after: Duration::ZERO,
    };
    let task = tokio::spawn(async move {
        dial::redial(
            &address,
            node_tls(NODE),
            &DialConfig::default(),
            &config,
            |_link| async {},
            |error| panic!("no failure expected: {error}"),
        )
        .await;
    });
    for _ in 0..3 {
        drop(jd.next_link().await);
    }
    task.abort();
}

#[tokio::test]
async fn the_handshake_deadline_also_covers_a_missing_upgrade() {
    let config = AcceptConfig {
        handshake_timeout: Duration::from_millis(300),
        ..AcceptConfig::default()
    };
    let jd = Jd::start(&[NODE], config).await;
    let tcp = TcpStream::connect(&jd.address).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(node_tls(NODE));
    let mut stream = connector
        .connect(tls::server_name("127.0.0.1"), tcp)
        .await
        .unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(LIMIT, stream.read(&mut buffer))
        .await
        .expect("the JD closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(!jd.registry.contains(&key(NODE)), "the claim is released");
}

#[tokio::test]
async fn handshakes_beyond_the_bound_wait_for_a_free_slot() {
    let config = AcceptConfig {
        max_concurrent_handshakes: 1,
        ..AcceptConfig::default()
    };
    let mut jd = Jd::start(&[NODE], config).await;
    let silent = TcpStream::connect(&jd.address).await.unwrap();
    let quick = DialConfig {
        handshake_timeout: Duration::from_millis(500),
        ..DialConfig::default()
    };
    let error = dial::dial(&jd.address, node_tls(NODE), &quick)
        .await
        .expect_err("the only slot is taken by the silent client");
    assert!(matches!(error, DialError::Timeout), "{error:?}");
    drop(silent);
    dial_node(&jd, NODE)
        .await
        .expect("the freed slot serves the next client");
    assert_eq!(jd.next_link().await.peer, key(NODE));
}
