//! `offchain demo`: the network `up --ephemeral` starts, then the whole flow once, each step
//! printed with its result — propose the example job to every node by label (through the
//! `offchain` client, as an operator would), wait for every approval, trigger a webhook run
//! on each node, check each output is the adapter's price × 100 and that the JD sees the
//! run through the node's `GetJobRuns` — then stop. Any failed step stops the network and
//! ends the command with one error line.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use offchain::proto::job::{GetProposalRequest, ProposalStatus};
use offchain::selector::parse_selectors;
use offchain::{Client, Provider, RemoteConfig, RemoteProvider, helpers};
use serde::Deserialize;
use serde_json::json;

use super::network::{self, Network, RunningNode};
use super::report::{self, EXAMPLE_JOB_ID};
use crate::args::DemoArgs;
use crate::output::{View, write_stdout};

/// How long every node gets to approve the example job.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(30);
const APPROVAL_POLL: Duration = Duration::from_millis(10);
/// How long one webhook run may take (the adapter is local; this only bounds a hang).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// The selector the example job is proposed with: every node `up` registers has it.
const SELECTOR: &str = "env=local";

/// Runs the demo; the network is stopped whether a step fails or not.
pub async fn run(args: DemoArgs) -> Result<()> {
    let temporary = tempfile::Builder::new()
        .prefix("offchain-demo-")
        .tempdir()?;
    let options = network::Options {
        nodes: args.nodes,
        data_dir: temporary.path().to_owned(),
        ephemeral: true,
        jd_grpc_port: 0,
        jd_node_port: 0,
        api_port_base: None,
    };
    let started = Instant::now();
    let network = network::start(&options).await?;
    say(&format!(
        "1. network: a JD, {} nodes and the coin-market adapter ({}) — every node connected \
         in {} ms",
        network.nodes.len(),
        if network.adapter.is_mock() {
            "mock provider"
        } else {
            "provider at API_URL"
        },
        started.elapsed().as_millis()
    ))?;
    let result = steps(&network).await;
    let stopped = network.shutdown().await;
    drop(temporary);
    result?;
    stopped?;
    say("6. network stopped: the demo passed")?;
    Ok(())
}

fn say(text: &str) -> Result<()> {
    write_stdout(text).context("cannot write to stdout")
}

/// Steps 2–5, against the running network.
async fn steps(network: &Network) -> Result<()> {
    let client = RemoteProvider::new(RemoteConfig::new(format!("http://{}", network.jd_grpc)))?
        .initialize()
        .await
        .context("cannot reach the JD")?;

    let proposals = propose(client.as_ref(), network).await?;
    let started = Instant::now();
    wait_approved(client.as_ref(), &proposals).await?;
    say(&format!(
        "3. approved on {}/{} nodes (policy auto) in {} ms",
        proposals.len(),
        network.nodes.len(),
        started.elapsed().as_millis()
    ))?;

    let price = adapter_price(&network.adapter.url()).await?;
    let expected = price * 100.0;
    let http = reqwest::Client::new();
    let mut table = View::new(
        "runs",
        vec![
            "NODE",
            "RUN",
            "STATE",
            "OUTPUT",
            "EXPECTED",
            "JD GetJobRuns",
        ],
    );
    let mut failures = Vec::new();
    for node in &network.nodes {
        let run = trigger(&http, node).await?;
        let output = run.single_output();
        let matches = output
            .as_deref()
            .and_then(|text| text.parse::<f64>().ok())
            .is_some_and(|value| (value - expected).abs() <= expected.abs() * 1e-9);
        // The JD's view of the same run: the node's latest, over its link.
        let (seen, seen_ok) = match network.jd.jd().job_runs(&node.id, EXAMPLE_JOB_ID, 1).await {
            Ok(runs) => match runs.first() {
                Some(latest) => (
                    format!("run {} {}", latest.run_id, latest.state),
                    latest.state == "completed",
                ),
                None => ("no run".to_owned(), false),
            },
            Err(error) => (format!("error: {error}"), false),
        };
        if run.state != "completed" || !matches {
            failures.push(format!(
                "{}: {} {}",
                node.name,
                run.state,
                output.as_deref().unwrap_or("(no output)")
            ));
        } else if !seen_ok {
            failures.push(format!("{}: the JD's GetJobRuns says {seen}", node.name));
        }
        table.row(vec![
            node.name.clone(),
            run.id,
            run.state,
            output.unwrap_or_else(|| "-".to_owned()),
            decimal(expected),
            seen,
        ]);
    }
    say(&format!(
        "4. one webhook run triggered on each node (POST /v2/jobs/{EXAMPLE_JOB_ID}/runs); \
         price {price} × 100\n5. results, and each node's latest run as the JD reads it over \
         the link:\n{}",
        table.render()
    ))?;
    if !failures.is_empty() {
        bail!("runs not as expected: {}", failures.join("; "));
    }
    Ok(())
}

/// `value` with at most 8 decimals and no trailing zeros (3012.55 × 100 is not exact in
/// binary floating point).
fn decimal(value: f64) -> String {
    let text = format!("{value:.8}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Step 2: the example job to every node labelled [`SELECTOR`]; returns proposal id by node.
async fn propose(client: &dyn Client, network: &Network) -> Result<HashMap<String, String>> {
    let selectors = parse_selectors(SELECTOR).map_err(|error| anyhow!("{error}"))?;
    let outcomes = helpers::propose_to_matching(client, &report::example_job(), &[], selectors)
        .await
        .map_err(|error| anyhow!("proposing the example job failed: {}", error.status))?;
    let mut proposals = HashMap::new();
    let mut refused = Vec::new();
    for outcome in outcomes {
        match outcome.result {
            Ok(proposal) => {
                proposals.insert(outcome.node_id, proposal.id);
            }
            Err(error) => refused.push(format!("{}: {error}", outcome.node_id)),
        }
    }
    if !refused.is_empty() {
        bail!("the JD refused the proposal for {}", refused.join("; "));
    }
    if proposals.len() != network.nodes.len() {
        bail!(
            "the example job went to {} nodes, not {}",
            proposals.len(),
            network.nodes.len()
        );
    }
    say(&format!(
        "2. proposed the example job eth-usd-x100 (bridge coin-market → jsonparse → multiply \
         ×100) to the {} nodes labelled {SELECTOR}",
        proposals.len()
    ))?;
    Ok(proposals)
}

/// Step 3: polls each proposal until every one is APPROVED; a rejection or the timeout is
/// an error naming the nodes.
async fn wait_approved(client: &dyn Client, proposals: &HashMap<String, String>) -> Result<()> {
    let started = Instant::now();
    let mut waiting: Vec<(&String, &String)> = proposals.iter().collect();
    loop {
        let mut still = Vec::new();
        for (node_id, proposal_id) in waiting {
            let answer = client
                .get_proposal(GetProposalRequest {
                    id: proposal_id.clone(),
                })
                .await
                .with_context(|| format!("cannot read proposal {proposal_id}"))?;
            let status = answer
                .proposal
                .map_or(ProposalStatus::Unspecified, |p| p.status());
            match status {
                ProposalStatus::Approved => {}
                ProposalStatus::Proposed | ProposalStatus::Pending => {
                    still.push((node_id, proposal_id));
                }
                other => bail!(
                    "node {node_id} did not approve the example job: {}",
                    other.as_str_name()
                ),
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= APPROVAL_TIMEOUT {
            let nodes: Vec<&str> = still.iter().map(|(node, _)| node.as_str()).collect();
            bail!(
                "not approved after {}s by {}",
                APPROVAL_TIMEOUT.as_secs(),
                nodes.join(", ")
            );
        }
        waiting = still;
        tokio::time::sleep(APPROVAL_POLL).await;
    }
}

/// The webhook trigger's answer.
#[derive(Debug, Deserialize)]
struct Triggered {
    id: String,
    state: String,
    outputs: Vec<serde_json::Value>,
}

impl Triggered {
    /// The run's one output as text (the example job has one final task).
    fn single_output(&self) -> Option<String> {
        match self.outputs.as_slice() {
            [serde_json::Value::String(text)] => Some(text.clone()),
            [serde_json::Value::Null] | [] => None,
            [value] => Some(value.to_string()),
            _ => Some(serde_json::Value::from(self.outputs.clone()).to_string()),
        }
    }
}

/// Step 4 on one node: triggers the example job's webhook with the node's token.
async fn trigger(http: &reqwest::Client, node: &RunningNode) -> Result<Triggered> {
    let url = format!(
        "http://{}/v2/jobs/{EXAMPLE_JOB_ID}/runs",
        node.node.api_address()
    );
    let answer = http
        .post(&url)
        .bearer_auth(&node.api_token)
        .timeout(RUN_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("{}: cannot trigger a run", node.name))?;
    let status = answer.status();
    if !status.is_success() {
        let body = answer.text().await.unwrap_or_default();
        bail!("{}: the run trigger answered {status}: {body}", node.name);
    }
    answer
        .json()
        .await
        .with_context(|| format!("{}: unreadable run answer", node.name))
}

/// What the adapter answers for ETH/USD: the price each run must scale by 100.
async fn adapter_price(url: &str) -> Result<f64> {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&json!({"data": {"coin": "ETH", "market": "USD"}}))
        .timeout(RUN_TIMEOUT)
        .send()
        .await
        .context("cannot ask the adapter for the price")?
        .json()
        .await
        .context("unreadable adapter answer")?;
    answer["result"]
        .as_f64()
        .ok_or_else(|| anyhow!("the adapter answered no price: {answer}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_prices_print_without_float_noise() {
        assert_eq!(decimal(3012.55 * 100.0), "301255");
        assert_eq!(decimal(12.5), "12.5");
        assert_eq!(decimal(0.0), "0");
    }

    #[test]
    fn the_single_output_is_the_text_of_the_one_final_value() {
        let run = |outputs| Triggered {
            id: "r".into(),
            state: "completed".into(),
            outputs,
        };
        assert_eq!(
            run(vec![json!("301255")]).single_output().as_deref(),
            Some("301255")
        );
        assert_eq!(run(vec![json!(null)]).single_output(), None);
        assert_eq!(run(vec![json!(7)]).single_output().as_deref(), Some("7"));
    }
}
