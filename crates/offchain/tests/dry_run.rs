//! The dry-run client refuses, before anything is sent, what a real JD would refuse — with
//! the JD's own status code — and records only the writes a real JD would have accepted.

use std::sync::Arc;

use offchain::proto::job::{
    BatchProposeJobRequest, DeleteJobRequest, ProposeJobRequest, RevokeJobRequest,
    UpdateJobRequest, delete_job_request, revoke_job_request, update_job_request,
};
use offchain::proto::label::{Label, Selector, SelectorOp};
use offchain::proto::node::{
    DisableNodeRequest, EnableNodeRequest, ListNodesRequest, RegisterNodeRequest,
    UpdateNodeRequest, list_nodes_request,
};
use offchain::{Client, DryRunClient, MemoryProvider, Provider};
use support::{SPEC, register};
use tonic::Code;

mod support;

/// A JD with an enabled and a disabled node, and a dry-run client over it.
async fn setup() -> (Arc<dyn Client>, DryRunClient, String, String) {
    let real = MemoryProvider::new().initialize().await.unwrap();
    let enabled = register(real.as_ref(), 1, "prod").await;
    let disabled = register(real.as_ref(), 2, "prod").await;
    real.disable_node(DisableNodeRequest {
        id: disabled.clone(),
    })
    .await
    .unwrap();
    let dry = DryRunClient::new(real.clone());
    (real, dry, enabled, disabled)
}

/// The code of a call expected to fail.
fn code<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Code {
    result.unwrap_err().code()
}

fn propose(node_id: &str, spec: &str) -> ProposeJobRequest {
    ProposeJobRequest {
        node_id: node_id.into(),
        spec: spec.into(),
        labels: vec![],
    }
}

/// Runs the same request against the dry-run client and the real JD: both must refuse it
/// with the same code (the real one refuses, so nothing changes there). Evaluates to the
/// two refusals, `(dry, real)`.
macro_rules! same_refusal {
    ($real:expr, $dry:expr, $method:ident, $request:expr) => {{
        let request = $request;
        let real = $real.$method(request.clone()).await;
        let dry = $dry.$method(request.clone()).await;
        let real = real.expect_err(concat!("the JD accepted ", stringify!($method)));
        let dry = dry.expect_err(concat!("the dry run accepted ", stringify!($method)));
        assert_eq!(
            dry.code(),
            real.code(),
            "{}: dry run said {dry:?}, the JD {real:?}",
            stringify!($method)
        );
        (dry, real)
    }};
}

/// As [`same_refusal!`], and the dry run's message must be the JD's, word for word.
macro_rules! same_refusal_and_message {
    ($real:expr, $dry:expr, $method:ident, $request:expr) => {{
        let (dry, real) = same_refusal!($real, $dry, $method, $request);
        assert_eq!(dry.message(), real.message(), "{}", stringify!($method));
    }};
}

#[tokio::test]
async fn dry_run_refuses_what_the_jd_refuses_with_the_same_code() {
    let (real, dry, enabled, disabled) = setup().await;

    same_refusal!(real, dry, propose_job, propose(&enabled, "type = "));
    same_refusal!(real, dry, propose_job, propose(&enabled, "type = \"cron\""));
    same_refusal!(
        real,
        dry,
        propose_job,
        propose(&enabled, "externalJobID = \"nope\"")
    );
    same_refusal!(real, dry, propose_job, propose("", SPEC));
    same_refusal!(real, dry, propose_job, propose("node_missing", SPEC));
    same_refusal!(real, dry, propose_job, propose(&disabled, SPEC));
    let empty_label_key = ProposeJobRequest {
        labels: vec![Label::new("", "x")],
        ..propose(&enabled, SPEC)
    };
    same_refusal!(real, dry, propose_job, empty_label_key);
    same_refusal!(
        real,
        dry,
        batch_propose_job,
        BatchProposeJobRequest {
            node_ids: vec![],
            spec: SPEC.into(),
            labels: vec![],
        }
    );
    same_refusal!(
        real,
        dry,
        batch_propose_job,
        BatchProposeJobRequest {
            node_ids: vec![enabled.clone()],
            spec: "nope".into(),
            labels: vec![],
        }
    );
    // More than 10 000 node ids: a count, not a size, so `INVALID_ARGUMENT`.
    same_refusal!(
        real,
        dry,
        batch_propose_job,
        BatchProposeJobRequest {
            node_ids: (0..10_001).map(|i| format!("node_{i}")).collect(),
            spec: SPEC.into(),
            labels: vec![],
        }
    );

    same_refusal!(real, dry, revoke_job, RevokeJobRequest { id_oneof: None });
    same_refusal!(
        real,
        dry,
        revoke_job,
        RevokeJobRequest {
            id_oneof: Some(revoke_job_request::IdOneof::Id("job_missing".into())),
        }
    );
    same_refusal!(
        real,
        dry,
        delete_job,
        DeleteJobRequest {
            id_oneof: Some(delete_job_request::IdOneof::Id("job_missing".into())),
        }
    );
    same_refusal!(
        real,
        dry,
        update_job,
        UpdateJobRequest {
            id_oneof: Some(update_job_request::IdOneof::Id(" ".into())),
            ..Default::default()
        }
    );

    same_refusal!(
        real,
        dry,
        disable_node,
        DisableNodeRequest { id: String::new() }
    );
    same_refusal!(
        real,
        dry,
        enable_node,
        EnableNodeRequest {
            id: "node_missing".into(),
        }
    );
    same_refusal!(
        real,
        dry,
        update_node,
        UpdateNodeRequest {
            id: "node_missing".into(),
            ..Default::default()
        }
    );
    same_refusal!(
        real,
        dry,
        update_node,
        UpdateNodeRequest {
            id: enabled.clone(),
            public_key: "zz".into(),
            ..Default::default()
        }
    );
    let register = |name: &str, key: String| RegisterNodeRequest {
        name: name.into(),
        public_key: key,
        labels: vec![],
    };
    same_refusal!(
        real,
        dry,
        register_node,
        register("", format!("{:064x}", 9))
    );
    same_refusal!(real, dry, register_node, register("n", "abc".into()));
    // A key already registered: ALREADY_EXISTS.
    same_refusal!(
        real,
        dry,
        register_node,
        register("n", format!("{:064x}", 1))
    );

    assert!(
        dry.skipped_writes().is_empty(),
        "refused writes are not recorded as skipped: {:?}",
        dry.skipped_writes()
    );
}

#[tokio::test]
async fn dry_run_batch_answers_per_node_failures_as_the_jd_does() {
    let (real, dry, enabled, disabled) = setup().await;
    let request = BatchProposeJobRequest {
        node_ids: vec![enabled.clone(), disabled.clone(), "node_missing".into()],
        spec: SPEC.into(),
        labels: vec![],
    };
    let answer = dry.batch_propose_job(request.clone()).await.unwrap();
    assert_eq!(
        answer.success_responses.keys().collect::<Vec<_>>(),
        [&enabled]
    );
    assert!(
        answer.failed_responses[&disabled]
            .error_message
            .contains("disabled")
    );
    assert!(
        answer.failed_responses["node_missing"]
            .error_message
            .contains("not found")
    );
    assert_eq!(dry.skipped_writes().len(), 1);

    // The real JD answers the same split.
    let real_answer = real.batch_propose_job(request).await.unwrap();
    let mut real_failed: Vec<_> = real_answer.failed_responses.into_iter().collect();
    let mut dry_failed: Vec<_> = answer.failed_responses.into_iter().collect();
    real_failed.sort_by(|a, b| a.0.cmp(&b.0));
    dry_failed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(dry_failed, real_failed);
}

#[tokio::test]
async fn dry_run_enforces_the_jd_size_limits() {
    let (_real, dry, enabled, _) = setup().await;

    // A spec over 1 MiB.
    let big_spec = format!("{SPEC}# {}\n", "x".repeat(1024 * 1024));
    assert_eq!(
        code(dry.propose_job(propose(&enabled, &big_spec)).await),
        Code::ResourceExhausted
    );
    // More than 10 000 node ids in one batch.
    let many = BatchProposeJobRequest {
        node_ids: (0..10_001).map(|i| format!("node_{i}")).collect(),
        spec: SPEC.into(),
        labels: vec![],
    };
    assert_eq!(
        code(dry.batch_propose_job(many).await),
        Code::InvalidArgument
    );
    // 10 000 ids × a 7 KiB spec is over 64 MiB.
    let heavy = BatchProposeJobRequest {
        node_ids: (0..10_000).map(|i| format!("node_{i}")).collect(),
        spec: format!("{SPEC}# {}\n", "x".repeat(7 * 1024)),
        labels: vec![],
    };
    assert_eq!(
        code(dry.batch_propose_job(heavy).await),
        Code::ResourceExhausted
    );

    // Labels: at most 64, keys ≤ 255 bytes, values ≤ 1 024 bytes; names ≤ 255 bytes.
    let with_labels = |labels: Vec<Label>| ProposeJobRequest {
        labels,
        ..propose(&enabled, SPEC)
    };
    let too_many: Vec<Label> = (0..65).map(|i| Label::new(format!("k{i}"), "v")).collect();
    assert_eq!(
        code(dry.propose_job(with_labels(too_many)).await),
        Code::InvalidArgument
    );
    let long_key = vec![Label::new("k".repeat(256), "v")];
    assert_eq!(
        code(dry.propose_job(with_labels(long_key)).await),
        Code::InvalidArgument
    );
    let long_value = vec![Label::new("k", "v".repeat(1025))];
    assert_eq!(
        code(dry.propose_job(with_labels(long_value)).await),
        Code::InvalidArgument
    );
    let long_name = RegisterNodeRequest {
        name: "n".repeat(256),
        public_key: format!("{:064x}", 77),
        labels: vec![],
    };
    assert_eq!(
        code(dry.register_node(long_name).await),
        Code::InvalidArgument
    );

    // At the limits, everything passes.
    let at_limits: Vec<Label> = (0..64)
        .map(|i| Label::new(format!("{i:0>255}"), "v".repeat(1024)))
        .collect();
    assert!(dry.propose_job(with_labels(at_limits)).await.is_ok());
    assert_eq!(dry.skipped_writes().len(), 1);
}

#[tokio::test]
async fn dry_run_limit_refusals_are_worded_as_the_jd_words_them() {
    let (real, dry, enabled, _) = setup().await;
    let with_labels = |labels: Vec<Label>| ProposeJobRequest {
        labels,
        ..propose(&enabled, SPEC)
    };
    let big_spec = format!("{SPEC}# {}\n", "x".repeat(1024 * 1024));
    same_refusal_and_message!(real, dry, propose_job, propose(&enabled, &big_spec));
    same_refusal_and_message!(real, dry, propose_job, propose(&"n".repeat(256), SPEC));
    let too_many: Vec<Label> = (0..65).map(|i| Label::new(format!("k{i}"), "v")).collect();
    same_refusal_and_message!(real, dry, propose_job, with_labels(too_many));
    let long_key = vec![Label::new("k".repeat(256), "v")];
    same_refusal_and_message!(real, dry, propose_job, with_labels(long_key));
    let long_value = vec![Label::new("k", "v".repeat(1025))];
    same_refusal_and_message!(real, dry, propose_job, with_labels(long_value));

    let batch = |node_ids: Vec<String>, spec: String| BatchProposeJobRequest {
        node_ids,
        spec,
        labels: vec![],
    };
    let ids = |n: usize| (0..n).map(|i| format!("node_{i}")).collect::<Vec<_>>();
    same_refusal_and_message!(
        real,
        dry,
        batch_propose_job,
        batch(ids(10_001), SPEC.into())
    );
    let mib_spec = format!("{SPEC}# {}\n", "x".repeat(1024 * 1024 - SPEC.len() - 3));
    assert_eq!(mib_spec.len(), 1024 * 1024);
    same_refusal_and_message!(real, dry, batch_propose_job, batch(ids(65), mib_spec));

    let long_name = RegisterNodeRequest {
        name: "n".repeat(256),
        public_key: format!("{:064x}", 77),
        labels: vec![],
    };
    same_refusal_and_message!(real, dry, register_node, long_name);
    let long_name = UpdateNodeRequest {
        id: enabled.clone(),
        name: "n".repeat(256),
        ..Default::default()
    };
    same_refusal_and_message!(real, dry, update_node, long_name);
    same_refusal_and_message!(
        real,
        dry,
        disable_node,
        DisableNodeRequest {
            id: "n".repeat(256)
        }
    );

    // An over-long id in a batch fails alone, as the JD answers it.
    let request = batch(vec![enabled.clone(), "n".repeat(256)], SPEC.into());
    let dry_answer = dry.batch_propose_job(request.clone()).await.unwrap();
    let real_answer = real.batch_propose_job(request).await.unwrap();
    assert_eq!(dry_answer.failed_responses, real_answer.failed_responses);
    assert_eq!(
        dry_answer.success_responses.keys().collect::<Vec<_>>(),
        [&enabled]
    );

    // Selectors over their limits.
    let list = |selectors: Vec<Selector>| ListNodesRequest {
        filter: Some(list_nodes_request::Filter {
            selectors,
            ..Default::default()
        }),
        ..Default::default()
    };
    let exist = |key: String| Selector {
        key,
        op: SelectorOp::Exist as i32,
        value: None,
    };
    let many = (0..65).map(|i| exist(format!("k{i}"))).collect();
    same_refusal_and_message!(real, dry, list_nodes, list(many));
    same_refusal_and_message!(real, dry, list_nodes, list(vec![exist("k".repeat(256))]));
    let long_in = Selector {
        key: "env".into(),
        op: SelectorOp::In as i32,
        value: Some(format!("a,{}", "b".repeat(16 * 1024))),
    };
    same_refusal_and_message!(real, dry, list_nodes, list(vec![long_in]));
}

#[tokio::test]
async fn dry_run_refuses_selectors_that_cannot_be_meant() {
    let (_real, dry, _, _) = setup().await;
    let list = |selector: Selector| ListNodesRequest {
        filter: Some(list_nodes_request::Filter {
            selectors: vec![selector],
            ..Default::default()
        }),
        ..Default::default()
    };
    let selector = |key: &str, op: i32, value: Option<&str>| Selector {
        key: key.into(),
        op,
        value: value.map(Into::into),
    };
    for bad in [
        selector("env", 99, Some("prod")),
        selector("", SelectorOp::Exist as i32, None),
        selector("env", SelectorOp::Eq as i32, None),
        selector("env", SelectorOp::In as i32, Some("a,,b")),
    ] {
        let status = dry.list_nodes(list(bad.clone())).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
    }
    let good = selector("env", SelectorOp::Eq as i32, Some("prod"));
    assert_eq!(dry.list_nodes(list(good)).await.unwrap().total_count, 2);
}
