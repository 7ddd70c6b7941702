//! [`SingleFlight`]: identical concurrent calls share one run of the work.
//!
//! Caches whose store cannot coalesce by itself (Redis) put this in front of it, so N
//! identical in-flight requests on one instance make one upstream call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

/// In-flight work by key; an entry lives only while its work runs.
pub struct SingleFlight<T> {
    in_flight: Mutex<HashMap<String, Flight<T>>>,
    next_id: AtomicU64,
}

struct Flight<T> {
    // Identifies the entry after our own clone of `work` has returned its output (a spent
    // `Shared` no longer compares equal to anything).
    id: u64,
    work: Shared<BoxFuture<'static, T>>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            in_flight: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Runs `work` unless work for `key` is already running, in which case it waits for that
    /// one's output instead (and `work` is dropped unpolled).
    ///
    /// Cancel-safe: when a waiter is dropped the others keep driving the work; when the last
    /// one is dropped the work is dropped too.
    pub async fn run<F>(&self, key: String, work: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        let mut waiter = {
            let mut in_flight = self.lock();
            match in_flight.get(&key) {
                Some(flight) => Waiter {
                    owner: self,
                    key,
                    id: flight.id,
                    work: flight.work.clone(),
                    done: false,
                },
                None => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let work = work.boxed().shared();
                    in_flight.insert(
                        key.clone(),
                        Flight {
                            id,
                            work: work.clone(),
                        },
                    );
                    Waiter {
                        owner: self,
                        key,
                        id,
                        work,
                        done: false,
                    }
                }
            }
        };
        let output = (&mut waiter.work).await;
        waiter.done = true;
        output
    }
}

impl<T> SingleFlight<T> {
    /// Keys with work running now (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no work is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight<T>>> {
        // The map stays consistent even if a holder panicked: every critical section is a
        // single get/insert/remove.
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One caller's share of a flight; removes the entry when the work is over for everyone.
struct Waiter<'a, T> {
    owner: &'a SingleFlight<T>,
    key: String,
    id: u64,
    work: Shared<BoxFuture<'static, T>>,
    done: bool,
}

impl<T> Drop for Waiter<'_, T> {
    fn drop(&mut self) {
        let mut in_flight = self.owner.lock();
        let Some(flight) = in_flight.get(&self.key) else {
            return;
        };
        if flight.id != self.id {
            return;
        }
        // Finished: later callers must start afresh (and find the stored answer). Cancelled:
        // drop the work only when no other caller is still waiting on it (the map's clone and
        // ours are the last two).
        if self.done || flight.work.strong_count() <= Some(2) {
            in_flight.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    fn counted(calls: &Arc<AtomicUsize>, value: u32) -> impl Future<Output = u32> + Send + 'static {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            value
        }
    }

    #[tokio::test]
    async fn concurrent_calls_share_one_run() {
        let flights = Arc::new(SingleFlight::<u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let flights = flights.clone();
                let work = counted(&calls, i);
                tokio::spawn(async move { flights.run("k".into(), work).await })
            })
            .collect();
        let mut outputs = Vec::new();
        for handle in handles {
            outputs.push(handle.await.expect("task does not panic"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(outputs.iter().all(|o| *o == outputs[0]), "{outputs:?}");
        assert!(flights.is_empty(), "finished flights are removed");
        // A later call runs its own work.
        assert_eq!(flights.run("k".into(), counted(&calls, 99)).await, 99);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn different_keys_run_separately() {
        let flights = SingleFlight::<u32>::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (a, b) = tokio::join!(
            flights.run("a".into(), counted(&calls, 1)),
            flights.run("b".into(), counted(&calls, 2))
        );
        assert_eq!((a, b), (1, 2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_stop_the_others() {
        let flights = Arc::new(SingleFlight::<u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let first = {
            let flights = flights.clone();
            let work = counted(&calls, 7);
            tokio::spawn(async move { flights.run("k".into(), work).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = {
            let flights = flights.clone();
            let work = counted(&calls, 8);
            tokio::spawn(async move { flights.run("k".into(), work).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.abort();
        assert_eq!(second.await.expect("second finishes"), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn the_last_cancelled_waiter_drops_the_work() {
        let flights = Arc::new(SingleFlight::<u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let only = {
            let flights = flights.clone();
            let work = counted(&calls, 1);
            tokio::spawn(async move { flights.run("k".into(), work).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        only.abort();
        let _ = only.await;
        assert!(flights.is_empty(), "abandoned work is not left behind");
        assert_eq!(flights.run("k".into(), counted(&calls, 2)).await, 2);
    }
}
