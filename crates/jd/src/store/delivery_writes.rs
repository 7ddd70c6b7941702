//! Delivery status writes in groups: the hot path of a fan-out.
//!
//! One `BatchProposeJob` to N linked nodes makes 2·N status writes (DELIVERED as each push
//! is sent, then ACKNOWLEDGED or FAILED as each node answers), all within moments. One
//! transaction each would mean 2·N synced commits, on SQLite one after the other: at
//! 10 000 nodes that alone took longer than the fan-out's whole budget. Instead a write
//! is queued, and whoever holds the writer next takes everything queued by then into one
//! transaction of a few multi-row updates (like proposals, see `propose.rs`). A caller
//! still returns only once its write is committed. The group is written by a task of its
//! own, so a caller going away cannot cut short what the others wait for.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use offchain_proto::job::ProposalDeliveryStatus;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use super::propose::group_lost;
use super::{Store, StoreResult, placeholders};

/// Ids per update statement (SQLite binds parameters by name in a list: keep it short).
const IDS: usize = 100;

/// The writes waiting for the writer, and the writer.
#[derive(Debug, Default)]
pub(super) struct DeliveryWrites {
    queue: std::sync::Mutex<Vec<Queued>>,
    writer: Arc<Mutex<()>>,
}

/// A group's writes by class — (final status?, status, error) — each as (proposal id, time).
type Classes<'a> = BTreeMap<(bool, i32, Option<&'a str>), Vec<(&'a str, i64)>>;

/// One queued write and where its result goes.
#[derive(Debug)]
struct Queued {
    proposal_id: String,
    status: ProposalDeliveryStatus,
    error: Option<String>,
    now: i64,
    reply: oneshot::Sender<StoreResult<()>>,
}

impl Store {
    /// Queues one delivery status write and waits until a group has committed it.
    pub(super) async fn write_delivery_grouped(
        &self,
        proposal_id: &str,
        status: ProposalDeliveryStatus,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let (reply, mut done) = oneshot::channel();
        self.deliveries
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Queued {
                proposal_id: proposal_id.to_owned(),
                status,
                error: error.map(str::to_owned),
                now,
                reply,
            });
        tokio::select! {
            biased;
            // An earlier group took this write along.
            result = &mut done => return result.unwrap_or_else(|_| Err(group_lost())),
            guard = self.deliveries.writer.clone().lock_owned() => {
                let group = std::mem::take(
                    &mut *self.deliveries.queue.lock().unwrap_or_else(PoisonError::into_inner),
                );
                if !group.is_empty() {
                    tokio::spawn(write_group(self.clone(), guard, group));
                }
            }
        }
        done.await.unwrap_or_else(|_| Err(group_lost()))
    }
}

/// Writes `group` in one transaction and answers every caller in it.
async fn write_group(store: Store, _writer: OwnedMutexGuard<()>, group: Vec<Queued>) {
    // DELIVERED first, so that a final status in the same group is never shadowed by it
    // (the statement's guard keeps ACKNOWLEDGED and FAILED anyway); then one class per
    // (status, error). Times are the latest of each statement's writes.
    let mut classes = Classes::new();
    for queued in &group {
        let key = (
            queued.status != ProposalDeliveryStatus::Delivered,
            queued.status as i32,
            queued.error.as_deref(),
        );
        classes
            .entry(key)
            .or_default()
            .push((queued.proposal_id.as_str(), queued.now));
    }
    let result = write_classes(&store, &classes).await;
    drop(classes);
    for queued in group {
        let answer = match &result {
            Ok(()) => Ok(()),
            Err(error) => Err(error.for_peer()),
        };
        let _ = queued.reply.send(answer);
    }
}

async fn write_classes(store: &Store, classes: &Classes<'_>) -> StoreResult<()> {
    let mut conn = store.conn().await?;
    let mut tx = conn.begin().await?;
    for ((_, status, error), writes) in classes {
        for chunk in writes.chunks(IDS) {
            let now = chunk.iter().map(|(_, now)| *now).max().unwrap_or_default();
            let acked_at = (*status == ProposalDeliveryStatus::Acknowledged as i32).then_some(now);
            let sql = format!(
                "UPDATE proposals SET delivery_status = $1, delivery_error = $2, \
                 acked_at = COALESCE($3, acked_at), updated_at = $4 \
                 WHERE delivery_status NOT IN ($5, $6) AND id IN ({})",
                placeholders(7, chunk.len())
            );
            let mut query = sqlx::query(&sql)
                .bind(i64::from(*status))
                .bind(*error)
                .bind(acked_at)
                .bind(now)
                .bind(ProposalDeliveryStatus::Acknowledged as i64)
                .bind(ProposalDeliveryStatus::Failed as i64);
            for (id, _) in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use offchain_proto::job::{Proposal, ProposalDeliveryStatus as Status};
    use offchain_proto::node::Node;
    use offchain_proto::timestamp_from_micros;

    use super::super::{NewProposals, ProposalOutcome, SQLITE_MEMORY_URL};
    use super::*;

    /// A store with `n` nodes and one proposal to each; the proposals' ids.
    async fn store_with_proposals(n: usize) -> (Store, Vec<String>) {
        let store = Store::open(SQLITE_MEMORY_URL).await.unwrap();
        let mut nodes = Vec::new();
        for i in 0..n {
            let node = Node {
                id: format!("node_{i}"),
                name: format!("n{i}"),
                public_key: format!("{i:064x}"),
                is_enabled: true,
                created_at: Some(timestamp_from_micros(1)),
                updated_at: Some(timestamp_from_micros(1)),
                ..Default::default()
            };
            store.insert_node(&node).await.unwrap();
            nodes.push(node.id);
        }
        let uuid = "00000000-0000-4000-8000-000000000001";
        let spec = format!("externalJobID = \"{uuid}\"");
        let new = NewProposals {
            uuid,
            spec: &spec,
            labels: &[],
            node_ids: &nodes,
            now: 1,
        };
        let ids = store
            .propose(new)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, outcome)| match outcome {
                ProposalOutcome::Proposed(proposal) => proposal.id,
                other => panic!("expected a proposal, got {other:?}"),
            })
            .collect();
        (store, ids)
    }

    fn queued_len(store: &Store) -> usize {
        store.deliveries.queue.lock().unwrap().len()
    }

    async fn stored(store: &Store, id: &str) -> Proposal {
        store.proposal(id).await.unwrap().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_land_with_their_own_status_and_error() {
        // More proposals than one statement's ids, so groups span several statements.
        let (store, ids) = store_with_proposals(250).await;
        let tasks: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (store, id) = (store.clone(), id.clone());
                tokio::spawn(async move {
                    let error = format!("refused {i}");
                    let (status, error) = match i % 3 {
                        0 => (Status::Delivered, None),
                        1 => (Status::Acknowledged, None),
                        _ => (Status::Failed, Some(error.as_str())),
                    };
                    store.set_delivery(&id, status, error, 10 + i as i64).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        for (i, id) in ids.iter().enumerate() {
            let proposal = stored(&store, id).await;
            let error = store.delivery_error(id).await.unwrap();
            match i % 3 {
                0 => assert_eq!(proposal.delivery_status(), Status::Delivered),
                1 => {
                    assert_eq!(proposal.delivery_status(), Status::Acknowledged);
                    assert!(proposal.acked_at.is_some(), "{id} has no acked_at");
                }
                _ => {
                    assert_eq!(proposal.delivery_status(), Status::Failed);
                    assert_eq!(error.as_deref(), Some(format!("refused {i}").as_str()));
                }
            }
            if i % 3 != 2 {
                assert_eq!(error, None);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_final_status_is_never_moved_back_within_or_across_groups() {
        let (store, ids) = store_with_proposals(2).await;
        // Across groups: ACKNOWLEDGED, then a late DELIVERED and FAILED.
        store
            .set_delivery(&ids[0], Status::Acknowledged, None, 5)
            .await
            .unwrap();
        store
            .set_delivery(&ids[0], Status::Delivered, None, 6)
            .await
            .unwrap();
        store
            .set_delivery(&ids[0], Status::Failed, Some("late"), 7)
            .await
            .unwrap();
        assert_eq!(
            stored(&store, &ids[0]).await.delivery_status(),
            Status::Acknowledged
        );
        // In one group, ACKNOWLEDGED queued before DELIVERED: the writer is held until
        // both wait in the queue.
        let writer = store.deliveries.writer.clone().lock_owned().await;
        let mut writes = Vec::new();
        for status in [Status::Acknowledged, Status::Delivered] {
            let (store2, id) = (store.clone(), ids[1].clone());
            writes.push(tokio::spawn(async move {
                store2.set_delivery(&id, status, None, 8).await
            }));
            let queued = writes.len();
            while queued_len(&store) < queued {
                tokio::task::yield_now().await;
            }
        }
        drop(writer);
        for write in writes {
            write.await.unwrap().unwrap();
        }
        assert_eq!(
            stored(&store, &ids[1]).await.delivery_status(),
            Status::Acknowledged
        );
    }
}
