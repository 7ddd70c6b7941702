//! Bounded input: every label set, name, id, spec, batch and selector list has a limit (the
//! README's "Limits" tables). The limit itself is accepted; one more is refused with
//! `INVALID_ARGUMENT` (`RESOURCE_EXHAUSTED` for a spec's or a batch's size), naming the
//! field and the limit, before anything is written.
//!
//! The numbers are written out here on purpose: they are the documented contract.

use offchain::proto::job::{
    BatchProposeJobRequest, GetProposalRequest, ListJobsRequest, ProposeJobRequest,
    UpdateJobRequest, list_jobs_request,
};
use offchain::proto::label::{Label, Selector, SelectorOp};
use offchain::proto::node::{
    GetNodeRequest, ListNodesRequest, RegisterNodeRequest, UpdateNodeRequest, list_nodes_request,
};
use tonic::Code;

use crate::support::*;

const MIB: usize = 1024 * 1024;

/// `count` distinct labels whose keys are `key_bytes` long and values `value_bytes` long.
fn labels(count: usize, key_bytes: usize, value_bytes: usize) -> Vec<Label> {
    (0..count)
        .map(|i| {
            let key = format!("{i:0key_bytes$}");
            label(&key, &"v".repeat(value_bytes))
        })
        .collect()
}

/// Label sets over each limit, with the words the refusal must contain.
fn oversized_label_sets() -> Vec<(Vec<Label>, &'static str)> {
    vec![
        (labels(65, 8, 8), "65 labels, at most 64"),
        (labels(1, 256, 8), "at most 255"),
        (labels(1, 8, 1025), "at most 1024"),
    ]
}

/// A valid spec for `uuid` of exactly `bytes` bytes (padded with a comment).
fn spec_of_size(uuid: &str, bytes: usize) -> String {
    let mut text = spec(uuid);
    text.push('#');
    let pad = bytes - text.len() - 1;
    text.push_str(&"x".repeat(pad));
    text.push('\n');
    assert_eq!(text.len(), bytes);
    text
}

async fn node_count(c: &Ctx) -> usize {
    node_ids(c, Default::default()).await.len()
}

async fn assert_no_jobs(c: &Ctx) {
    let all = list_jobs_request::Filter {
        include_deleted: true,
        ..Default::default()
    };
    assert!(job_ids(c, all).await.is_empty(), "nothing may be written");
}

pub async fn labels_are_bounded(c: Ctx) {
    // At the limits: accepted everywhere.
    let most = labels(64, 255, 1024);
    let node = register_node(&c, "full", most.clone()).await;
    assert_eq!(node.labels, most);
    let proposal = propose_labelled(&c, &node.id, &spec(&uuid(1)), most.clone()).await;
    assert_eq!(get_job(&c, &proposal.job_id).await.labels, most);

    for (oversized, needle) in oversized_label_sets() {
        let request = RegisterNodeRequest {
            name: "n".into(),
            public_key: public_key(),
            labels: oversized.clone(),
        };
        assert_status(
            c.register_node(request).await,
            Code::InvalidArgument,
            needle,
        );
        let request = UpdateNodeRequest {
            id: node.id.clone(),
            labels: oversized.clone(),
            ..Default::default()
        };
        assert_status(c.update_node(request).await, Code::InvalidArgument, needle);
        let request = ProposeJobRequest {
            node_id: node.id.clone(),
            spec: spec(&uuid(2)),
            labels: oversized.clone(),
        };
        assert_status(c.propose_job(request).await, Code::InvalidArgument, needle);
        let request = BatchProposeJobRequest {
            node_ids: vec![node.id.clone()],
            spec: spec(&uuid(2)),
            labels: oversized.clone(),
        };
        let result = c.batch_propose_job(request).await;
        assert_status(result, Code::InvalidArgument, needle);
        let request = UpdateJobRequest {
            labels: oversized,
            ..Ref::Id(&proposal.job_id).into()
        };
        assert_status(c.update_job(request).await, Code::InvalidArgument, needle);
    }
    // Nothing changed.
    assert_eq!(node_count(&c).await, 1);
    let stored = c
        .get_node(GetNodeRequest {
            id: node.id.clone(),
            public_key: None,
        })
        .await
        .unwrap()
        .node
        .unwrap();
    assert_eq!(stored.labels, most);
    assert_eq!(get_job(&c, &proposal.job_id).await.labels, most);
    assert_eq!(job_ids(&c, Default::default()).await.len(), 1);
}

pub async fn names_and_ids_are_bounded(c: Ctx) {
    let longest = "n".repeat(255);
    let node = register_node(&c, &longest, vec![]).await;
    assert_eq!(node.name, longest);
    let too_long = "n".repeat(256);
    let request = RegisterNodeRequest {
        name: too_long.clone(),
        public_key: public_key(),
        labels: vec![],
    };
    assert_status(
        c.register_node(request).await,
        Code::InvalidArgument,
        "name: 256 bytes, at most 255",
    );
    let request = UpdateNodeRequest {
        id: node.id.clone(),
        name: too_long.clone(),
        ..Default::default()
    };
    assert_status(
        c.update_node(request).await,
        Code::InvalidArgument,
        "at most 255",
    );
    assert_eq!(node_count(&c).await, 1);

    // An id longer than any id is refused as such, not looked up.
    let long_id = format!("job_{}", "x".repeat(252));
    for rpc in JobRpc::ALL {
        assert_status(
            rpc.call(&c, Ref::Id(&long_id)).await,
            Code::InvalidArgument,
            "at most 255",
        );
    }
    let result = c
        .get_proposal(GetProposalRequest {
            id: long_id.clone(),
        })
        .await;
    assert_status(result, Code::InvalidArgument, "at most 255");
    let request = GetNodeRequest {
        id: long_id.clone(),
        public_key: None,
    };
    assert_status(
        c.get_node(request).await,
        Code::InvalidArgument,
        "at most 255",
    );
    let request = ProposeJobRequest {
        node_id: long_id.clone(),
        spec: spec(&uuid(1)),
        labels: vec![],
    };
    assert_status(
        c.propose_job(request).await,
        Code::InvalidArgument,
        "at most 255",
    );

    // Filter values too, and ListNodes' lists are bounded like the others.
    let request = ListJobsRequest {
        filter: Some(list_jobs_request::Filter {
            node_ids: vec![long_id.clone()],
            ..Default::default()
        }),
    };
    assert_status(
        c.list_jobs(request).await,
        Code::InvalidArgument,
        "at most 255",
    );
    for filter in [
        list_nodes_request::Filter {
            ids: vec![long_id.clone()],
            ..Default::default()
        },
        list_nodes_request::Filter {
            ids: vec!["node_x".into(); 10_001],
            ..Default::default()
        },
        list_nodes_request::Filter {
            public_keys: vec![public_key(); 10_001],
            ..Default::default()
        },
    ] {
        let request = ListNodesRequest {
            filter: Some(filter),
            ..Default::default()
        };
        assert_status(
            c.list_nodes(request).await,
            Code::InvalidArgument,
            "at most",
        );
    }
}

pub async fn spec_size_is_bounded(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let over = spec_of_size(&uuid(2), MIB + 1);
    let request = ProposeJobRequest {
        node_id: node.id.clone(),
        spec: over.clone(),
        labels: vec![],
    };
    assert_status(
        c.propose_job(request).await,
        Code::ResourceExhausted,
        "spec: 1048577 bytes, at most 1048576",
    );
    let request = BatchProposeJobRequest {
        node_ids: vec![node.id.clone()],
        spec: over,
        labels: vec![],
    };
    let result = c.batch_propose_job(request).await;
    assert_status(result, Code::ResourceExhausted, "at most 1048576");
    assert_no_jobs(&c).await;

    let most = spec_of_size(&uuid(1), MIB);
    let proposal = propose(&c, &node.id, &most).await;
    assert_eq!(get_proposal(&c, &proposal.id).await.spec, most);
}

pub async fn batch_size_is_bounded(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let absent = |n: usize| {
        (0..n)
            .map(|i| format!("node_absent_{i}"))
            .collect::<Vec<_>>()
    };

    // 10 001 node ids: refused whole, nothing written.
    let mut ids = absent(10_000);
    ids.push(node.id.clone());
    let request = BatchProposeJobRequest {
        node_ids: ids.clone(),
        spec: spec(&uuid(1)),
        labels: vec![],
    };
    assert_status(
        c.batch_propose_job(request).await,
        Code::InvalidArgument,
        "node_ids: 10001 ids, at most 10000",
    );
    // (node ids × spec bytes) over 64 MiB: 65 × 1 MiB.
    let big = spec_of_size(&uuid(1), MIB);
    let mut ids65 = absent(64);
    ids65.push(node.id.clone());
    let request = BatchProposeJobRequest {
        node_ids: ids65,
        spec: big.clone(),
        labels: vec![],
    };
    assert_status(
        c.batch_propose_job(request).await,
        Code::ResourceExhausted,
        "at most 67108864",
    );
    assert_no_jobs(&c).await;

    // At the limits: 10 000 ids, and 64 × 1 MiB; each node answered.
    ids.remove(0);
    for (node_ids, spec) in [(ids, spec(&uuid(1))), (absent(63), big)] {
        let mut node_ids = node_ids;
        if !node_ids.contains(&node.id) {
            node_ids.push(node.id.clone());
        }
        let count = node_ids.len();
        let request = BatchProposeJobRequest {
            node_ids,
            spec,
            labels: vec![],
        };
        let response = c.batch_propose_job(request).await.unwrap();
        assert_eq!(response.success_responses.len(), 1);
        assert_eq!(response.failed_responses.len(), count - 1);
    }
}

pub async fn selectors_are_bounded(c: Ctx) {
    let node = register_node(&c, "a", vec![label("env", "prod")]).await;
    propose_labelled(&c, &node.id, &spec(&uuid(1)), vec![label("env", "prod")]).await;
    let in_list = format!("prod,{}", "x".repeat(16 * 1024 - 5));
    let at_limit: Vec<Selector> = (0..64)
        .map(|_| selector(&"k".repeat(255), SelectorOp::NotExist, None))
        .chain([selector("env", SelectorOp::In, Some(&in_list))])
        .skip(1)
        .collect();
    assert_eq!(at_limit.len(), 64);
    let over: Vec<(Vec<Selector>, &str)> = vec![
        (
            vec![selector("env", SelectorOp::Exist, None); 65],
            "65 selectors, at most 64",
        ),
        (
            vec![selector(&"k".repeat(256), SelectorOp::Exist, None)],
            "at most 255",
        ),
        (
            vec![selector(
                "env",
                SelectorOp::In,
                Some(&format!("{in_list}x")),
            )],
            "at most 16384",
        ),
    ];

    assert_eq!(
        nodes_selected(&c, at_limit.clone()).await,
        vec![node.id.clone()]
    );
    let filter = list_jobs_request::Filter {
        selectors: at_limit,
        ..Default::default()
    };
    assert_eq!(job_ids(&c, filter).await.len(), 1);
    for (selectors, needle) in over {
        let request = ListNodesRequest {
            filter: Some(list_nodes_request::Filter {
                selectors: selectors.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_status(c.list_nodes(request).await, Code::InvalidArgument, needle);
        let request = ListJobsRequest {
            filter: Some(list_jobs_request::Filter {
                selectors,
                ..Default::default()
            }),
        };
        assert_status(c.list_jobs(request).await, Code::InvalidArgument, needle);
    }
}
