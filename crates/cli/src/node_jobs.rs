//! `offchain node jobs list|run` and `offchain node runs JOB [RUN]`: the node's jobs and
//! their runs through its API. JSON output is the API's answer as is; `jobs run` exits as
//! `offchain job run` does (0 completed, 1 errored, 3 suspended).

use anyhow::Result;
use reqwest::Method;
use serde_json::Value;

use crate::Reported;
use crate::args::{Format, NodeApiArgs, NodeJobsCommand};
use crate::node_proposals::{call, cell};
use crate::output::{View, shortened, write_stdout};

/// Widest output shown in a table cell.
const TABLE_OUTPUT_CHARS: usize = 60;

/// `offchain node jobs …`.
pub async fn jobs(api: NodeApiArgs, command: NodeJobsCommand) -> Result<()> {
    let base = api.api.trim_end_matches('/');
    match command {
        NodeJobsCommand::List => {
            let (_, answer) = call(base, Method::GET, "/v2/jobs", None).await?;
            let text = match api.format {
                Format::Json => serde_json::to_string_pretty(&answer)?,
                Format::Table => {
                    let keys = ["uuid", "name", "type", "version", "state"];
                    let mut view =
                        View::new("jobs", vec!["UUID", "NAME", "TYPE", "VERSION", "STATE"]);
                    for job in answer.as_array().into_iter().flatten() {
                        view.row(keys.map(|key| cell(&job[key])).to_vec());
                    }
                    view.render()
                }
            };
            write_stdout(&format!("{}\n", text.trim_end()))?;
            Ok(())
        }
        NodeJobsCommand::Run { job, body } => {
            let path = format!("/v2/jobs/{job}/runs");
            let (_, answer) =
                call(base, Method::POST, &path, Some(body.unwrap_or_default())).await?;
            let text = match api.format {
                Format::Json => serde_json::to_string_pretty(&answer)?,
                Format::Table => run_table(&answer),
            };
            write_stdout(&format!("{}\n", text.trim_end()))?;
            match answer["state"].as_str() {
                Some("completed") => Ok(()),
                Some("suspended") => Err(Reported(3).into()),
                _ => Err(Reported(1).into()),
            }
        }
    }
}

/// `offchain node runs JOB [RUN]`.
pub async fn runs(
    api: NodeApiArgs,
    job: String,
    run: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
) -> Result<()> {
    let base = api.api.trim_end_matches('/');
    let path = match &run {
        Some(run) => format!("/v2/jobs/{job}/runs/{run}"),
        None => {
            let mut query = Vec::new();
            if let Some(limit) = limit {
                query.push(format!("limit={limit}"));
            }
            if let Some(cursor) = &cursor {
                query.push(format!("cursor={cursor}"));
            }
            format!("/v2/jobs/{job}/runs?{}", query.join("&"))
        }
    };
    let (_, answer) = call(base, Method::GET, &path, None).await?;
    let text = match (api.format, run) {
        (Format::Json, _) => serde_json::to_string_pretty(&answer)?,
        (Format::Table, Some(_)) => run_table(&answer),
        (Format::Table, None) => {
            let mut view = View::new(
                "runs",
                vec!["ID", "STATE", "CREATED", "FINISHED", "OUTPUTS", "ERRORS"],
            );
            for run in answer["runs"].as_array().into_iter().flatten() {
                view.row(vec![
                    cell(&run["id"]),
                    cell(&run["state"]),
                    cell(&run["created_at"]),
                    cell(&run["finished_at"]),
                    shortened(&run["outputs"].to_string(), TABLE_OUTPUT_CHARS),
                    shortened(&run["errors"].to_string(), TABLE_OUTPUT_CHARS),
                ]);
            }
            let mut text = view.render();
            if let Some(next) = answer["next"].as_str() {
                text.push_str(&format!("\nmore: --cursor {next}"));
            }
            text
        }
    };
    write_stdout(&format!("{}\n", text.trim_end()))?;
    Ok(())
}

/// One run: id, state, outputs, errors, then its tasks when the answer has them.
fn run_table(run: &Value) -> String {
    let mut lines = vec![
        format!("id       {}", cell(&run["id"])),
        format!("state    {}", cell(&run["state"])),
        format!("outputs  {}", run["outputs"]),
        format!("errors   {}", run["errors"]),
    ];
    if let Some(tasks) = run["tasks"].as_array() {
        let mut view = View::new("tasks", vec!["TASK", "TYPE", "OUTPUT", "ERROR", "MS"]);
        for task in tasks {
            let output = match &task["output"] {
                Value::Null => "-".to_owned(),
                value => shortened(&value.to_string(), TABLE_OUTPUT_CHARS),
            };
            let error = match task["error"].as_str() {
                Some(error) => shortened(error, TABLE_OUTPUT_CHARS),
                None => "-".to_owned(),
            };
            view.row(vec![
                cell(&task["name"]),
                cell(&task["type"]),
                output,
                error,
                cell(&task["duration_ms"]),
            ]);
        }
        lines.push(String::new());
        lines.push(view.render());
    }
    lines.join("\n")
}
