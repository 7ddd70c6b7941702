//! The node's link to one Job Distributor (`shared/spec/node-link.md`, "Behaviour").
//!
//! [`JdLink::start`] runs a task that dials the JD forever ([`offchain_wsrpc::dial::redial`],
//! accepting exactly the configured JD key) and, for each link, serves `NodeService` from
//! the proposal store and reports the node's [`NodeFacts`] with `UpdateNode` — on every new
//! link, and again whenever the facts `watch` changes. A [`JdLinkHandle`] tells whether the
//! link is up and calls `ApprovedJob` / `RejectedJob` / `CancelledJob` on it.
//!
//! `UpdateNode` is retried with backoff (from 1 s) while the call fails *or* the JD answers
//! `chain_config_errors`, as the issue asks: a JD that refuses a chain config may accept it
//! after its own upgrade, and the capped backoff keeps the retries cheap.

mod facts;
mod service;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use offchain_proto::cfm;
use offchain_wsrpc::backoff::{Backoff, BackoffConfig};
use offchain_wsrpc::dial::{self, ClientLink, DialConfig, RedialConfig};
use offchain_wsrpc::keys::PublicKey;
use offchain_wsrpc::rpc::{CallError, Link, LinkConfig, Service};
use offchain_wsrpc::tls::{self, Identity, TlsError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ApprovalPolicy;
use crate::jobs::Jobs;
use crate::proposals::{Approval, Untold};
use crate::store::Store;

pub use facts::NodeFacts;
pub use service::STORE_FAILURE;

/// How long a call to the JD waits for its answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything one JD link needs.
pub struct JdLinkSettings {
    /// The node's configured `name`, named in the link's log lines.
    pub node_name: String,
    /// `host:port` of the JD's node listener, as configured (named in logs).
    pub uri: String,
    /// The JD's CSA key: the only one accepted.
    pub jd_key: PublicKey,
    /// The node's CSA key.
    pub identity: Identity,
    /// `[approval] policy`.
    pub policy: ApprovalPolicy,
    /// The proposal store.
    pub store: Store,
    /// The running jobs, kept in step with the decisions this link carries.
    pub jobs: Jobs,
    /// The facts reported with `UpdateNode`; a change is reported on the live link.
    pub facts: watch::Receiver<NodeFacts>,
    /// Dialing, redialing, the link's timers, `UpdateNode` retries: the spec's values by
    /// [`JdLinkSettings::timers`]; tests shorten them.
    pub timers: LinkTimers,
}

/// The timers of a JD link.
#[derive(Debug, Clone)]
pub struct LinkTimers {
    pub dial: DialConfig,
    pub redial: RedialConfig,
    pub link: LinkConfig,
    /// Between `UpdateNode` attempts (spec: from 1 s, like redialing).
    pub update_backoff: BackoffConfig,
    /// How long a call to the JD waits.
    pub call_timeout: Duration,
}

impl Default for LinkTimers {
    fn default() -> Self {
        LinkTimers {
            dial: DialConfig::default(),
            redial: RedialConfig::default(),
            link: LinkConfig::node(),
            update_backoff: BackoffConfig::default(),
            call_timeout: CALL_TIMEOUT,
        }
    }
}

/// The link as the HTTP API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Whether a link is up now.
    pub up: bool,
    /// Why the last dial failed or the last link ended (kept while up, for history).
    pub last_error: Option<String>,
}

/// What the link task, its service and its handles share.
struct Shared {
    /// The node's name, for log lines.
    node_name: String,
    uri: String,
    /// The JD key as the store keys proposals: lowercase hex.
    jd_key: String,
    policy: ApprovalPolicy,
    store: Store,
    jobs: Jobs,
}

/// A handle on one JD link: its state, and calls on it while it is up.
#[derive(Clone)]
pub struct JdLinkHandle {
    uri: Arc<str>,
    state: watch::Receiver<LinkState>,
    live: Arc<Mutex<Option<Link>>>,
    call_timeout: Duration,
    jobs: Jobs,
}

impl std::fmt::Debug for JdLinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JdLinkHandle")
            .field("uri", &self.uri)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl JdLinkHandle {
    /// The JD's configured `host:port`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The link's state now.
    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// The link's state, to wait for changes.
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    fn live(&self) -> Result<Link, CallError> {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(CallError::NotConnected)
    }

    async fn decision(&self, method: &str, uuid: &str, version: i64) -> Result<(), CallError> {
        let request = cfm::ApprovedJobRequest {
            uuid: uuid.to_owned(),
            version,
        };
        // The three requests and responses have the same fields.
        self.live()?
            .call_message::<_, cfm::ApprovedJobResponse>(method, &request, self.call_timeout)
            .await
            .map(drop)
    }

    /// `ApprovedJob(uuid, version)` on the JD; [`CallError::NotConnected`] while down.
    pub async fn approved_job(&self, uuid: &str, version: i64) -> Result<(), CallError> {
        self.decision("ApprovedJob", uuid, version).await
    }

    /// `RejectedJob(uuid, version)` on the JD.
    pub async fn rejected_job(&self, uuid: &str, version: i64) -> Result<(), CallError> {
        self.decision("RejectedJob", uuid, version).await
    }

    /// `CancelledJob(uuid, version)` on the JD.
    pub async fn cancelled_job(&self, uuid: &str, version: i64) -> Result<(), CallError> {
        self.decision("CancelledJob", uuid, version).await
    }

    /// Tells the JD `decision` (`RejectedJob` / `CancelledJob`) and forgets it once the JD
    /// answered; while the link is down it stays kept and goes out on the next link.
    pub async fn tell(&self, store: &Store, decision: &Untold) -> Result<(), CallError> {
        tell_on(&self.live()?, store, &self.uri, decision, self.call_timeout).await
    }

    /// Tells the JD about `approval` with `ApprovedJob`; if that fails, undoes it in `store`
    /// (the spec's rule) and returns the call's error.
    pub async fn confirm_approval(
        &self,
        store: &Store,
        approval: &Approval,
    ) -> Result<(), CallError> {
        let uuid = approval.uuid.to_string();
        // The job runs before the JD is told, so it is runnable once the JD shows APPROVED.
        self.sync_job(&approval.jd, approval.uuid).await;
        let Err(error) = self.approved_job(&uuid, approval.version).await else {
            tracing::info!(jd = %self.uri, %uuid, version = approval.version, "approval sent");
            return Ok(());
        };
        tracing::warn!(jd = %self.uri, %uuid, version = approval.version, %error,
            "ApprovedJob failed: the approval is undone");
        if let Err(revert) = store.revert_approval(approval).await {
            tracing::error!(jd = %self.uri, %uuid, error = %revert, "undoing the approval failed");
        }
        self.sync_job(&approval.jd, approval.uuid).await;
        Err(error)
    }

    /// Brings proposal `uuid`'s running job in step with the store; a failure is logged.
    pub async fn sync_job(&self, jd: &str, uuid: uuid::Uuid) {
        if let Err(error) = self.jobs.reconcile(jd, uuid).await {
            tracing::error!(jd = %self.uri, %uuid, %error, "the job could not be updated");
        }
    }
}

/// A running JD link; dropping it stops the task and closes the link.
#[derive(Debug)]
pub struct JdLink {
    handle: JdLinkHandle,
    task: JoinHandle<()>,
}

impl Drop for JdLink {
    fn drop(&mut self) {
        self.task.abort();
        if let Ok(link) = self.handle.live() {
            link.close();
        }
    }
}

impl JdLink {
    /// Starts linking to the JD. Must be called inside a Tokio runtime.
    pub fn start(settings: JdLinkSettings) -> Result<JdLink, TlsError> {
        let tls = tls::client_config(&settings.identity, settings.jd_key)?;
        let (state_tx, state) = watch::channel(LinkState::default());
        let handle = JdLinkHandle {
            uri: settings.uri.as_str().into(),
            state,
            live: Arc::new(Mutex::new(None)),
            call_timeout: settings.timers.call_timeout,
            jobs: settings.jobs.clone(),
        };
        let shared = Arc::new(Shared {
            node_name: settings.node_name,
            uri: settings.uri,
            jd_key: settings.jd_key.to_hex(),
            policy: settings.policy,
            store: settings.store,
            jobs: settings.jobs,
        });
        let service: Arc<dyn Service> =
            Arc::new(service::node_service(shared.clone(), handle.clone()));
        let task = tokio::spawn(run(
            shared,
            handle.clone(),
            service,
            tls,
            settings.timers,
            settings.facts,
            state_tx,
        ));
        Ok(JdLink { handle, task })
    }

    /// A handle on the link.
    pub fn handle(&self) -> &JdLinkHandle {
        &self.handle
    }
}

async fn run(
    shared: Arc<Shared>,
    handle: JdLinkHandle,
    service: Arc<dyn Service>,
    tls: Arc<rustls::ClientConfig>,
    timers: LinkTimers,
    facts: watch::Receiver<NodeFacts>,
    state: watch::Sender<LinkState>,
) {
    let on_link = |websocket: ClientLink| {
        serve_link(
            &shared,
            &handle,
            service.clone(),
            &timers,
            facts.clone(),
            &state,
            websocket,
        )
    };
    let on_failure = |error: &dial::DialError| {
        // `redial` logs the failure; "the JD refused this node's key" is its wording.
        state.send_replace(LinkState {
            up: false,
            last_error: Some(error.to_string()),
        });
    };
    dial::redial(
        &shared.uri,
        tls.clone(),
        &timers.dial,
        &timers.redial,
        on_link,
        on_failure,
    )
    .await;
}

async fn serve_link(
    shared: &Shared,
    handle: &JdLinkHandle,
    service: Arc<dyn Service>,
    timers: &LinkTimers,
    facts: watch::Receiver<NodeFacts>,
    state: &watch::Sender<LinkState>,
    websocket: ClientLink,
) {
    let link = Link::spawn(websocket, timers.link.clone(), service);
    *handle.live.lock().unwrap_or_else(PoisonError::into_inner) = Some(link.clone());
    state.send_modify(|state| state.up = true);
    // One line per link up and down, naming both ends: what an operator greps for.
    tracing::info!(node = %shared.node_name, jd = %shared.uri, "link up");

    let work = async {
        let ((), never) = tokio::join!(
            tell_untold(shared, &link, timers.call_timeout),
            report_facts(shared, &link, timers, facts)
        );
        never
    };
    let end = tokio::select! {
        end = link.ended() => end,
        never = work => match never {},
    };

    *handle.live.lock().unwrap_or_else(PoisonError::into_inner) = None;
    tracing::info!(node = %shared.node_name, jd = %shared.uri, reason = %end, "link down");
    state.send_replace(LinkState {
        up: false,
        last_error: Some(end.to_string()),
    });
}

/// Sends `decision` on `link`. Once the JD answered — with an error too: asking again would
/// not change its mind — the decision is forgotten; a call that failed on the way keeps it.
async fn tell_on(
    link: &Link,
    store: &Store,
    uri: &str,
    decision: &Untold,
    timeout: Duration,
) -> Result<(), CallError> {
    // The three decision requests and responses have the same fields.
    let request = cfm::RejectedJobRequest {
        uuid: decision.uuid.clone(),
        version: decision.version,
    };
    let method = decision.decision.method();
    let outcome = link
        .call_message::<_, cfm::RejectedJobResponse>(method, &request, timeout)
        .await
        .map(drop);
    let answered = matches!(
        outcome,
        Ok(()) | Err(CallError::Remote(_) | CallError::Decode { .. })
    );
    if answered && let Err(error) = store.forget_untold(decision).await {
        tracing::error!(jd = %uri, uuid = %decision.uuid, %error,
            "forgetting a told decision failed; it is sent again on the next link");
    }
    match &outcome {
        Ok(()) => tracing::info!(jd = %uri, uuid = %decision.uuid, version = decision.version,
            method, "decision sent"),
        Err(error) => tracing::warn!(jd = %uri, uuid = %decision.uuid,
            version = decision.version, method, %error, answered, "telling the JD failed"),
    }
    outcome
}

/// Sends the decisions the JD has not confirmed (made while no link was up), oldest first.
/// Stops at the first call that fails on the way: the link is going down, and the next link
/// starts over.
async fn tell_untold(shared: &Shared, link: &Link, timeout: Duration) {
    let untold = match shared.store.untold(&shared.jd_key).await {
        Ok(untold) => untold,
        Err(error) => {
            tracing::error!(jd = %shared.uri, %error, "reading the untold decisions failed");
            return;
        }
    };
    for decision in &untold {
        let outcome = tell_on(link, &shared.store, &shared.uri, decision, timeout).await;
        if matches!(
            outcome,
            Err(CallError::Timeout | CallError::NotConnected | CallError::NotReady)
        ) {
            return;
        }
    }
}

/// Reports the facts on `link` now and after every change, retrying each report with
/// backoff until the JD accepts it. Runs until the link ends (the caller drops it).
async fn report_facts(
    shared: &Shared,
    link: &Link,
    timers: &LinkTimers,
    mut facts: watch::Receiver<NodeFacts>,
) -> std::convert::Infallible {
    let mut reported = false;
    loop {
        if reported {
            // A closed sender means the facts never change again.
            if facts.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
        let request = facts.borrow_and_update().update_node_request();
        let mut backoff = Backoff::new(timers.update_backoff.clone());
        loop {
            let outcome = link
                .call_message::<_, cfm::UpdateNodeResponse>(
                    "UpdateNode",
                    &request,
                    timers.call_timeout,
                )
                .await;
            match outcome {
                Ok(response) if response.chain_config_errors.is_empty() => {
                    tracing::info!(jd = %shared.uri, "node facts reported");
                    break;
                }
                Ok(response) => {
                    let errors: Vec<String> = response
                        .chain_config_errors
                        .iter()
                        .map(|(chain, error)| format!("{chain}: {}", error.message))
                        .collect();
                    tracing::warn!(jd = %shared.uri, errors = ?errors,
                        "the JD refused some chain configs; reporting again");
                }
                Err(error) => {
                    tracing::warn!(jd = %shared.uri, %error, "UpdateNode failed; retrying");
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
        reported = true;
    }
}
