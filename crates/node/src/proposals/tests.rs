//! The proposal rules against a real SQLite file in a temporary directory.

use super::*;
use crate::store::State::{Approved, Cancelled, Deleted, Pending, Rejected, Revoked};

const JD: &str = "03A107BFF3CE10BE1D70DD18E74BC09967E4D6309BA50D5F1DDC8664125531B8";
const OTHER_JD: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const ID: &str = "0eec7e1d-d0d2-476c-a1a8-72dfb6633f46";

fn spec(job_type: &str, note: &str) -> String {
    format!("type = \"{job_type}\"\nexternalJobID = \"{ID}\"\nname = \"{note}\"\n")
}

async fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    (dir, store)
}

/// The proposal's state and its versions' states, oldest first.
async fn states(store: &Store) -> (State, Vec<(i64, State)>) {
    let detail = store.show(JD, ID).await.unwrap().expect("proposal exists");
    let versions = detail
        .versions
        .iter()
        .map(|v| (v.version, v.state))
        .collect();
    (detail.state, versions)
}

async fn active_version(store: &Store) -> Option<i64> {
    sqlx::query_scalar("SELECT active_version FROM proposals WHERE uuid = $1")
        .bind(ID)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_received_proposal_is_pending_and_survives_reopening() {
    let (dir, store) = open().await;
    let outcome = store
        .receive(JD, &ID.to_uppercase(), 1, &spec("webhook", "a"))
        .await
        .unwrap();
    assert_eq!(outcome, ReceiveOutcome::Created);
    store.close().await;

    let store = Store::open(dir.path()).await.unwrap();
    let detail = store.show(JD, ID).await.unwrap().unwrap();
    assert_eq!(detail.uuid, ID, "stored in canonical form");
    assert_eq!(detail.jd, JD.to_lowercase());
    assert_eq!(detail.state, Pending);
    assert_eq!(
        detail.versions,
        vec![VersionDetail {
            version: 1,
            state: Pending,
            spec: spec("webhook", "a")
        }]
    );
}

#[tokio::test]
async fn invalid_input_is_refused_and_nothing_is_stored() {
    let (_dir, store) = open().await;
    let good = spec("cron", "a");
    let cases = [
        store.receive("abcd", ID, 1, &good).await,
        store.receive(JD, "not-a-uuid", 1, &good).await,
        store.receive(JD, ID, 0, &good).await,
        store.receive(JD, ID, 1, &spec("directrequest", "a")).await,
        store.receive(JD, ID, 1, "type = ").await,
    ];
    assert!(matches!(cases[0], Err(ProposalError::InvalidJdKey)));
    assert!(matches!(cases[1], Err(ProposalError::InvalidId)));
    assert!(matches!(cases[2], Err(ProposalError::InvalidVersion(0))));
    let unsupported = cases[3].as_ref().unwrap_err().to_string();
    assert!(unsupported.contains("directrequest"), "{unsupported}");
    assert!(matches!(
        cases[4],
        Err(ProposalError::Spec(SpecError::NotToml(_)))
    ));
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn same_version_same_spec_is_a_redelivery_and_a_different_spec_a_conflict() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    store.approve(JD, ID, None).await.unwrap();
    let again = store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    assert_eq!(again, ReceiveOutcome::Redelivery);
    let conflict = store.receive(JD, ID, 1, &spec("cron", "b")).await;
    assert!(matches!(conflict, Err(ProposalError::VersionConflict(1))));
    assert_eq!(states(&store).await, (Approved, vec![(1, Approved)]));
    let detail = store.show(JD, ID).await.unwrap().unwrap();
    assert_eq!(detail.versions[0].spec, spec("cron", "a"), "unchanged");
}

#[tokio::test]
async fn a_newer_version_of_an_approved_job_is_a_pending_update_until_approved() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    store.approve(JD, ID, Some(1)).await.unwrap();
    let update = store.receive(JD, ID, 2, &spec("cron", "b")).await.unwrap();
    assert_eq!(
        update,
        ReceiveOutcome::NewVersion {
            active_version: Some(1)
        }
    );
    assert_eq!(
        states(&store).await,
        (Pending, vec![(1, Approved), (2, Pending)])
    );
    assert_eq!(active_version(&store).await, Some(1), "v1 stays active");

    let approval = store.approve(JD, ID, None).await.unwrap();
    assert_eq!((approval.version, approval.replaced), (2, Some(1)));
    assert_eq!(
        states(&store).await,
        (Approved, vec![(1, Cancelled), (2, Approved)])
    );
    assert_eq!(active_version(&store).await, Some(2));
}

#[tokio::test]
async fn an_older_version_than_the_latest_is_refused() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 3, &spec("cron", "c")).await.unwrap();
    let stale = store.receive(JD, ID, 2, &spec("cron", "b")).await;
    assert!(matches!(
        stale,
        Err(ProposalError::StaleVersion {
            version: 2,
            latest: 3
        })
    ));
    assert_eq!(states(&store).await, (Pending, vec![(3, Pending)]));
}

#[tokio::test]
async fn only_the_latest_pending_or_cancelled_version_can_be_approved() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    store.receive(JD, ID, 2, &spec("cron", "b")).await.unwrap();
    assert!(matches!(
        store.approve(JD, ID, Some(1)).await,
        Err(ProposalError::NotLatest { latest: 2, .. })
    ));
    assert!(matches!(
        store.approve(JD, ID, Some(7)).await,
        Err(ProposalError::VersionNotFound { version: 7, .. })
    ));
    let missing = "11111111-2222-4333-8444-555555555555";
    assert!(matches!(
        store.approve(JD, missing, None).await,
        Err(ProposalError::NotFound(_))
    ));
    assert!(
        matches!(
            store.approve(OTHER_JD, ID, None).await,
            Err(ProposalError::NotFound(_))
        ),
        "proposals are keyed by JD too"
    );
    store.approve(JD, ID, None).await.unwrap();
    assert!(matches!(
        store.approve(JD, ID, None).await,
        Err(ProposalError::InvalidTransition {
            action: "approve",
            state: Approved,
            ..
        })
    ));
    // Cancelled → approved again (re-approval of the latest version).
    assert_eq!(store.cancel(JD, ID).await.unwrap().version, 2);
    assert_eq!(
        states(&store).await,
        (Cancelled, vec![(1, Pending), (2, Cancelled)])
    );
    store.approve(JD, ID, None).await.unwrap();
    assert_eq!(
        states(&store).await,
        (Approved, vec![(1, Pending), (2, Approved)])
    );
}

#[tokio::test]
async fn approving_a_revoked_or_deleted_proposal_is_refused() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    store.revoke(JD, ID).await.unwrap();
    let error = store.approve(JD, ID, None).await.unwrap_err();
    assert!(
        matches!(
            error,
            ProposalError::InvalidTransition { state: Revoked, .. }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!("cannot approve proposal {ID}: it is revoked")
    );
    store.delete(JD, ID).await.unwrap();
    assert!(matches!(
        store.approve(JD, ID, None).await,
        Err(ProposalError::InvalidTransition { state: Deleted, .. })
    ));
}

#[tokio::test]
async fn reject_needs_a_pending_latest_version_and_cancel_an_active_job() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    assert!(matches!(
        store.cancel(JD, ID).await,
        Err(ProposalError::InvalidTransition {
            action: "cancel",
            state: Pending,
            ..
        })
    ));
    assert_eq!(store.reject(JD, ID, None).await.unwrap().version, 1);
    assert_eq!(states(&store).await, (Rejected, vec![(1, Rejected)]));
    assert!(matches!(
        store.reject(JD, ID, None).await,
        Err(ProposalError::InvalidTransition {
            state: Rejected,
            ..
        })
    ));
    assert!(matches!(
        store.approve(JD, ID, None).await,
        Err(ProposalError::InvalidTransition {
            state: Rejected,
            ..
        })
    ));
    // Rejecting a pending update leaves the approved job active.
    store.receive(JD, ID, 2, &spec("cron", "b")).await.unwrap();
    store.approve(JD, ID, None).await.unwrap();
    store.receive(JD, ID, 3, &spec("cron", "c")).await.unwrap();
    store.reject(JD, ID, Some(3)).await.unwrap();
    assert_eq!(
        states(&store).await,
        (Approved, vec![(1, Rejected), (2, Approved), (3, Rejected)])
    );
}

#[tokio::test]
async fn a_failed_approval_is_undone() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    let approval = store.approve(JD, ID, None).await.unwrap();
    store.revert_approval(&approval).await.unwrap();
    assert_eq!(states(&store).await, (Pending, vec![(1, Pending)]));
    assert_eq!(active_version(&store).await, None);

    // Undoing an approved update makes the replaced version active again.
    store.approve(JD, ID, None).await.unwrap();
    store.receive(JD, ID, 2, &spec("cron", "b")).await.unwrap();
    let update = store.approve(JD, ID, None).await.unwrap();
    store.revert_approval(&update).await.unwrap();
    assert_eq!(
        states(&store).await,
        (Pending, vec![(1, Approved), (2, Pending)])
    );
    assert_eq!(active_version(&store).await, Some(1));

    // An undo never overwrites a later decision.
    let approval = store.approve(JD, ID, None).await.unwrap();
    store.cancel(JD, ID).await.unwrap();
    assert!(matches!(
        store.revert_approval(&approval).await,
        Err(ProposalError::ApprovalChanged { version: 2, .. })
    ));
    assert_eq!(
        states(&store).await,
        (Cancelled, vec![(1, Cancelled), (2, Cancelled)])
    );
}

#[tokio::test]
async fn revoke_only_while_the_latest_version_is_pending_or_cancelled() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    store.approve(JD, ID, None).await.unwrap();
    assert!(matches!(
        store.revoke(JD, ID).await,
        Err(ProposalError::InvalidTransition {
            action: "revoke",
            state: Approved,
            ..
        })
    ));
    store.cancel(JD, ID).await.unwrap();
    assert_eq!(
        store.revoke(JD, ID).await.unwrap(),
        RevokeOutcome::Revoked { version: 1 }
    );
    assert_eq!(
        store.revoke(JD, ID).await.unwrap(),
        RevokeOutcome::AlreadyRevoked { version: 1 }
    );
    assert_eq!(states(&store).await, (Revoked, vec![(1, Revoked)]));

    // A revoked proposal takes a newer version, pending; revoking that pending version works.
    store.receive(JD, ID, 2, &spec("cron", "b")).await.unwrap();
    assert_eq!(
        states(&store).await,
        (Pending, vec![(1, Revoked), (2, Pending)])
    );
    store.revoke(JD, ID).await.unwrap();
    assert_eq!(
        states(&store).await,
        (Revoked, vec![(1, Revoked), (2, Revoked)])
    );

    // Revoking a pending update leaves the approved job active.
    store.receive(JD, ID, 3, &spec("cron", "c")).await.unwrap();
    store.approve(JD, ID, None).await.unwrap();
    store.receive(JD, ID, 4, &spec("cron", "d")).await.unwrap();
    store.revoke(JD, ID).await.unwrap();
    let (state, versions) = states(&store).await;
    assert_eq!(
        (state, &versions[2..]),
        (Approved, &[(3, Approved), (4, Revoked)][..])
    );

    let missing = "11111111-2222-4333-8444-555555555555";
    assert!(matches!(
        store.revoke(JD, missing).await,
        Err(ProposalError::NotFound(_))
    ));
}

#[tokio::test]
async fn delete_marks_deleted_and_says_when_the_operator_must_cancel() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    store.approve(JD, ID, None).await.unwrap();
    let deleted = store.delete(JD, ID).await.unwrap();
    assert!(deleted.must_cancel());
    assert_eq!(
        deleted,
        DeleteOutcome {
            already_deleted: false,
            active_version: Some(1)
        }
    );
    assert_eq!(states(&store).await, (Deleted, vec![(1, Approved)]));
    assert!(store.delete(JD, ID).await.unwrap().already_deleted);
    assert!(matches!(
        store.revoke(JD, ID).await,
        Err(ProposalError::InvalidTransition { state: Deleted, .. })
    ));
    assert!(matches!(
        store.receive(JD, ID, 2, &spec("cron", "b")).await,
        Err(ProposalError::Deleted(_))
    ));
    assert_eq!(
        store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap(),
        ReceiveOutcome::Redelivery,
        "a redelivered version is still answered OK"
    );

    // The operator cancels the job; the proposal stays deleted.
    assert_eq!(store.cancel(JD, ID).await.unwrap().version, 1);
    assert_eq!(states(&store).await, (Deleted, vec![(1, Cancelled)]));
    assert!(!store.delete(JD, ID).await.unwrap().must_cancel());
}

#[tokio::test]
async fn list_and_show_serialize_with_the_api_field_names() {
    let (_dir, store) = open().await;
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    store.approve(JD, ID, None).await.unwrap();
    store.receive(JD, ID, 2, &spec("cron", "b")).await.unwrap();
    let jd = JD.to_lowercase();

    let list = serde_json::to_value(store.list().await.unwrap()).unwrap();
    assert_eq!(
        list,
        serde_json::json!([{"uuid": ID, "jd": jd, "state": "pending", "version": 2}])
    );
    let show = serde_json::to_value(store.show(JD, ID).await.unwrap()).unwrap();
    assert_eq!(
        show,
        serde_json::json!({"uuid": ID, "jd": jd, "state": "pending", "versions": [
            {"version": 1, "state": "approved", "spec": spec("cron", "a")},
            {"version": 2, "state": "pending", "spec": spec("cron", "b")},
        ]})
    );
    assert_eq!(store.show(OTHER_JD, ID).await.unwrap(), None);
}

#[tokio::test]
async fn the_jds_of_a_proposal_id_are_found_for_callers_without_a_jd() {
    let (_dir, store) = open().await;
    assert!(store.jds_of(ID).await.unwrap().is_empty());
    store
        .receive(OTHER_JD, ID, 1, &spec("cron", "a"))
        .await
        .unwrap();
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    let mut expected = vec![JD.to_lowercase(), OTHER_JD.to_string()];
    expected.sort();
    assert_eq!(store.jds_of(&ID.to_uppercase()).await.unwrap(), expected);
    assert!(matches!(
        store.jds_of("nope").await,
        Err(ProposalError::InvalidId)
    ));
}

#[tokio::test]
async fn the_auto_policy_approves_valid_proposals_on_arrival() {
    let (_dir, store) = open().await;
    let arrival = store
        .receive_with_policy(ApprovalPolicy::Auto, JD, ID, 1, &spec("cron", "a"))
        .await
        .unwrap();
    assert_eq!(arrival.outcome, ReceiveOutcome::Created);
    let approval = arrival.auto_approval.unwrap().unwrap();
    assert_eq!(approval.version, 1);
    assert_eq!(states(&store).await, (Approved, vec![(1, Approved)]));

    let again = store
        .receive_with_policy(ApprovalPolicy::Auto, JD, ID, 1, &spec("cron", "a"))
        .await
        .unwrap();
    assert_eq!(again.outcome, ReceiveOutcome::Redelivery);
    assert!(
        again.auto_approval.is_none(),
        "a redelivery is not re-approved"
    );

    let invalid = store
        .receive_with_policy(ApprovalPolicy::Auto, JD, ID, 2, &spec("bootstrap", "b"))
        .await;
    assert!(matches!(
        invalid,
        Err(ProposalError::Spec(SpecError::UnsupportedType(_)))
    ));

    let manual = store
        .receive_with_policy(ApprovalPolicy::Manual, JD, ID, 2, &spec("cron", "b"))
        .await
        .unwrap();
    assert!(manual.auto_approval.is_none());
    assert_eq!(
        states(&store).await,
        (Pending, vec![(1, Approved), (2, Pending)])
    );
}

#[tokio::test]
async fn concurrent_receives_of_one_version_store_it_once() {
    let (_dir, store) = open().await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.receive(JD, ID, 1, &spec("cron", "a")).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }
    let created = outcomes
        .iter()
        .filter(|outcome| **outcome == ReceiveOutcome::Created)
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, ReceiveOutcome::Created | ReceiveOutcome::Redelivery))
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM proposal_versions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn two_stores_on_one_file_receive_concurrently_without_duplicates() {
    let (dir, first) = open().await;
    let second = Store::open(dir.path()).await.unwrap();
    let text = spec("cron", "a");
    let (a, b) = tokio::join!(
        first.receive(JD, ID, 1, &text),
        second.receive(JD, ID, 1, &text),
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|outcome| *outcome == ReceiveOutcome::Redelivery);
    assert_eq!(
        outcomes,
        [ReceiveOutcome::Created, ReceiveOutcome::Redelivery]
    );
}

#[tokio::test]
async fn rejections_and_cancellations_are_kept_until_the_jd_answered_them() {
    let (dir, store) = open().await;
    let other = "1b5b2c2e-6e5a-4f0c-9c55-8b7e1f7b3a11";
    let other_spec = format!("type = \"cron\"\nexternalJobID = \"{other}\"\n");
    store.receive(JD, ID, 1, &spec("cron", "a")).await.unwrap();
    store.receive(JD, other, 1, &other_spec).await.unwrap();
    store.approve(JD, ID, None).await.unwrap();
    let rejected = store.reject(JD, other, None).await.unwrap();
    let cancelled = store.cancel(JD, ID).await.unwrap();
    let key = JD.to_ascii_lowercase();
    assert_eq!(
        (&rejected.jd, rejected.uuid.as_str(), rejected.version),
        (&key, other, 1)
    );
    assert_eq!(rejected.decision, Decision::Rejected);
    assert_eq!(cancelled.decision, Decision::Cancelled);
    assert_eq!(cancelled.decision.method(), "CancelledJob");
    assert!(store.untold(OTHER_JD).await.unwrap().is_empty());

    // Kept across a restart, oldest first, until forgotten.
    store.close().await;
    let store = Store::open(dir.path()).await.unwrap();
    let untold = store.untold(JD).await.unwrap();
    assert_eq!(untold, [rejected.clone(), cancelled.clone()]);
    store.forget_untold(&rejected).await.unwrap();
    assert_eq!(store.untold(JD).await.unwrap(), [cancelled]);
}
