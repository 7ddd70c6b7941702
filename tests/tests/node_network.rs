//! End to end over the node link (issue 8): a real JD (gRPC operator API + node listener on
//! ephemeral ports) and up to three real node agents in this process, each with its own data dir,
//! keystore and approval API. Operators act through the `offchain` client, node operators
//! through each node's HTTP API (a refused spec's message through the JD's delivery
//! extension); nothing reaches into either side's internals.
//!
//! Every case runs on SQLite (a temp file, so a restarted JD finds it) and on PostgreSQL (a
//! schema of its own; skipped with a note when `OFFCHAIN_TEST_POSTGRES_URL` is unset, failed
//! under `CI`). Waits poll with a deadline (`support::eventually`), never sleep.

mod node_network {
    pub mod database;
    pub mod jd;
    pub mod link_cases;
    pub mod net;
    pub mod node;
    pub mod proposal_cases;
    pub mod support;
}

/// One `#[tokio::test]` per case and backend: `sqlite::case` and `postgres::case`.
macro_rules! cases {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            use crate::node_network::database::Backend;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::node_network::$module::$case(Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            use crate::node_network::database::Backend;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::node_network::$module::$case(Backend::Postgres).await;
                }
            )*
        }
    };
}

cases!(
    link_cases::registered_nodes_connect_and_report_their_facts,
    link_cases::a_proposal_made_while_the_node_is_offline_arrives_when_it_connects,
    link_cases::a_restarted_node_keeps_its_proposals_and_links_again,
    link_cases::undelivered_proposals_are_delivered_after_a_jd_restart,
    link_cases::disabling_a_node_drops_its_link_and_enabling_reconnects,
    link_cases::a_node_with_the_wrong_jd_key_refuses_to_connect,
    proposal_cases::an_approval_on_the_node_approves_the_proposal_at_the_jd,
    proposal_cases::the_auto_policy_approves_on_arrival,
    proposal_cases::a_rejection_on_the_node_rejects_the_proposal_at_the_jd,
    proposal_cases::decisions_made_while_the_jd_is_down_reach_it_when_the_link_is_back,
    proposal_cases::a_newer_revision_of_an_approved_job_is_a_pending_update_on_the_node,
    proposal_cases::a_cancellation_after_approval_cancels_the_proposal_at_the_jd,
    proposal_cases::a_revocation_at_the_jd_revokes_the_proposal_on_the_node,
    proposal_cases::a_deletion_at_the_jd_deletes_the_job_on_the_node,
    proposal_cases::a_spec_the_node_refuses_fails_delivery_with_its_message,
);
