//! `offchain node bridges …`: the node's bridges (`bridge.md` §5) from the command line.
//!
//! JSON output is the API's answer as is (`list`: `[{"name","url","confirmations",
//! "minimumContractPayment","hasOutgoingToken"}]`; `show` and `delete` one of those;
//! `create` adds `"incomingToken"`, shown this once). The outgoing token never comes from the
//! command line, where `ps` and shell history would show it: `--outgoing-token-env VAR` or
//! `--outgoing-token-file FILE`. An error answer becomes one line and exit 1.

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};

use crate::UsageError;
use crate::args::{Format, NodeApiArgs, NodeBridgeCreateArgs, NodeBridgesCommand};
use crate::node_proposals;
use crate::output::{View, note, write_stdout};

/// Runs one `offchain node bridges` command against the node's API.
pub async fn bridges(api: NodeApiArgs, command: NodeBridgesCommand) -> Result<()> {
    let (method, path, body) = match &command {
        NodeBridgesCommand::Create(args) => (
            Method::POST,
            "/v2/bridge_types".to_owned(),
            Some(create_body(args)?),
        ),
        NodeBridgesCommand::List => (Method::GET, "/v2/bridge_types".to_owned(), None),
        NodeBridgesCommand::Show { name } => (
            Method::GET,
            format!("/v2/bridge_types/{}", segment(name)?),
            None,
        ),
        NodeBridgesCommand::Delete { name } => (
            Method::DELETE,
            format!("/v2/bridge_types/{}", segment(name)?),
            None,
        ),
    };
    let answer = call(&api.api, method, &path, body).await?;
    let text = match api.format {
        Format::Json => serde_json::to_string_pretty(&answer)?,
        Format::Table => match command {
            NodeBridgesCommand::List => list_table(&answer),
            NodeBridgesCommand::Create(_) => {
                note("the incoming token is shown only this once: give it to the adapter now");
                detail_table(&answer)
            }
            _ => detail_table(&answer),
        },
    };
    write_stdout(&text)?;
    Ok(())
}

/// A bridge name as a path segment: the node's own name rule, so nothing needs escaping.
fn segment(name: &str) -> Result<&str> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
    {
        return Err(UsageError(format!("invalid bridge name {name:?}: use [a-zA-Z0-9_-]")).into());
    }
    Ok(name)
}

fn create_body(args: &NodeBridgeCreateArgs) -> Result<Value> {
    let mut body = json!({ "name": args.name, "url": args.url });
    if let Some(confirmations) = args.confirmations {
        body["confirmations"] = json!(confirmations);
    }
    if let Some(payment) = &args.minimum_contract_payment {
        body["minimumContractPayment"] = json!(payment);
    }
    if let Some(token) = outgoing_token(args)? {
        body["outgoingToken"] = json!(token);
    }
    Ok(body)
}

/// The outgoing token from the named variable or the file's first line.
fn outgoing_token(args: &NodeBridgeCreateArgs) -> Result<Option<String>> {
    let token = if let Some(var) = &args.outgoing_token_env {
        std::env::var(var)
            .map_err(|_| UsageError(format!("--outgoing-token-env: {var} is not set")))?
    } else if let Some(file) = &args.outgoing_token_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        text.lines().next().unwrap_or_default().trim().to_owned()
    } else {
        return Ok(None);
    };
    if token.is_empty() {
        return Err(UsageError("the outgoing token is empty".to_owned()).into());
    }
    Ok(Some(token))
}

/// One API call; the answer's JSON, or its `error` as the failure.
async fn call(api: &str, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
    let body = body.map(|body| body.to_string());
    let (_, answer) = node_proposals::call(api.trim_end_matches('/'), method, path, body).await?;
    Ok(answer)
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

const KEYS: [&str; 5] = [
    "name",
    "url",
    "confirmations",
    "minimumContractPayment",
    "hasOutgoingToken",
];

fn list_table(answer: &Value) -> String {
    let mut view = View::new(
        "bridges",
        vec![
            "NAME",
            "URL",
            "CONFIRMATIONS",
            "MIN PAYMENT",
            "OUTGOING TOKEN",
        ],
    );
    for bridge in answer.as_array().into_iter().flatten() {
        view.row(KEYS.map(|key| cell(&bridge[key])).to_vec());
    }
    view.render()
}

fn detail_table(answer: &Value) -> String {
    let mut fields = vec![
        ("name", cell(&answer["name"])),
        ("url", cell(&answer["url"])),
        ("confirmations", cell(&answer["confirmations"])),
        (
            "minimum contract payment",
            cell(&answer["minimumContractPayment"]),
        ),
        ("outgoing token set", cell(&answer["hasOutgoingToken"])),
    ];
    if answer.get("incomingToken").is_some() {
        fields.push(("incoming token", cell(&answer["incomingToken"])));
    }
    View::fields("bridges", fields).render()
}
