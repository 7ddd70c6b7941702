//! ListJobs, ListProposals and GetProposal.

use offchain::proto::job::{BatchProposeJobRequest, GetProposalRequest, list_jobs_request};
use offchain::proto::label::{Selector, SelectorOp};
use tonic::Code;

use crate::support::*;

/// Two nodes × two uuids, with labels: the ids of jobs A1, A2, B1, B2 (created in that
/// order) and of nodes A, B, and the two uuids.
struct Grid {
    nodes: [String; 2],
    uuids: [String; 2],
    jobs: [String; 4],
}

async fn grid(c: &Ctx) -> Grid {
    let nodes = [
        register_node(c, "a", vec![]).await.id,
        register_node(c, "b", vec![]).await.id,
    ];
    let uuids = [uuid(1), uuid(2)];
    let plan = [
        (0, 0, vec![label("env", "prod"), flag("core")]),
        (0, 1, vec![label("env", "test")]),
        (1, 0, vec![label("env", "prod")]),
        (1, 1, vec![]),
    ];
    let mut jobs = Vec::new();
    for (node, uuid, labels) in plan {
        let proposal = propose_labelled(c, &nodes[node], &spec(&uuids[uuid]), labels).await;
        jobs.push(proposal.job_id);
    }
    Grid {
        nodes,
        uuids,
        jobs: jobs.try_into().unwrap(),
    }
}

pub async fn list_jobs_filters_are_anded(c: Ctx) {
    let g = grid(&c).await;
    let [a1, a2, b1, b2] = g.jobs.clone();
    let filter =
        |ids: &[&String], node_ids: &[&String], uuids: &[&String], selectors: Vec<Selector>| {
            list_jobs_request::Filter {
                ids: ids.iter().map(|s| s.to_string()).collect(),
                node_ids: node_ids.iter().map(|s| s.to_string()).collect(),
                uuids: uuids.iter().map(|s| s.to_string()).collect(),
                selectors,
                include_deleted: false,
            }
        };
    let (na, nb) = (&g.nodes[0], &g.nodes[1]);
    let (u1, u2) = (&g.uuids[0], &g.uuids[1]);
    let prod = selector("env", SelectorOp::Eq, Some("prod"));
    let has_env = selector("env", SelectorOp::Exist, None);
    let not_prod = selector("env", SelectorOp::NotEq, Some("prod"));
    let missing = "job_01jzzzzzzzzzzzzzzzzzzzzzzz".to_string();
    let cases: Vec<(&str, list_jobs_request::Filter, Vec<&String>)> = vec![
        (
            "no constraint",
            filter(&[], &[], &[], vec![]),
            vec![&a1, &a2, &b1, &b2],
        ),
        ("ids", filter(&[&b2, &a1], &[], &[], vec![]), vec![&a1, &b2]),
        ("node_ids", filter(&[], &[na], &[], vec![]), vec![&a1, &a2]),
        ("uuids", filter(&[], &[], &[u1], vec![]), vec![&a1, &b1]),
        (
            "selector",
            filter(&[], &[], &[], vec![prod.clone()]),
            vec![&a1, &b1],
        ),
        (
            "node and uuid",
            filter(&[], &[nb], &[u2], vec![]),
            vec![&b2],
        ),
        (
            "node and selector",
            filter(&[], &[nb], &[], vec![prod.clone()]),
            vec![&b1],
        ),
        (
            "id and other node",
            filter(&[&a1], &[nb], &[], vec![]),
            vec![],
        ),
        (
            "all four",
            filter(&[&a1, &a2, &b2], &[na, nb], &[u2], vec![has_env.clone()]),
            vec![&a2],
        ),
        (
            "selectors ANDed",
            filter(&[], &[], &[], vec![has_env, not_prod]),
            vec![&a2],
        ),
        ("unknown id", filter(&[&missing], &[], &[], vec![]), vec![]),
        (
            "unknown op",
            filter(&[], &[], &[], vec![Selector { op: 42, ..prod }]),
            vec![],
        ),
    ];
    for (what, filter, expected) in cases {
        let got = job_ids(&c, filter).await;
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(got, expected, "{what}");
    }
}

pub async fn list_jobs_in_creation_order(c: Ctx) {
    let ids = register_nodes(&c, 4).await;
    let mut created = Vec::new();
    for (node, n) in [(1, 1), (0, 1), (1, 2)] {
        created.push(propose(&c, &ids[node], &spec(&uuid(n))).await.job_id);
    }
    // A new revision of the first job does not move it.
    propose(&c, &ids[1], &spec(&uuid(1))).await;
    // Jobs made by one batch share a creation time: their order is by id.
    let batch = c
        .batch_propose_job(BatchProposeJobRequest {
            node_ids: vec![ids[3].clone(), ids[2].clone()],
            spec: spec(&uuid(3)),
            labels: vec![],
        })
        .await
        .unwrap();
    let mut batch_jobs: Vec<String> = batch
        .success_responses
        .values()
        .map(|r| r.proposal.as_ref().unwrap().job_id.clone())
        .collect();
    batch_jobs.sort();

    let jobs = list_jobs(&c, Default::default()).await;
    let listed: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(listed[..3], created[..], "creation order");
    let mut tail = listed[3..].to_vec();
    tail.sort();
    assert_eq!(tail, batch_jobs);
    assert_creation_order(jobs.iter().map(|j| (micros(&j.created_at), j.id.as_str())));
    assert_eq!(
        job_ids(&c, Default::default()).await,
        listed,
        "the order is stable"
    );
}

pub async fn list_proposals_honours_ids_and_job_ids(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let p1 = propose(&c, &node.id, &spec(&uuid(1))).await;
    let p2 = propose(&c, &node.id, &spec(&uuid(2))).await;
    let p3 = propose(&c, &node.id, &spec(&uuid(1))).await;
    let (job1, job2) = (p1.job_id.as_str(), p2.job_id.as_str());
    let (p1, p2, p3) = (p1.id.as_str(), p2.id.as_str(), p3.id.as_str());
    // (what, ids, job_ids, expected)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);
    let cases: [Case; 7] = [
        ("no constraint", &[], &[], &[p1, p2, p3]),
        ("ids, answered in creation order", &[p3, p1], &[], &[p1, p3]),
        ("job_ids", &[], &[job1], &[p1, p3]),
        ("several job_ids", &[], &[job2, job1], &[p1, p2, p3]),
        ("ids and job_ids ANDed", &[p1, p2], &[job1], &[p1]),
        ("unknown id", &["prop_01jzzzzzzzzzzzzzzzzzzzzzzz"], &[], &[]),
        (
            "unknown job id",
            &[],
            &["job_01jzzzzzzzzzzzzzzzzzzzzzzz"],
            &[],
        ),
    ];
    for (what, ids, job_ids, expected) in cases {
        assert_eq!(proposal_ids(&c, ids, job_ids).await, expected, "{what}");
    }
}

pub async fn list_proposals_in_creation_order(c: Ctx) {
    let ids = register_nodes(&c, 3).await;
    let batch = c
        .batch_propose_job(BatchProposeJobRequest {
            node_ids: ids.clone(),
            spec: spec(&uuid(1)),
            labels: vec![],
        })
        .await
        .unwrap();
    assert_eq!(batch.success_responses.len(), 3);
    let later = propose(&c, &ids[0], &spec(&uuid(1))).await;
    let proposals = c
        .list_proposals(Default::default())
        .await
        .unwrap()
        .proposals;
    assert_eq!(proposals.len(), 4);
    assert_eq!(proposals.last().unwrap().id, later.id);
    assert_creation_order(
        proposals
            .iter()
            .map(|p| (micros(&p.created_at), p.id.as_str())),
    );
}

pub async fn get_proposal_unknown_is_not_found(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    propose(&c, &node.id, &spec(&uuid(1))).await;
    let missing = "prop_01jzzzzzzzzzzzzzzzzzzzzzzz";
    let result = c
        .get_proposal(GetProposalRequest { id: missing.into() })
        .await;
    assert_status(result, Code::NotFound, missing);
    let result = c
        .get_proposal(GetProposalRequest { id: String::new() })
        .await;
    assert_status(result, Code::InvalidArgument, "");
}
