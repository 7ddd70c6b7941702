//! One uuid form: every uuid the JD accepts (simple, hyphenated, braced, URN, any case) is
//! the same uuid, so a job proposed under one form is found under every other.

use offchain::proto::job::list_jobs_request;
use tonic::Code;

use crate::support::*;

/// Every textual form of the hyphenated lower-case `uuid`, in both cases.
fn forms(uuid: &str) -> Vec<String> {
    let simple = uuid.replace('-', "");
    let lower = [
        uuid.to_string(),
        simple,
        format!("{{{uuid}}}"),
        format!("urn:uuid:{uuid}"),
    ];
    lower
        .iter()
        .flat_map(|form| [form.clone(), form.to_ascii_uppercase()])
        .collect()
}

pub async fn any_uuid_form_finds_the_job(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    let canonical = uuid(0xab_cdef);
    // Proposed under an upper-case braced form, then again under an upper-case URN: one job.
    let braced = format!("{{{}}}", canonical.to_ascii_uppercase());
    let first = propose(&c, &node.id, &spec(&braced)).await;
    let urn = format!("URN:UUID:{}", canonical.to_ascii_uppercase());
    let second = propose(&c, &node.id, &spec(&urn)).await;
    assert_eq!(second.job_id, first.job_id, "one job per uuid and node");
    assert_eq!(second.revision, 2);
    let job = get_job(&c, &first.job_id).await;
    assert_eq!(job.uuid, canonical, "stored in the canonical form");

    for form in forms(&canonical) {
        let filter = list_jobs_request::Filter {
            uuids: vec![form.clone()],
            ..Default::default()
        };
        assert_eq!(
            job_ids(&c, filter).await,
            vec![first.job_id.clone()],
            "ListJobs uuids [{form}]"
        );
        assert_eq!(
            JobRpc::Get.call(&c, Ref::Uuid(&form)).await.unwrap(),
            first.job_id,
            "GetJob uuid {form}"
        );
    }
    for (rpc, form) in [JobRpc::Update, JobRpc::Revoke, JobRpc::Delete]
        .into_iter()
        .zip(forms(&canonical).into_iter().skip(3))
    {
        assert_eq!(
            rpc.call(&c, Ref::Uuid(&form)).await.unwrap(),
            first.job_id,
            "{rpc:?} uuid {form}"
        );
    }
}

pub async fn malformed_uuids_are_invalid_argument(c: Ctx) {
    let node = register_node(&c, "a", vec![]).await;
    propose(&c, &node.id, &spec(&uuid(1))).await;
    for bad in [
        "not-a-uuid",
        "{00000001-1b2c-4d3e-8f40-000000001eef",
        "urn:uuid:",
    ] {
        assert_status(
            JobRpc::Get.call(&c, Ref::Uuid(bad)).await,
            Code::InvalidArgument,
            "uuid",
        );
        let filter = list_jobs_request::Filter {
            uuids: vec![bad.to_string()],
            ..Default::default()
        };
        let request = offchain::proto::job::ListJobsRequest {
            filter: Some(filter),
        };
        assert_status(c.list_jobs(request).await, Code::InvalidArgument, "uuids");
    }
}
