//! Concurrent writes that overlap: batches that touch the same jobs in different orders
//! must all commit (rows are locked in one global order, so they cannot deadlock).

use std::collections::BTreeSet;

use offchain::proto::job::BatchProposeJobRequest;

use crate::support::*;

/// Calls at once, alternately with the node ids ascending and descending.
const CALLS: usize = 12;
/// Nodes per call: more than one multi-row statement's worth, so locks span statements.
const NODES: usize = 150;

pub async fn overlapping_batches_in_opposite_orders_all_commit(c: Ctx) {
    let nodes = register_nodes(&c, NODES).await;
    let spec = spec(&uuid(1));
    // Each node once on its own first, so every later batch updates existing job rows (the
    // row locks that opposite orders would take crosswise), then a second uuid whose jobs
    // the batches create concurrently.
    for round_spec in [spec.clone(), crate::support::spec(&uuid(2))] {
        let calls: Vec<_> = (0..CALLS)
            .map(|i| {
                let client = c.client.clone();
                let mut node_ids = nodes.clone();
                if i % 2 == 1 {
                    node_ids.reverse();
                }
                let request = BatchProposeJobRequest {
                    node_ids,
                    spec: round_spec.clone(),
                    labels: vec![],
                };
                tokio::spawn(async move { client.batch_propose_job(request).await })
            })
            .collect();
        let mut revisions_of_first_node = BTreeSet::new();
        for call in calls {
            let response = call
                .await
                .expect("call task")
                .unwrap_or_else(|s| panic!("an overlapping batch failed: {s:?}"));
            assert!(response.failed_responses.is_empty(), "{response:?}");
            assert_eq!(response.success_responses.len(), NODES);
            let first = &response.success_responses[&nodes[0]];
            revisions_of_first_node.insert(first.proposal.as_ref().unwrap().revision);
        }
        assert_eq!(
            revisions_of_first_node.len(),
            CALLS,
            "each call got its own revision"
        );
    }
}
