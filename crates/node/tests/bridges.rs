//! The bridge API (`bridge.md` §5) over HTTP on a running [`Node`] linked to a fake JD:
//! every route and status code, the incoming token shown once and hashed at rest, delete
//! refused while an approved job uses the bridge, approval refused for unknown bridges.

mod common;

use common::{Call, FakeJd, key};
use offchain_node::api::ApiToken;
use offchain_node::config::ApprovalPolicy;
use offchain_node::{Keystore, Node, NodeConfig, NodePassword, ProposalError, State};
use offchain_pipeline::run::BridgeLookup;
use offchain_wsrpc::keys::PublicKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

const JD: u8 = 1;
const ID: &str = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46";
const TOKEN: &str = "api-token-for-tests";

/// A webhook spec whose pipeline calls the bridges `bridges`.
fn spec(bridges: &[&str]) -> String {
    let tasks: String = bridges
        .iter()
        .enumerate()
        .map(|(i, name)| format!("t{i} [type=bridge name=\"{name}\" requestData=\"{{}}\"]\n"))
        .collect();
    format!(
        "type = \"webhook\"\nschemaVersion = 1\nexternalJobID = \"{ID}\"\n\
         observationSource = \"\"\"\n{tasks}\"\"\"\n"
    )
}

fn password() -> NodePassword {
    NodePassword::new("correct horse battery staple".to_owned()).unwrap()
}

struct Running {
    node: Node,
    jd: FakeJd,
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open_or_create(dir.path(), &password()).unwrap();
    let mut jd = FakeJd::start(JD, &[PublicKey::from_bytes(keystore.csa_public_key())]).await;
    let config = NodeConfig::parse(&format!(
        "name = \"node-a\"\ndata_dir = {:?}\n\n[[job_distributors]]\nuri = \"{}\"\n\
         public_key = \"{}\"\n\n[api]\nlisten = \"127.0.0.1:0\"\n",
        dir.path().to_str().unwrap(),
        jd.address,
        key(JD).to_hex()
    ))
    .unwrap();
    let node = Node::start(&config, &password(), ApiToken::new(TOKEN))
        .await
        .unwrap();
    assert!(matches!(jd.next_call().await, Call::UpdateNode(_)));
    Running {
        base: format!("http://{}", node.api_address()),
        node,
        jd,
        http: reqwest::Client::new(),
        dir,
    }
}

impl Running {
    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn create(&self, body: Value) -> (StatusCode, Value) {
        self.call("POST", "/v2/bridge_types", Some(&body.to_string()))
            .await
    }
}

fn error_of(answer: &(StatusCode, Value)) -> &str {
    answer.1["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn every_route_and_status_code() {
    let running = start().await;
    assert_eq!(
        running.call("GET", "/v2/bridge_types", None).await,
        (StatusCode::OK, json!([]))
    );

    // Create: 200 with the bridge and its incoming token.
    let (status, created) = running
        .create(
            json!({"name": "Coin-Market", "url": "http://127.0.0.1:9/price",
                       "confirmations": 2, "minimumContractPayment": "100",
                       "outgoingToken": "out-secret"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let incoming = created["incomingToken"].as_str().unwrap().to_owned();
    assert_eq!(incoming.len(), 64);
    let view = json!({"name": "Coin-Market", "url": "http://127.0.0.1:9/price",
                      "confirmations": 2, "minimumContractPayment": "100",
                      "hasOutgoingToken": true});
    let mut expected = view.clone();
    expected["incomingToken"] = json!(incoming);
    assert_eq!(created, expected);

    // Defaults, and a numeric payment.
    let (status, plain) = running
        .create(json!({"name": "plain", "url": "https://adapter.test/",
                       "minimumContractPayment": 5}))
        .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!(plain["confirmations"], 0);
    assert_eq!(plain["minimumContractPayment"], "5");
    assert_eq!(plain["hasOutgoingToken"], false);

    // List and show (any case) never carry a token.
    let (status, list) = running.call("GET", "/v2/bridge_types", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0], view);
    let shown = running
        .call("GET", "/v2/bridge_types/coin-MARKET", None)
        .await;
    assert_eq!(shown, (StatusCode::OK, view.clone()));
    for text in [list.to_string(), shown.1.to_string()] {
        assert!(!text.contains(&incoming) && !text.contains("out-secret"));
        assert!(!text.contains("incomingToken"));
    }

    // 400 duplicate (case-insensitive).
    let duplicate = running
        .create(json!({"name": "COIN-market", "url": "http://x.test/"}))
        .await;
    assert_eq!(duplicate.0, StatusCode::BAD_REQUEST, "{}", duplicate.1);
    assert!(error_of(&duplicate).contains("already exists"));

    // 422 bad input: invalid name, URL, numbers, unknown field, malformed JSON, missing url.
    for body in [
        r#"{"name": "bad name", "url": "http://x.test/"}"#,
        r#"{"name": "x", "url": "ftp://x.test/"}"#,
        r#"{"name": "x", "url": "http://user:pw@x.test/"}"#,
        r#"{"name": "x", "url": "http://x.test/", "confirmations": -1}"#,
        r#"{"name": "x", "url": "http://x.test/", "minimumContractPayment": "-3"}"#,
        r#"{"name": "x", "url": "http://x.test/", "minimumContractPayment": -3}"#,
        r#"{"name": "x", "url": "http://x.test/", "color": "red"}"#,
        r#"{"name": "x""#,
        r#"{"name": "x"}"#,
    ] {
        let answer = running.call("POST", "/v2/bridge_types", Some(body)).await;
        assert_eq!(
            answer.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            answer.1
        );
        assert!(!error_of(&answer).is_empty());
    }
    let credentials = running
        .call(
            "POST",
            "/v2/bridge_types",
            Some(r#"{"name": "x", "url": "http://user:hunter2@x.test/"}"#),
        )
        .await;
    assert!(!error_of(&credentials).contains("hunter2"));

    // PATCH changes fields; the name cannot change; 404 unknown; 422 bad input.
    let (status, patched) = running
        .call(
            "PATCH",
            "/v2/bridge_types/coin-market",
            Some(r#"{"url": "http://127.0.0.1:10/v2", "confirmations": 7, "outgoingToken": ""}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched,
        json!({"name": "Coin-Market", "url": "http://127.0.0.1:10/v2", "confirmations": 7,
               "minimumContractPayment": "100", "hasOutgoingToken": false})
    );
    let lookup = running.node.bridges().bridge("coin-market").unwrap();
    assert_eq!(lookup.url, "http://127.0.0.1:10/v2");
    assert_eq!(lookup.outgoing_token, "");
    let renamed = running
        .call(
            "PATCH",
            "/v2/bridge_types/coin-market",
            Some(r#"{"name": "other"}"#),
        )
        .await;
    assert_eq!(renamed.0, StatusCode::UNPROCESSABLE_ENTITY);
    let same_name = running
        .call(
            "PATCH",
            "/v2/bridge_types/coin-market",
            Some(r#"{"name": "COIN-MARKET"}"#),
        )
        .await;
    assert_eq!(same_name.0, StatusCode::OK);
    for body in [r#"{"url": "nope"}"#, "[", r#"{"confirmations": "x"}"#] {
        let answer = running
            .call("PATCH", "/v2/bridge_types/coin-market", Some(body))
            .await;
        assert_eq!(answer.0, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let missing = running
        .call("PATCH", "/v2/bridge_types/missing", Some("{}"))
        .await;
    assert_eq!(missing.0, StatusCode::NOT_FOUND);

    // 404 unknown on show and delete; delete answers the bridge, then it is gone.
    assert_eq!(
        running
            .call("GET", "/v2/bridge_types/missing", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        running
            .call("DELETE", "/v2/bridge_types/missing", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let deleted = running.call("DELETE", "/v2/bridge_types/PLAIN", None).await;
    assert_eq!(deleted.0, StatusCode::OK);
    assert_eq!(deleted.1["name"], "plain");
    assert_eq!(
        running.call("GET", "/v2/bridge_types/plain", None).await.0,
        StatusCode::NOT_FOUND
    );

    // The routes need the API token.
    let anonymous = running
        .http
        .get(format!("{}/v2/bridge_types", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = running
        .http
        .post(format!("{}/v2/bridge_types", running.base))
        .bearer_auth("wrong")
        .json(&json!({"name": "y", "url": "http://y.test/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(!running.node.bridges().contains("y"));

    running.node.shutdown().await;
}

#[tokio::test]
async fn the_incoming_token_is_shown_once_and_only_its_salted_hash_is_stored() {
    let running = start().await;
    let (_, created) = running
        .create(json!({"name": "feed", "url": "http://feed.test/"}))
        .await;
    let incoming = created["incomingToken"].as_str().unwrap().to_owned();
    assert!(
        running
            .node
            .bridges()
            .check_incoming_token(Some("FEED"), &incoming)
    );
    assert!(
        !running
            .node
            .bridges()
            .check_incoming_token(Some("feed"), "guess")
    );
    running.node.shutdown().await;

    // Read the row behind the node's back: salt and hash, never the token.
    let dump: Vec<(String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT name || url || outgoing_token || minimum_contract_payment, \
         incoming_token_salt, incoming_token_hash FROM bridges",
    )
    .fetch_all(
        &sqlx::SqlitePool::connect_lazy(&format!(
            "sqlite://{}",
            running.dir.path().join("store.sqlite").display()
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(dump.len(), 1);
    let (text, salt, hash) = &dump[0];
    assert!(!text.contains(&incoming));
    assert_eq!(salt.len(), 16);
    assert_eq!(hash.len(), 32);
    assert!(!hex::encode(hash).contains(&incoming) && !hex::encode(salt).contains(&incoming));
    let unsalted = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, incoming.as_bytes());
    assert_ne!(hash.as_slice(), unsalted.as_ref());
    let mut salted = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    salted.update(salt);
    salted.update(incoming.as_bytes());
    assert_eq!(hash.as_slice(), salted.finish().as_ref());
}

#[tokio::test]
async fn approval_names_missing_bridges_and_delete_is_refused_while_a_job_uses_one() {
    let mut running = start().await;
    let jd = key(JD).to_hex();
    running
        .create(json!({"name": "Coin-Market", "url": "http://127.0.0.1:9/"}))
        .await;
    running
        .node
        .store()
        .receive(&jd, ID, 1, &spec(&["coin-market", "Zeta", "alpha"]))
        .await
        .unwrap();

    // Refused, naming the missing ones; the proposal stays pending and the JD hears nothing.
    let refused = running
        .call("POST", &format!("/v2/proposals/{ID}/approve"), None)
        .await;
    assert_eq!(refused.0, StatusCode::CONFLICT, "{}", refused.1);
    assert_eq!(refused.1, json!({"error": "unknown bridges: alpha, zeta"}));
    let (_, shown) = running
        .call("GET", &format!("/v2/proposals/{ID}"), None)
        .await;
    assert_eq!(shown["state"], "pending");

    for name in ["zeta", "ALPHA"] {
        let created = running
            .create(json!({"name": name, "url": "http://127.0.0.1:9/"}))
            .await;
        assert_eq!(created.0, StatusCode::OK);
    }
    let approved = running
        .call("POST", &format!("/v2/proposals/{ID}/approve"), None)
        .await;
    assert_eq!(approved.0, StatusCode::OK, "{}", approved.1);
    assert_eq!(
        running.jd.next_call().await,
        Call::ApprovedJob(ID.into(), 1)
    );

    // In use by the approved job: 409, and the bridge stays.
    let in_use = running
        .call("DELETE", "/v2/bridge_types/coin-market", None)
        .await;
    assert_eq!(in_use.0, StatusCode::CONFLICT, "{}", in_use.1);
    assert!(error_of(&in_use).contains(ID), "{}", in_use.1);
    assert!(running.node.bridges().contains("coin-market"));

    // Once the job is cancelled the bridge can go.
    let cancelled = running
        .call("POST", &format!("/v2/proposals/{ID}/cancel"), None)
        .await;
    assert_eq!(cancelled.0, StatusCode::OK);
    let deleted = running
        .call("DELETE", "/v2/bridge_types/coin-market", None)
        .await;
    assert_eq!(deleted.0, StatusCode::OK, "{}", deleted.1);
    assert_eq!(
        running.jd.next_call().await,
        Call::CancelledJob(ID.into(), 1)
    );

    // Approving the cancelled version again needs the bridge again.
    let again = running
        .call("POST", &format!("/v2/proposals/{ID}/approve"), None)
        .await;
    assert_eq!(again.0, StatusCode::CONFLICT, "{}", again.1);
    assert_eq!(again.1, json!({"error": "unknown bridges: coin-market"}));
    running.node.shutdown().await;
}

#[tokio::test]
async fn the_auto_policy_leaves_a_spec_with_unknown_bridges_pending() {
    let running = start().await;
    let jd = key(JD).to_hex();
    let arrival = running
        .node
        .store()
        .receive_with_policy(ApprovalPolicy::Auto, &jd, ID, 1, &spec(&["nowhere"]))
        .await
        .unwrap();
    match arrival.auto_approval {
        Some(Err(ProposalError::UnknownBridges(names))) => assert_eq!(names, ["nowhere"]),
        other => panic!("expected unknown bridges, got {other:?}"),
    }
    let (_, shown) = running
        .call("GET", &format!("/v2/proposals/{ID}"), None)
        .await;
    assert_eq!(shown["state"], State::Pending.as_str());
    running.node.shutdown().await;
}
