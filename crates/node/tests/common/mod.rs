//! A fake JD for the node's link tests: a real TLS + WebSocket listener on 127.0.0.1:0
//! whose `FeedsManager` records every call and answers as the test sets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use offchain_proto::cfm;
use offchain_wsrpc::accept::{self, AcceptConfig, LinkRegistry};
use offchain_wsrpc::keys::{AllowedKeys, PublicKey};
use offchain_wsrpc::rpc::{Link, LinkConfig, Router};
use offchain_wsrpc::tls::{self, Identity};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// How long a test waits for something that should happen at once.
pub const LIMIT: Duration = Duration::from_secs(10);

pub fn identity(seed: u8) -> Identity {
    Identity::from_seed(&[seed; 32]).unwrap()
}

pub fn key(seed: u8) -> PublicKey {
    identity(seed).public_key()
}

/// A call the node made on the fake JD.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    UpdateNode(Box<cfm::UpdateNodeRequest>),
    ApprovedJob(String, i64),
    RejectedJob(String, i64),
    CancelledJob(String, i64),
}

/// How the fake JD answers.
#[derive(Default)]
pub struct Answers {
    /// `UpdateNode` fails with an error string this many times first.
    pub update_node_failures: AtomicUsize,
    /// `UpdateNode` answers `chain_config_errors` this many times (after the failures).
    pub update_node_config_errors: AtomicUsize,
    /// `ApprovedJob` answers an error string.
    pub refuse_approvals: AtomicBool,
    /// `ApprovedJob` waits for `release_approvals` before answering.
    pub hold_approvals: AtomicBool,
    pub release_approvals: tokio::sync::Notify,
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

pub struct FakeJd {
    pub address: String,
    // Not every test file changes the answers.
    #[allow(dead_code)]
    pub answers: Arc<Answers>,
    calls: mpsc::UnboundedReceiver<Call>,
    // Not every test file waits for links.
    #[allow(dead_code)]
    links: mpsc::UnboundedReceiver<Link>,
}

impl FakeJd {
    /// A JD with the key of `seed`, allowing the node keys `allowed`.
    pub async fn start(seed: u8, allowed: &[PublicKey]) -> FakeJd {
        let tls = TlsAcceptor::from(
            tls::server_config(&identity(seed), AllowedKeys::new(allowed.iter().copied())).unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (accepted_tx, mut accepted) = mpsc::channel(8);
        tokio::spawn(accept::serve(
            listener,
            tls,
            LinkRegistry::default(),
            AcceptConfig::default(),
            accepted_tx,
        ));
        let answers = Arc::new(Answers::default());
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let (links_tx, links) = mpsc::unbounded_channel();
        let router = Arc::new(feeds_manager(answers.clone(), calls_tx));
        tokio::spawn(async move {
            while let Some(accepted) = accepted.recv().await {
                let link = Link::spawn(accepted.websocket, LinkConfig::jd(), router.clone());
                let guard = accepted.guard;
                let held = link.clone();
                tokio::spawn(async move {
                    held.ended().await;
                    drop(guard);
                });
                let _ = links_tx.send(link);
            }
        });
        FakeJd {
            address,
            answers,
            calls,
            links,
        }
    }

    /// The next call the node made.
    pub async fn next_call(&mut self) -> Call {
        tokio::time::timeout(LIMIT, self.calls.recv())
            .await
            .expect("a call in time")
            .expect("the fake JD runs")
    }

    /// The next link the node opened.
    #[allow(dead_code)]
    pub async fn next_link(&mut self) -> Link {
        tokio::time::timeout(LIMIT, self.links.recv())
            .await
            .expect("a link in time")
            .expect("the fake JD runs")
    }
}

fn feeds_manager(answers: Arc<Answers>, calls: mpsc::UnboundedSender<Call>) -> Router {
    let update = calls.clone();
    let approved = calls.clone();
    let rejected = calls.clone();
    let cancelled = calls;
    let approvals = answers.clone();
    Router::new()
        .method("UpdateNode", move |request: cfm::UpdateNodeRequest| {
            let _ = update.send(Call::UpdateNode(Box::new(request)));
            let answers = answers.clone();
            async move {
                if take_one(&answers.update_node_failures) {
                    return Err("database unavailable".to_owned());
                }
                let mut response = cfm::UpdateNodeResponse::default();
                if take_one(&answers.update_node_config_errors) {
                    response.chain_config_errors.insert(
                        "1".to_owned(),
                        cfm::ChainConfigError {
                            message: "unknown chain".to_owned(),
                        },
                    );
                }
                Ok(response)
            }
        })
        .method("ApprovedJob", move |request: cfm::ApprovedJobRequest| {
            let _ = approved.send(Call::ApprovedJob(request.uuid, request.version));
            let refuse = approvals.refuse_approvals.load(Ordering::SeqCst);
            let answers = approvals.clone();
            async move {
                if answers.hold_approvals.load(Ordering::SeqCst) {
                    answers.release_approvals.notified().await;
                }
                if refuse {
                    return Err("unknown proposal".to_owned());
                }
                Ok(cfm::ApprovedJobResponse {})
            }
        })
        .method("RejectedJob", move |request: cfm::RejectedJobRequest| {
            let _ = rejected.send(Call::RejectedJob(request.uuid, request.version));
            async { Ok(cfm::RejectedJobResponse {}) }
        })
        .method("CancelledJob", move |request: cfm::CancelledJobRequest| {
            let _ = cancelled.send(Call::CancelledJob(request.uuid, request.version));
            async { Ok(cfm::CancelledJobResponse {}) }
        })
}
