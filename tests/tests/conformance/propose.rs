//! Identifiers, job spec validation, ProposeJob and BatchProposeJob.

use std::collections::BTreeSet;

use offchain::proto::job::{
    BatchProposeJobRequest, ProposalDeliveryStatus, ProposalStatus, ProposeJobRequest,
    list_jobs_request,
};
use offchain::proto::node::DisableNodeRequest;
use tonic::Code;

use crate::support::*;

/// Everything, deleted or not.
fn all_jobs() -> list_jobs_request::Filter {
    list_jobs_request::Filter {
        include_deleted: true,
        ..Default::default()
    }
}

async fn assert_nothing_stored(c: &Ctx) {
    assert_eq!(job_ids(c, all_jobs()).await, Vec::<String>::new(), "jobs");
    assert_eq!(proposal_ids(c, &[], &[]).await, Vec::<String>::new());
}

async fn disable(c: &Ctx, node_id: &str) {
    c.disable_node(DisableNodeRequest { id: node_id.into() })
        .await
        .unwrap();
}

pub async fn ids_are_prefixed_and_never_uuid_shaped(c: Ctx) {
    let a = register_node(&c, "a", vec![]).await;
    let b = register_node(&c, "b", vec![]).await;
    let uuid = uuid(1);
    let first = propose(&c, &a.id, &spec(&uuid)).await;
    let second = propose(&c, &b.id, &spec(&uuid)).await;
    for node in [&a, &b] {
        assert_server_id(&node.id, "node");
    }
    for proposal in [&first, &second] {
        assert_server_id(&proposal.id, "prop");
        assert_server_id(&proposal.job_id, "job");
    }
    assert_ne!(a.id, b.id);
    assert_ne!(first.id, second.id);
    assert_ne!(first.job_id, second.job_id);
    let job = get_job(&c, &first.job_id).await;
    assert_eq!(job.uuid, uuid, "a job's uuid is its spec's externalJobID");
    assert_ne!(job.id, job.uuid);
}

pub async fn propose_rejects_invalid_specs(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let bad_specs = [
        ("empty", String::new()),
        ("not TOML", "type = ".to_string()),
        ("prose", "please run the webhook job".to_string()),
        (
            "no externalJobID",
            "type = \"webhook\"\nschemaVersion = 1\n".to_string(),
        ),
        (
            "externalJobID only in a sub-table",
            format!("[job]\nexternalJobID = \"{}\"\n", uuid(1)),
        ),
        ("externalJobID not a UUID", spec("not-a-uuid")),
        (
            "externalJobID a UUID with junk",
            spec(&format!("{}x", uuid(1))),
        ),
        (
            "externalJobID an integer",
            "externalJobID = 5\n".to_string(),
        ),
        ("NUL in a comment", format!("{}# \0\n", spec(&uuid(1)))),
    ];
    for (what, text) in bad_specs {
        let result = c
            .propose_job(ProposeJobRequest {
                node_id: node.id.clone(),
                spec: text,
                labels: vec![],
            })
            .await;
        let status = assert_status(result, Code::InvalidArgument, "invalid spec");
        assert!(
            status.message().starts_with("invalid spec:"),
            "{what}: message {:?} must start with `invalid spec:`",
            status.message()
        );
    }
    assert_nothing_stored(&c).await;
}

pub async fn propose_creates_job_with_revision_1(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let uuid = uuid(1);
    // Stored verbatim: comments, odd spacing and fields the JD does not know survive.
    let text = format!(
        "# a comment\ntype   =   \"webhook\"\nschemaVersion = 1\nexternalJobID = \"{uuid}\"\n\
         observationSource = \"\"\"\n  ds1 [type=http];\n\"\"\"\n\n"
    );
    let labels = vec![label("env", "prod"), flag("bootstrap")];
    let proposal = propose_labelled(&c, &node.id, &text, labels.clone()).await;

    assert_eq!(proposal.revision, 1);
    assert_eq!(proposal.status(), ProposalStatus::Proposed);
    assert_eq!(
        proposal.delivery_status(),
        ProposalDeliveryStatus::Unspecified,
        "no node link: delivery stays unspecified"
    );
    assert_eq!(proposal.spec, text);
    assert!(proposal.created_at.is_some() && proposal.updated_at.is_some());
    assert_eq!(proposal.acked_at, None);
    assert_eq!(proposal.response_received_at, None);
    assert_eq!(get_proposal(&c, &proposal.id).await, proposal);

    let job = get_job(&c, &proposal.job_id).await;
    assert_eq!(job.id, proposal.job_id);
    assert_eq!(job.uuid, uuid);
    assert_eq!(job.node_id, node.id);
    assert_eq!(job.proposal_ids, vec![proposal.id.clone()]);
    assert_eq!(job.labels, labels);
    assert_eq!(job.deleted_at, None);
    assert_eq!(job.rollback_policy_id, None);
    assert!(job.created_at.is_some() && job.updated_at.is_some());
}

pub async fn propose_same_uuid_same_node_appends_revision(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let job_uuid = uuid(1);
    let first_labels = vec![label("team", "first")];
    let first = propose_labelled(&c, &node.id, &spec(&job_uuid), first_labels.clone()).await;
    let second_text = format!("{}# revised\n", spec(&job_uuid));
    let second = propose_labelled(
        &c,
        &node.id,
        &second_text,
        vec![label("team", "second"), flag("extra")],
    )
    .await;
    let third = propose(&c, &node.id, &spec(&job_uuid)).await;

    assert_eq!(
        second.job_id, first.job_id,
        "same (uuid, node) is the same job"
    );
    assert_eq!(third.job_id, first.job_id);
    assert_eq!([first.revision, second.revision, third.revision], [1, 2, 3]);
    assert_eq!(second.status(), ProposalStatus::Proposed);
    assert_eq!(get_proposal(&c, &second.id).await.spec, second_text);

    let job = get_job(&c, &first.job_id).await;
    assert_eq!(job.proposal_ids, vec![first.id, second.id, third.id]);
    assert_eq!(
        job.labels, first_labels,
        "labels of the first proposal stay"
    );
    assert_eq!(job_ids(&c, all_jobs()).await, vec![job.id.clone()]);

    // Another uuid on the same node is another job.
    let other = propose(&c, &node.id, &spec(&uuid(2))).await;
    assert_ne!(other.job_id, job.id);
    assert_eq!(other.revision, 1);
}

pub async fn propose_same_uuid_other_node_is_another_job(c: Ctx) {
    let a = register_node(&c, "a", vec![]).await;
    let b = register_node(&c, "b", vec![]).await;
    let text = spec(&uuid(1));
    let on_a = propose(&c, &a.id, &text).await;
    let on_b = propose(&c, &b.id, &text).await;
    assert_ne!(on_a.job_id, on_b.job_id);
    assert_eq!((on_a.revision, on_b.revision), (1, 1));
    assert_eq!(get_job(&c, &on_b.job_id).await.node_id, b.id);
    assert_eq!(get_job(&c, &on_a.job_id).await.proposal_ids, vec![on_a.id]);
}

pub async fn propose_to_unknown_node_is_not_found(c: Ctx) {
    register_node(&c, "a", vec![]).await;
    let missing = "node_01jzzzzzzzzzzzzzzzzzzzzzzz";
    let result = c
        .propose_job(ProposeJobRequest {
            node_id: missing.into(),
            spec: spec(&uuid(1)),
            labels: vec![],
        })
        .await;
    assert_status(result, Code::NotFound, missing);
    assert_nothing_stored(&c).await;
}

pub async fn propose_to_disabled_node_is_failed_precondition(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    disable(&c, &node.id).await;
    let request = ProposeJobRequest {
        node_id: node.id.clone(),
        spec: spec(&uuid(1)),
        labels: vec![],
    };
    assert_status(
        c.propose_job(request.clone()).await,
        Code::FailedPrecondition,
        &node.id,
    );
    assert_nothing_stored(&c).await;

    c.enable_node(offchain::proto::node::EnableNodeRequest {
        id: node.id.clone(),
    })
    .await
    .unwrap();
    let proposal = c.propose_job(request).await.unwrap().proposal.unwrap();
    assert_eq!(proposal.revision, 1, "the refused proposal left no trace");
}

pub async fn propose_with_empty_node_id_is_invalid_argument(c: Ctx) {
    register_node(&c, "a", vec![]).await;
    let result = c
        .propose_job(ProposeJobRequest {
            node_id: String::new(),
            spec: spec(&uuid(1)),
            labels: vec![],
        })
        .await;
    assert_status(result, Code::InvalidArgument, "node");
    assert_nothing_stored(&c).await;
}

pub async fn batch_propose_reports_each_node(c: Ctx) {
    let a = register_node(&c, "a", vec![]).await.id;
    let b = register_node(&c, "b", vec![]).await.id;
    let off = register_node(&c, "off", vec![]).await.id;
    let d = register_node(&c, "d", vec![]).await.id;
    disable(&c, &off).await;
    let missing = "node_01jzzzzzzzzzzzzzzzzzzzzzzz".to_string();
    let labels = vec![label("team", "x")];
    let response = c
        .batch_propose_job(BatchProposeJobRequest {
            node_ids: vec![
                a.clone(),
                missing.clone(),
                b.clone(),
                off.clone(),
                d.clone(),
            ],
            spec: spec(&uuid(1)),
            labels: labels.clone(),
        })
        .await
        .unwrap();

    let succeeded: BTreeSet<&String> = response.success_responses.keys().collect();
    let failed: BTreeSet<&String> = response.failed_responses.keys().collect();
    assert_eq!(succeeded, BTreeSet::from([&a, &b, &d]));
    assert_eq!(failed, BTreeSet::from([&missing, &off]));
    for failure in response.failed_responses.values() {
        assert!(!failure.error_message.trim().is_empty());
    }
    let mut jobs = BTreeSet::new();
    for (node_id, success) in &response.success_responses {
        let proposal = success.proposal.as_ref().expect("proposal of a success");
        assert_eq!(proposal.revision, 1);
        assert_eq!(proposal.status(), ProposalStatus::Proposed);
        assert_eq!(
            proposal.delivery_status(),
            ProposalDeliveryStatus::Unspecified
        );
        let job = get_job(&c, &proposal.job_id).await;
        assert_eq!(&job.node_id, node_id);
        assert_eq!(job.labels, labels);
        assert_eq!(job.proposal_ids, vec![proposal.id.clone()]);
        jobs.insert(job.id);
    }
    assert_eq!(jobs.len(), 3, "one job per node");
    let listed: BTreeSet<String> = job_ids(&c, all_jobs()).await.into_iter().collect();
    assert_eq!(listed, jobs, "failed nodes got no job");
}

pub async fn batch_propose_invalid_spec_fails_whole_call(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    let result = c
        .batch_propose_job(BatchProposeJobRequest {
            node_ids: ids,
            spec: "type = \"webhook\"\n".into(),
            labels: vec![],
        })
        .await;
    let status = assert_status(result, Code::InvalidArgument, "invalid spec");
    assert!(status.message().starts_with("invalid spec:"));
    assert_nothing_stored(&c).await;
}

pub async fn batch_propose_duplicate_node_ids_propose_once(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    let response = c
        .batch_propose_job(BatchProposeJobRequest {
            node_ids: vec![ids[0].clone(), ids[1].clone(), ids[0].clone()],
            spec: spec(&uuid(1)),
            labels: vec![],
        })
        .await
        .unwrap();
    assert!(response.failed_responses.is_empty(), "{response:?}");
    assert_eq!(response.success_responses.len(), 2);
    for success in response.success_responses.values() {
        assert_eq!(success.proposal.as_ref().unwrap().revision, 1);
    }
    assert_eq!(job_ids(&c, all_jobs()).await.len(), 2);
    assert_eq!(proposal_ids(&c, &[], &[]).await.len(), 2);
}

pub async fn batch_propose_appends_revisions(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    let text = spec(&uuid(1));
    let first_labels = vec![label("from", "propose")];
    let existing = propose_labelled(&c, &ids[0], &text, first_labels.clone()).await;
    let response = c
        .batch_propose_job(BatchProposeJobRequest {
            node_ids: ids.clone(),
            spec: text,
            labels: vec![label("from", "batch")],
        })
        .await
        .unwrap();
    let on = |i: usize| {
        response.success_responses[&ids[i]]
            .proposal
            .clone()
            .expect("proposal")
    };
    assert_eq!(on(0).job_id, existing.job_id);
    assert_eq!(on(0).revision, 2);
    assert_eq!(on(1).revision, 1);
    assert_ne!(on(1).job_id, existing.job_id);
    let job = get_job(&c, &existing.job_id).await;
    assert_eq!(job.proposal_ids, vec![existing.id, on(0).id]);
    assert_eq!(job.labels, first_labels);
    assert_eq!(
        get_job(&c, &on(1).job_id).await.labels,
        vec![label("from", "batch")]
    );
}
