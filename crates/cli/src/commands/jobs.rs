//! `offchain jd jobs …`

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;

use anyhow::{Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use offchain::helpers;
use offchain::proto::job::{
    BatchProposeJobResponse, DeleteJobRequest, GetJobRequest, ListJobsRequest, ProposeJobFailure,
    ProposeJobResponse, RevokeJobRequest, UpdateJobRequest, delete_job_request, get_job_request,
    list_jobs_request, revoke_job_request, update_job_request,
};
use offchain::proto::node::{ListNodesRequest, list_nodes_request};
use offchain_pipeline::JobSpec;

use super::{parse_labels, parse_selectors};
use crate::UsageError;
use crate::args::JobsCommand;
use crate::client::Jd;
use crate::job::{self, ReadError};
use crate::output::{self, Printer};

/// Below this many nodes a proposal round is quick enough that a progress bar only flickers.
const PROGRESS_BAR_MIN_NODES: usize = 20;

/// Runs one jobs subcommand.
pub async fn run(jd: &Jd, out: &Printer, command: JobsCommand) -> Result<()> {
    let client = jd.client();
    match command {
        JobsCommand::List {
            selectors,
            nodes,
            uuids,
            include_deleted,
        } => {
            let request = ListJobsRequest {
                filter: Some(list_jobs_request::Filter {
                    ids: Vec::new(),
                    node_ids: nodes,
                    selectors: parse_selectors(&selectors)?,
                    uuids,
                    include_deleted,
                }),
            };
            let response = jd.call(client.list_jobs(request)).await?;
            out.print(&response, |r| output::jobs(&r.jobs))
        }
        JobsCommand::Get { id } => {
            let request = GetJobRequest {
                id_oneof: Some(get_job_request::IdOneof::Id(id)),
            };
            let response = jd.call(client.get_job(request)).await?;
            out.print(&response, |r| output::job(r.job.as_ref()))
        }
        JobsCommand::Propose { .. } => {
            let spec = spec_to_propose(&command)?.unwrap_or_default();
            propose(jd, out, command, &spec).await
        }
        JobsCommand::Revoke { id } => {
            let request = RevokeJobRequest {
                id_oneof: Some(revoke_job_request::IdOneof::Id(id)),
            };
            let response = jd.call(client.revoke_job(request)).await?;
            out.print(&response, |r| output::proposal(r.proposal.as_ref(), None))
        }
        JobsCommand::Delete { id } => {
            let request = DeleteJobRequest {
                id_oneof: Some(delete_job_request::IdOneof::Id(id)),
            };
            let response = jd.call(client.delete_job(request)).await?;
            out.print(&response, |r| output::job(r.job.as_ref()))
        }
        JobsCommand::Update {
            id,
            labels,
            rollback_policy_id,
        } => {
            let request = UpdateJobRequest {
                id_oneof: Some(update_job_request::IdOneof::Id(id)),
                labels: parse_labels(&labels)?,
                rollback_policy_id,
            };
            let response = jd.call(client.update_job(request)).await?;
            out.print(&response, |r| output::job(r.job.as_ref()))
        }
    }
}

/// For `propose`, the spec file's text, read and (unless `--no-validate`) checked with the
/// node's parser; `None` for the other subcommands. Called before connecting, so a typo in
/// the path or the spec fails fast and nothing is sent.
pub fn spec_to_propose(command: &JobsCommand) -> Result<Option<String>> {
    let JobsCommand::Propose {
        spec, no_validate, ..
    } = command
    else {
        return Ok(None);
    };
    let text = job::read_spec(spec).map_err(|error| match error {
        ReadError::Io(e) => anyhow!(e).context(format!("cannot read spec file {}", spec.display())),
        other => anyhow!("spec file {}: {other}", spec.display()),
    })?;
    if !no_validate && let Err(error) = JobSpec::parse(&text) {
        // The same line `offchain job validate` prints, then the usual one-line error.
        eprintln!("{}", job::positioned(spec, &error));
        return Err(UsageError(
            "invalid spec, nothing was proposed (--no-validate sends it unchecked)".into(),
        )
        .into());
    }
    Ok(Some(text))
}

/// Proposes `spec` (the text of a `propose` command's file) to the chosen nodes and prints
/// what happened on each; fails when any node refused, after printing the whole table.
pub async fn propose(jd: &Jd, out: &Printer, command: JobsCommand, spec: &str) -> Result<()> {
    let JobsCommand::Propose {
        nodes: node_ids,
        selectors: selector_texts,
        labels,
        ..
    } = command
    else {
        bail!("not a propose command");
    };
    let labels = parse_labels(&labels)?;
    let selector_texts = selector_texts.as_slice();
    let client = jd.client();

    let (ids, names) = if selector_texts.is_empty() {
        let mut seen = HashSet::new();
        // The JD answers a repeated id once; asking once keeps the table one row per node.
        let ids: Vec<String> = node_ids
            .into_iter()
            .filter(|id| seen.insert(id.clone()))
            .collect();
        let request = ListNodesRequest {
            filter: Some(list_nodes_request::Filter {
                ids: ids.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let known = jd.call(client.list_nodes(request)).await?.nodes;
        let names: HashMap<String, String> = known.into_iter().map(|n| (n.id, n.name)).collect();
        (ids, names)
    } else {
        let selectors = parse_selectors(selector_texts)?;
        let nodes = jd
            .call(helpers::enabled_nodes_matching(client, selectors))
            .await?;
        if nodes.is_empty() {
            bail!(
                "no enabled node matches the selector {:?}; nothing was proposed",
                selector_texts.join(",")
            );
        }
        let ids = nodes.iter().map(|n| n.id.clone()).collect();
        let names = nodes.into_iter().map(|n| (n.id, n.name)).collect();
        (ids, names)
    };

    let bar = progress_bar(ids.len());
    let outcomes = helpers::propose_to_nodes(client, spec, &labels, &ids, |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
        }
    })
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let outcomes = outcomes.map_err(|error| {
        anyhow!(
            "{} ({} nodes were answered before it, {} were not proposed to)",
            jd.describe(&error.status),
            error.committed.len(),
            error.not_proposed.len()
        )
    })?;

    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let mut response = BatchProposeJobResponse::default();
    let mut rows = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match &outcome.result {
            Ok(proposal) => {
                let success = ProposeJobResponse {
                    proposal: Some(proposal.clone()),
                };
                response
                    .success_responses
                    .insert(outcome.node_id.clone(), success);
            }
            Err(error) => {
                let failure = ProposeJobFailure {
                    error_message: error.clone(),
                };
                response
                    .failed_responses
                    .insert(outcome.node_id.clone(), failure);
            }
        }
        let name = names.get(&outcome.node_id).cloned().unwrap_or_default();
        rows.push((outcome.node_id, name, outcome.result));
    }
    out.print(&response, |_| output::outcomes(&rows))?;
    if failed > 0 {
        bail!("the proposal failed on {failed} of {} nodes", rows.len());
    }
    Ok(())
}

/// A bar on stderr for long rounds, only when a person is watching.
fn progress_bar(nodes: usize) -> Option<ProgressBar> {
    if nodes <= PROGRESS_BAR_MIN_NODES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(nodes as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("proposing {bar:40} {pos}/{len} nodes") {
        bar.set_style(style);
    }
    Some(bar)
}
