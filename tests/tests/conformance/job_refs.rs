//! How GetJob, RevokeJob, DeleteJob and UpdateJob name their job: the `id_oneof` unset, an
//! empty or unknown id, and the deprecated uuid form.

use offchain::proto::job::ProposalStatus;
use tonic::Code;

use crate::support::*;

pub async fn missing_id_is_invalid_argument(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let proposal = propose(&c, &node.id, &spec(&uuid(1))).await;
    for rpc in JobRpc::ALL {
        let result = rpc.call(&c, Ref::Unset).await;
        assert_status(result, Code::InvalidArgument, "must provide id");
    }
    // Nothing happened to the only job.
    let job = get_job(&c, &proposal.job_id).await;
    assert!(job.deleted_at.is_none() && job.labels.is_empty());
    assert_eq!(
        get_proposal(&c, &proposal.id).await.status(),
        ProposalStatus::Proposed
    );
}

pub async fn empty_id_is_invalid_argument(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    propose(&c, &node.id, &spec(&uuid(1))).await;
    for rpc in JobRpc::ALL {
        assert_status(rpc.call(&c, Ref::Id("")).await, Code::InvalidArgument, "");
    }
}

pub async fn unknown_job_id_is_not_found(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    propose(&c, &node.id, &spec(&uuid(1))).await;
    let missing = "job_01jzzzzzzzzzzzzzzzzzzzzzzz";
    for rpc in JobRpc::ALL {
        assert_status(
            rpc.call(&c, Ref::Id(missing)).await,
            Code::NotFound,
            missing,
        );
    }
}

pub async fn uuid_form_finds_the_single_job_with_that_uuid(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    let wanted = uuid(1);
    let proposal = propose(&c, &ids[0], &spec(&wanted)).await;
    // Distractors: another uuid on the same node, and on another node.
    propose(&c, &ids[0], &spec(&uuid(2))).await;
    propose(&c, &ids[1], &spec(&uuid(3))).await;
    let job_id = proposal.job_id.as_str();
    let by_uuid = Ref::Uuid(&wanted);

    assert_eq!(JobRpc::Get.call(&c, by_uuid).await.unwrap(), job_id);
    assert_eq!(JobRpc::Update.call(&c, by_uuid).await.unwrap(), job_id);
    assert_eq!(
        get_job(&c, job_id).await.labels,
        vec![label("updated", "yes")]
    );
    assert_eq!(JobRpc::Revoke.call(&c, by_uuid).await.unwrap(), job_id);
    assert_eq!(
        get_proposal(&c, &proposal.id).await.status(),
        ProposalStatus::Revoked
    );
    assert_eq!(JobRpc::Delete.call(&c, by_uuid).await.unwrap(), job_id);
    assert!(get_job(&c, job_id).await.deleted_at.is_some());
}

pub async fn uuid_form_behaves_like_the_id_after_a_delete(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    let wanted = uuid(1);
    let proposal = propose(&c, &ids[0], &spec(&wanted)).await;
    let by_uuid = Ref::Uuid(&wanted);
    assert_eq!(
        JobRpc::Delete.call(&c, by_uuid).await.unwrap(),
        proposal.job_id
    );
    // Deleting twice is allowed, and GetJob finds deleted jobs, whichever form names them.
    assert_eq!(
        JobRpc::Delete
            .call(&c, by_uuid)
            .await
            .expect("delete twice by uuid"),
        proposal.job_id
    );
    assert_eq!(
        JobRpc::Get
            .call(&c, by_uuid)
            .await
            .expect("get a deleted job by uuid"),
        proposal.job_id
    );
    // A deleted job still has its uuid: a second job with it makes the uuid ambiguous.
    propose(&c, &ids[1], &spec(&wanted)).await;
    assert_status(
        JobRpc::Get.call(&c, by_uuid).await,
        Code::InvalidArgument,
        &wanted,
    );
}

pub async fn uuid_form_with_several_jobs_is_invalid_argument(c: Ctx) {
    let ids = register_nodes(&c, 2).await;
    let shared = uuid(1);
    let a = propose(&c, &ids[0], &spec(&shared)).await;
    let b = propose(&c, &ids[1], &spec(&shared)).await;
    for rpc in JobRpc::ALL {
        let result = rpc.call(&c, Ref::Uuid(&shared)).await;
        assert_status(result, Code::InvalidArgument, &shared);
    }
    for proposal in [&a, &b] {
        let job = get_job(&c, &proposal.job_id).await;
        assert!(job.deleted_at.is_none() && job.labels.is_empty(), "{job:?}");
        assert_eq!(
            get_proposal(&c, &proposal.id).await.status(),
            ProposalStatus::Proposed
        );
    }
}

pub async fn uuid_form_with_no_job_is_not_found(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    propose(&c, &node.id, &spec(&uuid(1))).await;
    let unused = uuid(2);
    for rpc in JobRpc::ALL {
        assert_status(
            rpc.call(&c, Ref::Uuid(&unused)).await,
            Code::NotFound,
            &unused,
        );
    }
}
