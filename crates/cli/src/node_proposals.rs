//! `offchain node proposals …`: the node's approval API from the command line.
//!
//! JSON output is the API's answer as is (`list`: `[{"uuid","jd","state","version"}]`,
//! `show` and the decisions: `{"uuid","jd","state","versions":[{"version","state","spec"}]}`);
//! an error answer becomes one line and exit 1.

use anyhow::{Context, Result, bail};
use offchain_node::api::API_TOKEN_ENV;
use reqwest::Method;
use serde_json::Value;

use crate::args::{Format, NodeApiArgs, NodeProposalsCommand};
use crate::output::{View, write_stdout};

/// Runs one `offchain node proposals` command against the node's API.
pub async fn proposals(api: NodeApiArgs, command: NodeProposalsCommand) -> Result<()> {
    let base = api.api.trim_end_matches('/');
    let (method, path, body) = match &command {
        NodeProposalsCommand::List => (Method::GET, "/v2/proposals".to_owned(), None),
        NodeProposalsCommand::Show { uuid } => (Method::GET, format!("/v2/proposals/{uuid}"), None),
        NodeProposalsCommand::Approve { uuid, version } => (
            Method::POST,
            format!("/v2/proposals/{uuid}/approve"),
            version.map(|version| serde_json::json!({ "version": version })),
        ),
        NodeProposalsCommand::Reject { uuid } => {
            (Method::POST, format!("/v2/proposals/{uuid}/reject"), None)
        }
        NodeProposalsCommand::Cancel { uuid } => {
            (Method::POST, format!("/v2/proposals/{uuid}/cancel"), None)
        }
    };
    let body = body.map(|body| body.to_string());
    let (_, answer) = call(base, method, &path, body).await?;
    let text = match api.format {
        Format::Json => serde_json::to_string_pretty(&answer)?,
        Format::Table => match command {
            NodeProposalsCommand::List => list_table(&answer),
            _ => detail_table(&answer),
        },
    };
    write_stdout(&text)?;
    Ok(())
}

/// One call to the node's API (`base` + `path`) with the token from
/// `OFFCHAIN_NODE_API_TOKEN`, the body (if any) sent as JSON; answers the status and the
/// JSON answer, or fails with the answer's error line.
pub(crate) async fn call(
    base: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> Result<(reqwest::StatusCode, Value)> {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(token) = std::env::var(API_TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    // The URL is the operator's own; reqwest's error names it without the token.
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the node API at {base}"))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .with_context(|| format!("the node API answered {status} without JSON"))?;
    if !status.is_success() {
        let message = answer["error"].as_str().unwrap_or("no error message");
        bail!("the node answered {status}: {message}");
    }
    Ok((status, answer))
}

pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn list_table(answer: &Value) -> String {
    let mut view = View::new("proposals", vec!["UUID", "JD", "STATE", "VERSION"]);
    for proposal in answer.as_array().into_iter().flatten() {
        view.row(
            ["uuid", "jd", "state", "version"]
                .map(|key| cell(&proposal[key]))
                .to_vec(),
        );
    }
    view.render()
}

fn detail_table(answer: &Value) -> String {
    let mut lines = vec![
        format!("uuid   {}", cell(&answer["uuid"])),
        format!("jd     {}", cell(&answer["jd"])),
        format!("state  {}", cell(&answer["state"])),
    ];
    for version in answer["versions"].as_array().into_iter().flatten() {
        lines.push(format!(
            "\nversion {} ({})\n{}",
            cell(&version["version"]),
            cell(&version["state"]),
            cell(&version["spec"]).trim_end()
        ));
    }
    lines.join("\n")
}
