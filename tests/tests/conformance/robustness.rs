//! Odd input: every answer is a precise status, never INTERNAL, never a leaked detail.

use offchain::proto::job::{
    GetProposalRequest, ListJobsRequest, ProposeJobRequest, UpdateJobRequest, list_jobs_request,
};
use offchain::proto::label::SelectorOp;
use offchain::proto::node::{
    DisableNodeRequest, EnableNodeRequest, GetNodeRequest, ListNodeChainConfigsRequest,
    ListNodesRequest, RegisterNodeRequest, UpdateNodeRequest, list_node_chain_configs_request,
    list_nodes_request,
};
use tonic::{Code, Status};

use crate::support::*;

/// Strings that have broken servers before: SQL, quotes, NUL, non-ASCII, very long.
fn hostile() -> Vec<String> {
    vec![
        "'; DROP TABLE jobs; --".into(),
        "job_\" OR \"1\"=\"1".into(),
        "job_\0".into(),
        "\u{0}".into(),
        "ノード🦀".into(),
        "%".into(),
        "_".into(),
        "x".repeat(10_000),
    ]
}

/// Asserts that `status` is one of `codes` and leaks nothing of the database.
#[track_caller]
fn assert_clean(what: &str, status: &Status, codes: &[Code]) {
    assert!(
        codes.contains(&status.code()),
        "{what}: got {:?} {:?}, expected one of {codes:?}",
        status.code(),
        status.message()
    );
    let message = status.message().to_ascii_lowercase();
    for leak in [
        "sqlx", "select ", "insert ", "syntax", "sqlite", "postgres", "panick",
    ] {
        assert!(
            !message.contains(leak),
            "{what}: message leaks {leak:?}: {message}"
        );
    }
}

pub async fn hostile_ids_are_not_found(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    propose(&c, &node.id, &spec(&uuid(1))).await;
    let expected = [Code::NotFound, Code::InvalidArgument];
    for text in hostile() {
        let shown = format!("{:.40?}", text);
        for rpc in JobRpc::ALL {
            let status = rpc.call(&c, Ref::Id(&text)).await.unwrap_err();
            assert_clean(&format!("{rpc:?} {shown}"), &status, &expected);
        }
        let status = c
            .get_proposal(GetProposalRequest { id: text.clone() })
            .await
            .unwrap_err();
        assert_clean(&format!("GetProposal {shown}"), &status, &expected);
        let status = c
            .get_node(GetNodeRequest {
                id: text.clone(),
                public_key: None,
            })
            .await
            .unwrap_err();
        assert_clean(&format!("GetNode {shown}"), &status, &expected);
        for enable in [true, false] {
            let id = text.clone();
            let status = if enable {
                c.enable_node(EnableNodeRequest { id }).await.unwrap_err()
            } else {
                c.disable_node(DisableNodeRequest { id }).await.unwrap_err()
            };
            assert_clean(&format!("Enable({enable}) {shown}"), &status, &expected);
        }
        let update = UpdateNodeRequest {
            id: text.clone(),
            name: "x".into(),
            ..Default::default()
        };
        let status = c.update_node(update).await.unwrap_err();
        assert_clean(&format!("UpdateNode {shown}"), &status, &expected);
        let status = c
            .propose_job(ProposeJobRequest {
                node_id: text.clone(),
                spec: spec(&uuid(1)),
                labels: vec![],
            })
            .await
            .unwrap_err();
        assert_clean(&format!("ProposeJob {shown}"), &status, &expected);
    }
    // The database is intact.
    assert_eq!(job_ids(&c, Default::default()).await.len(), 1);
}

pub async fn hostile_filters_match_nothing(c: Ctx) {
    let node = register_node(&c, "a", vec![label("env", "prod")]).await;
    propose(&c, &node.id, &spec(&uuid(1))).await;
    for text in hostile() {
        let shown = format!("{:.40?}", text);
        let filter = list_jobs_request::Filter {
            ids: vec![text.clone()],
            ..Default::default()
        };
        match c
            .list_jobs(ListJobsRequest {
                filter: Some(filter),
            })
            .await
        {
            Ok(response) => assert!(response.jobs.is_empty(), "ListJobs ids {shown}"),
            Err(status) => assert_clean(
                &format!("ListJobs {shown}"),
                &status,
                &[Code::InvalidArgument],
            ),
        }
        for filter in [
            list_jobs_request::Filter {
                node_ids: vec![text.clone()],
                ..Default::default()
            },
            list_jobs_request::Filter {
                uuids: vec![text.clone()],
                ..Default::default()
            },
        ] {
            match c
                .list_jobs(ListJobsRequest {
                    filter: Some(filter),
                })
                .await
            {
                Ok(response) => assert!(response.jobs.is_empty(), "ListJobs {shown}"),
                Err(status) => assert_clean(
                    &format!("ListJobs {shown}"),
                    &status,
                    &[Code::InvalidArgument],
                ),
            }
        }
        let filter = list_node_chain_configs_request::Filter {
            node_ids: vec![text.clone()],
        };
        let request = ListNodeChainConfigsRequest {
            filter: Some(filter),
        };
        match c.list_node_chain_configs(request).await {
            Ok(response) => assert!(response.chain_configs.is_empty(), "chain configs {shown}"),
            Err(status) => assert_clean(
                &format!("ListNodeChainConfigs {shown}"),
                &status,
                &[Code::InvalidArgument],
            ),
        }
        for filter in [
            list_nodes_request::Filter {
                selectors: vec![selector(&text, SelectorOp::Eq, Some(&text))],
                ..Default::default()
            },
            list_nodes_request::Filter {
                ids: vec![text.clone()],
                ..Default::default()
            },
        ] {
            let request = ListNodesRequest {
                filter: Some(filter),
                ..Default::default()
            };
            match c.list_nodes(request).await {
                Ok(response) => assert!(response.nodes.is_empty(), "ListNodes {shown}"),
                Err(status) => assert_clean(
                    &format!("ListNodes {shown}"),
                    &status,
                    &[Code::InvalidArgument],
                ),
            }
        }
        match c
            .list_proposals(offchain::proto::job::ListProposalsRequest {
                filter: Some(offchain::proto::job::list_proposals_request::Filter {
                    ids: vec![text.clone()],
                    job_ids: vec![text.clone()],
                }),
            })
            .await
        {
            Ok(response) => assert!(response.proposals.is_empty(), "ListProposals {shown}"),
            Err(status) => assert_clean(
                &format!("ListProposals {shown}"),
                &status,
                &[Code::InvalidArgument],
            ),
        }
    }
}

pub async fn hostile_names_and_labels_are_stored_or_refused(c: Ctx) {
    let plain = register_node(&c, "plain", vec![]).await;
    for (n, text) in (1..).zip(hostile()) {
        let shown = format!("{:.40?}", text);
        let request = RegisterNodeRequest {
            name: text.clone(),
            public_key: public_key(),
            labels: vec![label(&text, &text), flag(&format!("{text}-flag"))],
        };
        match c.register_node(request.clone()).await {
            Ok(response) => {
                let node = response.node.unwrap();
                assert_eq!(node.name, text.trim(), "name {shown}");
                assert_eq!(node.labels, request.labels, "labels {shown}");
                let selected =
                    nodes_selected(&c, vec![selector(&text, SelectorOp::Eq, Some(&text))]).await;
                assert_eq!(selected, vec![node.id], "selector {shown}");
            }
            Err(status) => assert_clean(
                &format!("RegisterNode {shown}"),
                &status,
                &[Code::InvalidArgument],
            ),
        }
        let update = UpdateNodeRequest {
            id: plain.id.clone(),
            name: text.clone(),
            ..Default::default()
        };
        match c.update_node(update).await {
            Ok(response) => assert_eq!(response.node.unwrap().name, text.trim(), "{shown}"),
            Err(status) => assert_clean(
                &format!("UpdateNode {shown}"),
                &status,
                &[Code::InvalidArgument],
            ),
        }
        // Job labels, through ProposeJob and UpdateJob.
        let labels = vec![label(&text, &text)];
        let request = ProposeJobRequest {
            node_id: plain.id.clone(),
            spec: spec(&uuid(n)),
            labels: labels.clone(),
        };
        let proposal = match c.propose_job(request).await {
            Ok(response) => response.proposal.unwrap(),
            Err(status) => {
                assert_clean(
                    &format!("ProposeJob {shown}"),
                    &status,
                    &[Code::InvalidArgument],
                );
                continue;
            }
        };
        assert_eq!(
            get_job(&c, &proposal.job_id).await.labels,
            labels,
            "{shown}"
        );
        let update = UpdateJobRequest {
            labels: vec![flag(&text)],
            ..Ref::Id(&proposal.job_id).into()
        };
        let job = c.update_job(update).await.unwrap().job.unwrap();
        assert_eq!(job.labels, vec![flag(&text)], "{shown}");
    }
    // The limits leave room for ordinary odd input: all but the 10 000-byte string pass.
    assert_eq!(
        job_ids(&c, Default::default()).await.len(),
        hostile().len() - 1
    );
}

/// Filter lists are bounded: the limit itself works, one more is INVALID_ARGUMENT (not an
/// INTERNAL from the database's parameter limit).
pub async fn oversized_filters_are_invalid_argument(c: Ctx) {
    let node = register_node(&c, "n", vec![]).await;
    let proposal = propose(&c, &node.id, &spec(&uuid(1))).await;
    let mut ids = vec!["job_absent".to_string(); offchain_jd::MAX_FILTER_VALUES - 1];
    ids.push(proposal.job_id.clone());
    let at_limit = list_jobs_request::Filter {
        ids: ids.clone(),
        ..Default::default()
    };
    assert_eq!(job_ids(&c, at_limit).await, vec![proposal.job_id.clone()]);

    ids.push("job_one_too_many".into());
    let request = ListJobsRequest {
        filter: Some(list_jobs_request::Filter {
            ids: ids.clone(),
            ..Default::default()
        }),
    };
    assert_status(c.list_jobs(request).await, Code::InvalidArgument, "at most");
    let request = offchain::proto::job::ListProposalsRequest {
        filter: Some(offchain::proto::job::list_proposals_request::Filter {
            job_ids: ids.clone(),
            ..Default::default()
        }),
    };
    assert_status(
        c.list_proposals(request).await,
        Code::InvalidArgument,
        "at most",
    );
    let request = ListNodeChainConfigsRequest {
        filter: Some(list_node_chain_configs_request::Filter { node_ids: ids }),
    };
    assert_status(
        c.list_node_chain_configs(request).await,
        Code::InvalidArgument,
        "at most",
    );
}
