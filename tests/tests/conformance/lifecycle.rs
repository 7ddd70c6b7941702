//! RevokeJob, DeleteJob and UpdateJob by job id.

use offchain::proto::job::{ProposalStatus, UpdateJobRequest, list_jobs_request};
use offchain::proto::label::SelectorOp;
use tonic::Code;

use crate::support::*;

async fn revoke(c: &Ctx, job_id: &str) -> offchain::proto::job::Proposal {
    c.revoke_job(Ref::Id(job_id).into())
        .await
        .unwrap_or_else(|s| panic!("revoke {job_id}: {s}"))
        .proposal
        .expect("RevokeJob returns the proposal")
}

async fn status_of(c: &Ctx, proposal_id: &str) -> ProposalStatus {
    get_proposal(c, proposal_id).await.status()
}

pub async fn revoke_latest_proposed(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let text = spec(&uuid(1));
    let first = propose(&c, &node.id, &text).await;
    let second = propose(&c, &node.id, &text).await;

    let revoked = revoke(&c, &first.job_id).await;
    assert_eq!(revoked.id, second.id, "the latest revision is revoked");
    assert_eq!(revoked.revision, 2);
    assert_eq!(revoked.job_id, first.job_id);
    assert_eq!(revoked.status(), ProposalStatus::Revoked);
    assert_eq!(status_of(&c, &second.id).await, ProposalStatus::Revoked);
    assert_eq!(
        status_of(&c, &first.id).await,
        ProposalStatus::Proposed,
        "older revisions are untouched"
    );
    assert_eq!(
        get_job(&c, &first.job_id).await.proposal_ids,
        vec![first.id, second.id],
        "revoking keeps the proposals"
    );
}

pub async fn revoke_only_touches_its_job(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    let text = spec(&uuid(1));
    let mine = propose(&c, &ids[0], &text).await;
    let other_node = propose(&c, &ids[1], &text).await;
    let other_uuid = propose(&c, &ids[0], &spec(&uuid(2))).await;
    revoke(&c, &mine.job_id).await;
    assert_eq!(status_of(&c, &mine.id).await, ProposalStatus::Revoked);
    assert_eq!(
        status_of(&c, &other_node.id).await,
        ProposalStatus::Proposed
    );
    assert_eq!(
        status_of(&c, &other_uuid.id).await,
        ProposalStatus::Proposed
    );
}

pub async fn revoke_twice_is_failed_precondition(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let proposal = propose(&c, &node.id, &spec(&uuid(1))).await;
    revoke(&c, &proposal.job_id).await;
    let again = c.revoke_job(Ref::Id(&proposal.job_id).into()).await;
    assert_status(again, Code::FailedPrecondition, "job cannot be revoked");
    assert_eq!(status_of(&c, &proposal.id).await, ProposalStatus::Revoked);
}

pub async fn revoke_applies_to_a_new_revision_after_a_revoke(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let text = spec(&uuid(1));
    let first = propose(&c, &node.id, &text).await;
    revoke(&c, &first.job_id).await;
    let second = propose(&c, &node.id, &text).await;
    assert_eq!(second.job_id, first.job_id);
    assert_eq!(second.revision, 2);
    assert_eq!(second.status(), ProposalStatus::Proposed);
    let revoked = revoke(&c, &first.job_id).await;
    assert_eq!(revoked.id, second.id);
    assert_eq!(status_of(&c, &first.id).await, ProposalStatus::Revoked);
}

pub async fn revoke_unknown_job_is_not_found(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    propose(&c, &node.id, &spec(&uuid(1))).await;
    let missing = "job_01jzzzzzzzzzzzzzzzzzzzzzzz";
    assert_status(
        c.revoke_job(Ref::Id(missing).into()).await,
        Code::NotFound,
        missing,
    );
}

pub async fn revoke_empty_id_is_invalid_argument(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let proposal = propose(&c, &node.id, &spec(&uuid(1))).await;
    assert_status(
        c.revoke_job(Ref::Id("").into()).await,
        Code::InvalidArgument,
        "job id must be provided",
    );
    assert_eq!(status_of(&c, &proposal.id).await, ProposalStatus::Proposed);
}

pub async fn delete_job_is_a_soft_delete(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    let first = propose(&c, &ids[0], &spec(&uuid(1))).await;
    let second = propose(&c, &ids[0], &spec(&uuid(1))).await;
    let kept = propose(&c, &ids[1], &spec(&uuid(1))).await;
    let job_id = first.job_id.clone();

    let deleted = c
        .delete_job(Ref::Id(&job_id).into())
        .await
        .unwrap()
        .job
        .unwrap();
    assert_eq!(deleted.id, job_id);
    assert!(deleted.deleted_at.is_some(), "deleted_at is set");
    assert_eq!(
        deleted.proposal_ids,
        vec![first.id.clone(), second.id.clone()]
    );

    let fetched = get_job(&c, &job_id).await;
    assert_eq!(
        fetched.deleted_at, deleted.deleted_at,
        "GetJob still finds it"
    );
    assert_eq!(
        proposal_ids(&c, &[], &[&job_id]).await,
        vec![first.id.clone(), second.id.clone()],
        "proposals are kept"
    );
    assert_eq!(get_proposal(&c, &second.id).await.id, second.id);

    let live = job_ids(&c, list_jobs_request::Filter::default()).await;
    assert_eq!(
        live,
        vec![kept.job_id.clone()],
        "ListJobs hides deleted jobs"
    );
    let everything = job_ids(
        &c,
        list_jobs_request::Filter {
            include_deleted: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(everything, vec![job_id.clone(), kept.job_id.clone()]);
    // Filters do not bring deleted jobs back.
    let by_id = job_ids(
        &c,
        list_jobs_request::Filter {
            ids: vec![job_id.clone()],
            ..Default::default()
        },
    )
    .await;
    assert!(by_id.is_empty(), "{by_id:?}");
}

pub async fn delete_job_twice_is_allowed(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let proposal = propose(&c, &node.id, &spec(&uuid(1))).await;
    let first = c
        .delete_job(Ref::Id(&proposal.job_id).into())
        .await
        .unwrap()
        .job
        .unwrap();
    let second = c
        .delete_job(Ref::Id(&proposal.job_id).into())
        .await
        .expect("deleting twice is allowed")
        .job
        .unwrap();
    assert!(first.deleted_at.is_some() && second.deleted_at.is_some());
    assert_eq!(second.id, first.id);
    assert_eq!(second.proposal_ids, vec![proposal.id]);
}

pub async fn propose_after_delete_reuses_the_job(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let text = spec(&uuid(1));
    let first = propose(&c, &node.id, &text).await;
    c.delete_job(Ref::Id(&first.job_id).into()).await.unwrap();
    let again = propose(&c, &node.id, &text).await;
    assert_eq!(again.job_id, first.job_id, "a job is keyed by (uuid, node)");
    assert_eq!(again.revision, 2);
    assert_eq!(
        get_job(&c, &first.job_id).await.proposal_ids,
        vec![first.id, again.id]
    );
}

pub async fn update_job_replaces_labels_wholesale(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let old = vec![label("a", "1"), label("b", "2"), flag("c")];
    let proposal = propose_labelled(&c, &node.id, &spec(&uuid(1)), old).await;
    let new = vec![label("d", "4")];
    let updated = c
        .update_job(UpdateJobRequest {
            labels: new.clone(),
            ..Ref::Id(&proposal.job_id).into()
        })
        .await
        .unwrap()
        .job
        .unwrap();
    assert_eq!(updated.labels, new);
    assert_eq!(get_job(&c, &proposal.job_id).await.labels, new);
    let selected = job_ids(
        &c,
        list_jobs_request::Filter {
            selectors: vec![selector("a", SelectorOp::Exist, None)],
            ..Default::default()
        },
    )
    .await;
    assert!(selected.is_empty(), "old labels are gone: {selected:?}");
}

pub async fn update_job_sets_rollback_policy_and_keeps_what_is_not_given(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let labels = vec![label("a", "1")];
    let proposal = propose_labelled(&c, &node.id, &spec(&uuid(1)), labels.clone()).await;
    let job_id = proposal.job_id.as_str();

    let update = |labels, rollback_policy_id| UpdateJobRequest {
        labels,
        rollback_policy_id,
        ..Ref::Id(job_id).into()
    };
    let job = c
        .update_job(update(vec![], Some(7)))
        .await
        .unwrap()
        .job
        .unwrap();
    assert_eq!(job.rollback_policy_id, Some(7));
    assert_eq!(job.labels, labels, "labels not given: kept");

    let new_labels = vec![label("b", "2")];
    let job = c
        .update_job(update(new_labels.clone(), None))
        .await
        .unwrap()
        .job
        .unwrap();
    assert_eq!(job.labels, new_labels);
    assert_eq!(
        job.rollback_policy_id,
        Some(7),
        "rollback policy not given: kept"
    );

    let job = c
        .update_job(update(vec![], Some(9)))
        .await
        .unwrap()
        .job
        .unwrap();
    assert_eq!(job.rollback_policy_id, Some(9));
    let fetched = get_job(&c, job_id).await;
    assert_eq!(fetched.rollback_policy_id, Some(9));
    assert_eq!(fetched.labels, new_labels);
}

pub async fn update_job_bumps_updated_at(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let proposal = propose(&c, &node.id, &spec(&uuid(1))).await;
    let before = get_job(&c, &proposal.job_id).await;
    let updated = c
        .update_job(UpdateJobRequest {
            rollback_policy_id: Some(1),
            ..Ref::Id(&proposal.job_id).into()
        })
        .await
        .unwrap()
        .job
        .unwrap();
    assert!(
        micros(&updated.updated_at) > micros(&before.updated_at),
        "updated_at {:?} is not after {:?}",
        updated.updated_at,
        before.updated_at
    );
    assert_eq!(updated.created_at, before.created_at);
    assert_eq!(
        get_job(&c, &proposal.job_id).await.updated_at,
        updated.updated_at
    );
}
