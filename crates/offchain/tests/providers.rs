//! The providers and wrappers of the client library against real JDs: TLS with a given CA,
//! operator tokens, idempotent initialization, dry-run and the multi-RPC helpers.

use std::sync::Arc;

use offchain::dry_run::DRY_RUN_ID;
use offchain::proto::csa::GetKeypairRequest;
use offchain::proto::job::{
    BatchProposeJobRequest, ListJobsRequest, ListProposalsRequest, ProposalStatus,
    ProposeJobRequest,
};
use offchain::proto::node::{DisableNodeRequest, ListNodesRequest};
use offchain::{
    Client, DryRunClient, EmbeddedProvider, MemoryProvider, Provider, ProviderError, RemoteConfig,
    RemoteProvider, StaticToken, helpers, selector,
};
use offchain_jd::JobDistributor;
use offchain_jd::auth::{TokenHashes, hash_token};
use offchain_jd::server::{ServeOptions, TlsFiles, serve_with};
use support::{SPEC, register, tls_material};
use tempfile::TempDir;
use tonic::Code;

mod support;

/// A JD serving TLS with `cert` and `key` (PEM), as `offchain jd serve --tls-cert --tls-key`.
async fn tls_jd(cert: String, key: String) -> (offchain_jd::server::RunningServer, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
    let jd = JobDistributor::in_memory().await.unwrap();
    let options = ServeOptions {
        tls: Some(files),
        ..ServeOptions::default()
    };
    let server = serve_with(jd, ([127, 0, 0, 1], 0).into(), None, options)
        .await
        .unwrap();
    (server, dir)
}

#[tokio::test]
async fn remote_provider_speaks_tls_with_a_given_ca() {
    offchain::install_crypto_provider();
    let (ca, cert, key) = tls_material();
    let (server, _dir) = tls_jd(cert, key).await;
    let expected_key = server.jd().csa_keys().public_key_hex();
    let port = server.local_addr().port();

    let endpoint = format!("https://localhost:{port}");
    let trusted = RemoteProvider::new(RemoteConfig::new(&endpoint).with_ca_pem(ca)).unwrap();
    let client = trusted.initialize().await.unwrap();
    assert_eq!(
        helpers::jd_public_key(client.as_ref()).await.unwrap(),
        expected_key
    );

    // The same server is refused when its CA is not trusted (system roots only).
    let untrusted = RemoteProvider::new(RemoteConfig::new(&endpoint)).unwrap();
    let outcome = match untrusted.initialize().await {
        Ok(client) => client
            .get_keypair(GetKeypairRequest {})
            .await
            .err()
            .map(|s| s.to_string()),
        Err(error) => Some(error.to_string()),
    };
    assert!(
        outcome.is_some(),
        "an untrusted certificate must not be accepted"
    );

    // Plaintext gets no answer from a TLS JD.
    let plaintext =
        RemoteProvider::new(RemoteConfig::new(format!("http://127.0.0.1:{port}"))).unwrap();
    let outcome = match plaintext.initialize().await {
        Ok(client) => client.get_keypair(GetKeypairRequest {}).await.err(),
        Err(_) => Some(tonic::Status::unavailable("refused at connect")),
    };
    assert!(outcome.is_some(), "a plaintext call must not be answered");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bearer_tokens_are_sent_on_every_call() {
    let config = offchain_jd::server::ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: offchain_jd::store::SQLITE_MEMORY_URL.into(),
        csa_secret: "test secret".into(),
        auth: Some(TokenHashes::from_list(&hash_token("right"), "test").unwrap()),
    };
    let server = offchain_jd::server::start(config).await.unwrap();
    let endpoint = format!("http://{}", server.local_addr());

    let with_token = |token: &str| {
        RemoteConfig::new(&endpoint).with_token_source(Arc::new(StaticToken::new(token)))
    };
    let good = RemoteProvider::new(with_token("right"))
        .unwrap()
        .initialize()
        .await
        .unwrap();
    assert!(good.list_nodes(ListNodesRequest::default()).await.is_ok());
    assert!(good.get_keypair(GetKeypairRequest {}).await.is_ok());

    let bad = RemoteProvider::new(with_token("wrong"))
        .unwrap()
        .initialize()
        .await
        .unwrap();
    let status = bad
        .list_nodes(ListNodesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let none = RemoteProvider::new(RemoteConfig::new(&endpoint)).unwrap();
    let status = none
        .initialize()
        .await
        .unwrap()
        .get_keypair(GetKeypairRequest {})
        .await;
    assert_eq!(status.unwrap_err().code(), Code::Unauthenticated);

    let broken = RemoteProvider::new(with_token("line\nbreak"))
        .unwrap()
        .initialize()
        .await
        .unwrap();
    let status = broken.get_keypair(GetKeypairRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn initialize_is_idempotent_and_client_absent_before_it() {
    let memory = MemoryProvider::new();
    assert!(memory.offchain_client().is_none());
    let first = memory.initialize().await.unwrap();
    let second = memory.initialize().await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert!(Arc::ptr_eq(&first, &memory.offchain_client().unwrap()));
    assert_eq!(memory.name(), "in-memory JD");

    let embedded = EmbeddedProvider::new();
    assert!(embedded.offchain_client().is_none());
    assert!(embedded.endpoint().is_none());
    let first = embedded.initialize().await.unwrap();
    let second = embedded.initialize().await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert!(
        embedded
            .name()
            .starts_with("embedded JD at http://127.0.0.1:")
    );
}

#[tokio::test]
async fn embedded_server_stops_when_the_provider_is_dropped() {
    let embedded = EmbeddedProvider::new();
    embedded.initialize().await.unwrap();
    let endpoint = embedded.endpoint().unwrap();
    drop(embedded);
    // Give the graceful shutdown a moment, then expect a fresh connection to fail.
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let provider = RemoteProvider::new(RemoteConfig::new(&endpoint)).unwrap();
        if let Err(ProviderError::Unreachable { .. }) = provider.initialize().await {
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "the embedded JD at {endpoint} still accepts connections"
    );
}

#[tokio::test]
async fn embedded_provider_reports_a_bad_database() {
    let config = offchain::EmbeddedConfig {
        database_url: "mysql://nowhere/x".into(),
        ..Default::default()
    };
    let error = EmbeddedProvider::with_config(config)
        .initialize()
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Start(_)), "{error}");
    assert!(
        error.to_string().contains("unsupported database URL"),
        "{error}"
    );
}

#[tokio::test]
async fn dry_run_reads_for_real_and_never_writes() {
    let provider = MemoryProvider::new();
    let real = provider.initialize().await.unwrap();
    let node_id = register(real.as_ref(), 1, "prod").await;
    let dry = DryRunClient::new(real.clone());

    // Reads pass through.
    let listed = dry.list_nodes(ListNodesRequest::default()).await.unwrap();
    assert_eq!(listed.total_count, 1);

    // Writes are simulated and recorded.
    let proposal = dry
        .propose_job(ProposeJobRequest {
            node_id: node_id.clone(),
            spec: SPEC.into(),
            labels: vec![],
        })
        .await
        .unwrap()
        .proposal
        .unwrap();
    assert_eq!(proposal.id, DRY_RUN_ID);
    assert_eq!(proposal.status, ProposalStatus::Proposed as i32);
    let disabled = dry
        .disable_node(DisableNodeRequest {
            id: node_id.clone(),
        })
        .await
        .unwrap();
    assert!(!disabled.node.unwrap().is_enabled);

    let skipped = dry.skipped_writes();
    assert_eq!(
        skipped.iter().map(|w| w.method).collect::<Vec<_>>(),
        ["ProposeJob", "DisableNode"]
    );
    assert!(skipped[0].summary.contains(&node_id));

    // Nothing reached the JD.
    let proposals = real
        .list_proposals(ListProposalsRequest::default())
        .await
        .unwrap();
    assert!(proposals.proposals.is_empty());
    let node = real
        .list_nodes(ListNodesRequest::default())
        .await
        .unwrap()
        .nodes
        .remove(0);
    assert!(node.is_enabled);
}

#[tokio::test]
async fn propose_helpers_report_each_node_and_progress() {
    let provider = MemoryProvider::new();
    let client = provider.initialize().await.unwrap();
    let mut prod = Vec::new();
    for i in 0..150 {
        prod.push(register(client.as_ref(), i, "prod").await);
    }
    let test_node = register(client.as_ref(), 999, "test").await;
    client
        .disable_node(DisableNodeRequest {
            id: prod[0].clone(),
        })
        .await
        .unwrap();

    // By selector: disabled and non-matching nodes are not targeted.
    let selectors = selector::parse_selectors("env=prod").unwrap();
    let outcomes = helpers::propose_to_matching(client.as_ref(), SPEC, &[], selectors)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 149);
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    assert!(
        !outcomes
            .iter()
            .any(|o| o.node_id == test_node || o.node_id == prod[0])
    );

    // By id, in batches with progress; bad nodes fail alone, in the order given.
    let mut ids = vec!["node_missing".to_string(), prod[0].clone()];
    ids.extend(prod[1..].iter().cloned());
    let mut progress = Vec::new();
    let outcomes = helpers::propose_to_nodes(client.as_ref(), SPEC, &[], &ids, |done, total| {
        progress.push((done, total))
    })
    .await
    .unwrap();
    assert_eq!(progress, [(100, 151), (151, 151)]);
    assert_eq!(outcomes.len(), 151);
    assert!(
        outcomes[0]
            .result
            .as_ref()
            .unwrap_err()
            .contains("not found")
    );
    assert!(
        outcomes[1]
            .result
            .as_ref()
            .unwrap_err()
            .contains("disabled")
    );
    assert_eq!(outcomes[2].result.as_ref().unwrap().revision, 2);

    // A bad spec fails the whole call.
    let status = helpers::propose_to_nodes(client.as_ref(), "nope", &[], &ids, |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(status.status.code(), Code::InvalidArgument);
}

/// `spec` padded with a TOML comment to exactly `bytes` bytes.
fn spec_of_size(bytes: usize) -> String {
    let padding = bytes - SPEC.len() - "# \n".len();
    let spec = format!("{SPEC}# {}\n", "x".repeat(padding));
    assert_eq!(spec.len(), bytes);
    spec
}

/// Proposes a 1 MiB spec to 64 enabled nodes in one `BatchProposeJob`: the largest batch
/// the JD accepts, whose answer echoes the spec once per node (over 64 MiB).
async fn maximal_batch_is_answered(client: &dyn Client) {
    let mut node_ids = Vec::new();
    for i in 0..64 {
        node_ids.push(register(client, i, "prod").await);
    }
    let spec = spec_of_size(offchain::limits::MAX_SPEC_BYTES);
    let request = BatchProposeJobRequest {
        node_ids: node_ids.clone(),
        spec: spec.clone(),
        labels: vec![],
    };
    let answer = client.batch_propose_job(request).await.unwrap();
    assert!(answer.failed_responses.is_empty());
    assert_eq!(answer.success_responses.len(), 64);
    for id in &node_ids {
        let proposal = answer.success_responses[id].proposal.as_ref().unwrap();
        assert_eq!(proposal.spec.len(), spec.len());
    }
}

#[tokio::test]
async fn a_maximal_batch_answer_is_read_over_the_network() {
    let provider = EmbeddedProvider::new();
    maximal_batch_is_answered(provider.initialize().await.unwrap().as_ref()).await;
}

#[tokio::test]
async fn a_maximal_batch_answer_is_read_in_memory() {
    let provider = MemoryProvider::new();
    maximal_batch_is_answered(provider.initialize().await.unwrap().as_ref()).await;
}

#[tokio::test]
async fn propose_helpers_keep_each_call_within_the_batch_byte_limit() {
    let provider = MemoryProvider::new();
    let client = provider.initialize().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..250 {
        ids.push(register(client.as_ref(), i, "prod").await);
    }
    // 100 nodes × 1 MiB is over 64 MiB: the helper sends 64 nodes per call instead.
    let spec = spec_of_size(offchain::limits::MAX_SPEC_BYTES);
    let mut progress = Vec::new();
    let outcomes = helpers::propose_to_nodes(client.as_ref(), &spec, &[], &ids, |done, total| {
        progress.push((done, total))
    })
    .await
    .unwrap();
    assert_eq!(progress, [(64, 250), (128, 250), (192, 250), (250, 250)]);
    let proposed: Vec<&String> = outcomes.iter().map(|o| &o.node_id).collect();
    assert_eq!(proposed, ids.iter().collect::<Vec<_>>());
    for outcome in &outcomes {
        let proposal = outcome.result.as_ref().unwrap();
        assert_eq!(proposal.spec.len(), spec.len(), "{}", outcome.node_id);
    }
    // The JD holds one job per node.
    let jobs = client
        .list_jobs(ListJobsRequest::default())
        .await
        .unwrap()
        .jobs;
    assert_eq!(jobs.len(), 250);
}

/// The delivery extension through both in-process providers (they run our JD, which has
/// it) and the dry-run wrapper, which reads it for real; a tokened client sends its
/// token on these calls too.
#[tokio::test]
async fn the_delivery_extension_is_reached_by_every_provider() {
    use offchain::proto::delivery::{GetProposalDeliveryRequest, ListProposalDeliveriesRequest};
    use offchain::proto::job::ProposalDeliveryStatus;

    let memory = MemoryProvider::new();
    let embedded = EmbeddedProvider::new();
    let memory_client = memory.initialize().await.unwrap();
    let embedded_client = embedded.initialize().await.unwrap();
    let dry_run = DryRunClient::new(embedded_client.clone());
    let mut last = None;
    for client in [memory_client, embedded_client] {
        let node_id = register(client.as_ref(), 1, "prod").await;
        let proposal = client
            .propose_job(ProposeJobRequest {
                node_id: node_id.clone(),
                spec: SPEC.into(),
                labels: Vec::new(),
            })
            .await
            .unwrap()
            .proposal
            .unwrap();
        let delivery = client
            .get_proposal_delivery(GetProposalDeliveryRequest {
                proposal_id: proposal.id.clone(),
            })
            .await
            .unwrap()
            .delivery
            .unwrap();
        assert_eq!(delivery.proposal_id, proposal.id);
        // No node link: never pushed.
        assert_eq!(
            delivery.delivery_status(),
            ProposalDeliveryStatus::Unspecified
        );
        assert_eq!(delivery.delivery_error, None);
        let listed = client
            .list_proposal_deliveries(ListProposalDeliveriesRequest {
                proposal_ids: Vec::new(),
                job_id: proposal.job_id.clone(),
            })
            .await
            .unwrap();
        assert_eq!(listed.deliveries, std::slice::from_ref(&delivery));
        let unknown = client
            .get_proposal_delivery(GetProposalDeliveryRequest {
                proposal_id: "prop_unknown".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);
        last = Some(delivery);
    }
    // The dry run reads it for real.
    let last = last.unwrap();
    let read = dry_run
        .get_proposal_delivery(GetProposalDeliveryRequest {
            proposal_id: last.proposal_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(read.delivery, Some(last));

    let config = offchain_jd::server::ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: offchain_jd::store::SQLITE_MEMORY_URL.into(),
        csa_secret: "test secret".into(),
        auth: Some(TokenHashes::from_list(&hash_token("right"), "test").unwrap()),
    };
    let server = offchain_jd::server::start(config).await.unwrap();
    let endpoint = format!("http://{}", server.local_addr());
    let tokened =
        RemoteConfig::new(&endpoint).with_token_source(Arc::new(StaticToken::new("right")));
    let client = RemoteProvider::new(tokened)
        .unwrap()
        .initialize()
        .await
        .unwrap();
    let status = client
        .get_proposal_delivery(GetProposalDeliveryRequest {
            proposal_id: "prop_unknown".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::NotFound,
        "past the token check: {status}"
    );
    server.shutdown().await.unwrap();
}
