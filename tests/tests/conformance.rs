//! The JD conformance suite: every rule of `jd-behaviour.md`, written once and run against
//! each way of getting a [`offchain::Client`].
//!
//! Each case is an `async fn(Ctx)` in one of the modules below. [`conformance!`] turns every
//! case into one `#[tokio::test]` per backend, named `<backend>::<case>`:
//!
//! - `memory::…`: `MemoryProvider`, the services called in process over in-memory SQLite;
//! - `sqlite::…`: `EmbeddedProvider`, a real gRPC server over in-memory SQLite;
//! - `postgres::…`: `EmbeddedProvider` over PostgreSQL at `OFFCHAIN_TEST_POSTGRES_URL`, each
//!   test in a schema of its own (skipped, passing, when the variable is unset).
//!
//! Every test starts from an empty JD. Run one case everywhere with
//! `cargo test -p offchain-tests --test conformance revoke_latest_proposed`.

#[path = "conformance/chain_csa.rs"]
mod chain_csa;
#[path = "conformance/conflicts.rs"]
mod conflicts;
#[path = "conformance/job_refs.rs"]
mod job_refs;
#[path = "conformance/lifecycle.rs"]
mod lifecycle;
#[path = "conformance/limits.rs"]
mod limits;
#[path = "conformance/listing.rs"]
mod listing;
#[path = "conformance/nodes.rs"]
mod nodes;
#[path = "conformance/propose.rs"]
mod propose;
#[path = "conformance/robustness.rs"]
mod robustness;
#[path = "conformance/selectors.rs"]
mod selectors;
#[path = "conformance/support.rs"]
mod support;
#[path = "conformance/uuid_forms.rs"]
mod uuid_forms;

/// `conformance! { module { case, … } … }`: one test module per backend, one test per case.
macro_rules! conformance {
    ($($module:ident { $($case:ident),* $(,)? })*) => {
        conformance!(@backend memory, Memory; $($module { $($case),* })*);
        conformance!(@backend sqlite, Sqlite; $($module { $($case),* })*);
        conformance!(@backend postgres, Postgres; $($module { $($case),* })*);
    };
    (@backend $backend:ident, $variant:ident; $($module:ident { $($case:ident),* })*) => {
        mod $backend {
            $($(
                #[tokio::test]
                async fn $case() {
                    crate::support::run(
                        crate::support::Backend::$variant,
                        crate::$module::$case,
                    )
                    .await;
                }
            )*)*
        }
    };
}

conformance! {
    propose {
        ids_are_prefixed_and_never_uuid_shaped,
        propose_rejects_invalid_specs,
        propose_creates_job_with_revision_1,
        propose_same_uuid_same_node_appends_revision,
        propose_same_uuid_other_node_is_another_job,
        propose_to_unknown_node_is_not_found,
        propose_to_disabled_node_is_failed_precondition,
        propose_with_empty_node_id_is_invalid_argument,
        batch_propose_reports_each_node,
        batch_propose_invalid_spec_fails_whole_call,
        batch_propose_duplicate_node_ids_propose_once,
        batch_propose_appends_revisions,
    }
    lifecycle {
        revoke_latest_proposed,
        revoke_only_touches_its_job,
        revoke_twice_is_failed_precondition,
        revoke_applies_to_a_new_revision_after_a_revoke,
        revoke_unknown_job_is_not_found,
        revoke_empty_id_is_invalid_argument,
        delete_job_is_a_soft_delete,
        delete_job_twice_is_allowed,
        propose_after_delete_reuses_the_job,
        update_job_replaces_labels_wholesale,
        update_job_sets_rollback_policy_and_keeps_what_is_not_given,
        update_job_bumps_updated_at,
    }
    job_refs {
        missing_id_is_invalid_argument,
        empty_id_is_invalid_argument,
        unknown_job_id_is_not_found,
        uuid_form_finds_the_single_job_with_that_uuid,
        uuid_form_behaves_like_the_id_after_a_delete,
        uuid_form_with_several_jobs_is_invalid_argument,
        uuid_form_with_no_job_is_not_found,
    }
    listing {
        list_jobs_filters_are_anded,
        list_jobs_in_creation_order,
        list_proposals_honours_ids_and_job_ids,
        list_proposals_in_creation_order,
        get_proposal_unknown_is_not_found,
    }
    nodes {
        register_node_validates_input,
        register_node_is_enabled_and_not_connected,
        register_duplicate_public_key_is_already_exists,
        get_node_by_id_or_public_key,
        update_node_replaces_given_fields,
        update_node_errors,
        enable_and_disable_toggle_the_node,
        list_nodes_filters_are_anded,
        list_nodes_pagination,
        list_nodes_in_creation_order,
    }
    selectors {
        selector_eq_and_not_eq,
        selector_in_and_not_in,
        selector_exist_and_not_exist,
        selector_unknown_op_matches_nothing,
        selectors_are_anded,
    }
    chain_csa {
        chain_configs_are_empty_without_reports,
        chain_configs_carry_node_id_and_are_filtered,
        csa_keypair_is_listed_and_stable,
    }
    robustness {
        hostile_ids_are_not_found,
        hostile_filters_match_nothing,
        hostile_names_and_labels_are_stored_or_refused,
        oversized_filters_are_invalid_argument,
    }
    conflicts {
        overlapping_batches_in_opposite_orders_all_commit,
    }
    limits {
        labels_are_bounded,
        names_and_ids_are_bounded,
        spec_size_is_bounded,
        batch_size_is_bounded,
        selectors_are_bounded,
    }
    uuid_forms {
        any_uuid_form_finds_the_job,
        malformed_uuids_are_invalid_argument,
    }
}

/// The rule that decides whether the PostgreSQL cases run, skip, or fail under CI.
#[test]
fn postgres_cases_fail_under_ci_without_a_url() {
    use support::expected_service_url;
    let url = || Some("postgres://x".to_string());
    assert_eq!(expected_service_url(url(), true), Ok(url()));
    assert_eq!(expected_service_url(url(), false), Ok(url()));
    assert_eq!(expected_service_url(None, false), Ok(None));
    assert_eq!(expected_service_url(Some(" ".into()), false), Ok(None));
    assert_eq!(expected_service_url(None, true), Err(()));
}
