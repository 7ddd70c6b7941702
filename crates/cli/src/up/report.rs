//! What `up` tells its user once the network is ready: the endpoint and token table, the
//! commands to try, and the same facts as the `--state-file` JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::adapter;
use super::network::Network;
use crate::output::View;

/// The example job's `externalJobID`: fixed, so the printed commands stay the same across
/// restarts and proposing again updates the same job.
pub const EXAMPLE_JOB_ID: &str = "7d3c2b1a-5e4f-4a6b-8c7d-9e0f1a2b3c4d";

/// The example webhook job: the adapter's price through the `coin-market` bridge, × 100.
pub fn example_job() -> String {
    format!(
        r#"type = "webhook"
schemaVersion = 1
name = "eth-usd-x100"
externalJobID = "{EXAMPLE_JOB_ID}"
observationSource = """
    price [type=bridge name="{bridge}" requestData=<{{"data": {{"coin": "ETH", "market": "USD"}}}}>]
    parse [type=jsonparse path="data,result"]
    scale [type=multiply times=100]
    price -> parse -> scale
"""
"#,
        bridge = adapter::NAME
    )
}

/// The `--state-file` document. Its keys are a contract (scripts and tests read them).
#[derive(Debug, Serialize)]
pub struct State {
    pub jd: JdState,
    pub nodes: Vec<NodeState>,
    pub adapters: Vec<AdapterState>,
}

#[derive(Debug, Serialize)]
pub struct JdState {
    pub grpc: String,
    pub node_listen: String,
    pub csa_public_key: String,
}

#[derive(Debug, Serialize)]
pub struct NodeState {
    pub name: String,
    pub id: String,
    pub api: String,
    pub api_token: String,
    pub csa_public_key: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct AdapterState {
    pub name: String,
    pub url: String,
    /// The bridge name nodes reach the adapter by.
    pub bridge: String,
}

impl State {
    pub fn of(network: &Network) -> State {
        State {
            jd: JdState {
                grpc: format!("http://{}", network.jd_grpc),
                node_listen: network.jd_node_listen.to_string(),
                csa_public_key: network.jd.jd().csa_keys().public_key_hex(),
            },
            nodes: network
                .nodes
                .iter()
                .map(|running| NodeState {
                    name: running.name.clone(),
                    id: running.id.clone(),
                    api: format!("http://{}", running.node.api_address()),
                    api_token: running.api_token.clone(),
                    csa_public_key: running.node.csa_public_key().to_owned(),
                    labels: BTreeMap::from([
                        ("env".to_owned(), "local".to_owned()),
                        ("node".to_owned(), running.name.clone()),
                    ]),
                })
                .collect(),
            adapters: vec![AdapterState {
                name: adapter::NAME.to_owned(),
                url: network.adapter.url(),
                bridge: adapter::NAME.to_owned(),
            }],
        }
    }
}

/// The text printed on stdout once every node is connected.
pub fn render(state: &State, mock: bool, example: &Path, ready: Duration) -> String {
    let jd = View::fields(
        "JD",
        vec![
            ("JD gRPC", state.jd.grpc.clone()),
            ("node listener", state.jd.node_listen.clone()),
            ("CSA public key", state.jd.csa_public_key.clone()),
        ],
    );
    let mut nodes = View::new(
        "nodes",
        vec!["NODE", "ID", "API", "API TOKEN", "CSA PUBLIC KEY"],
    );
    for node in &state.nodes {
        nodes.row(vec![
            node.name.clone(),
            node.id.clone(),
            node.api.clone(),
            node.api_token.clone(),
            node.csa_public_key.clone(),
        ]);
    }
    let mut adapters = View::new("adapters", vec!["ADAPTER", "URL", "BRIDGE", "DATA"]);
    for adapter in &state.adapters {
        adapters.row(vec![
            adapter.name.clone(),
            adapter.url.clone(),
            adapter.bridge.clone(),
            if mock {
                format!("mock provider, price {}", adapter::MOCK_PRICE)
            } else {
                "provider at API_URL".to_owned()
            },
        ]);
    }
    let mut text = String::new();
    text.push_str(&jd.render());
    text.push('\n');
    text.push_str(&nodes.render());
    text.push('\n');
    text.push_str(&adapters.render());
    if let Some(first) = state.nodes.first() {
        text.push_str(&format!(
            "\nPropose the example job ({}) to every node:\n  \
             offchain jd jobs propose --endpoint {} --spec {} -l env=local\n\
             Trigger a run on {}:\n  \
             curl -s -X POST -H 'Authorization: Bearer {}' {}/v2/jobs/{EXAMPLE_JOB_ID}/runs\n",
            example.display(),
            state.jd.grpc,
            example.display(),
            first.name,
            first.api_token,
            first.api,
        ));
    }
    text.push_str(&format!(
        "\nready in {} ms: {} nodes connected. Ctrl-C stops everything.\n",
        ready.as_millis(),
        state.nodes.len()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_job_is_a_valid_three_task_webhook_spec() {
        let spec = offchain_pipeline::JobSpec::parse(&example_job()).unwrap();
        assert_eq!(spec.job_type, offchain_pipeline::JobType::Webhook);
        assert_eq!(
            spec.external_job_id.map(|id| id.to_string()).as_deref(),
            Some(EXAMPLE_JOB_ID)
        );
        assert_eq!(spec.pipeline.tasks.len(), 3);
    }
}
