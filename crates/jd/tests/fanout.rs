//! The fan-out benchmark's code path at a small size (`benches/fanout.rs` runs it at
//! 1 000 and 10 000 nodes): 20 simulated nodes registered over gRPC and linked to a JD,
//! one `BatchProposeJob` to all of them, every proposal ACKNOWLEDGED. No timing is
//! asserted. Runs against SQLite and, when `OFFCHAIN_TEST_POSTGRES_URL` is set, a
//! PostgreSQL schema of its own.

mod support;

#[path = "../benches/fanout/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{JdEndpoints, Round};

const NODES: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_nodes_all_acknowledge_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("jd.db").display());
    let mut backends = support::backends().await;
    // A file, as the bench uses (the shared helper's SQLite is in memory).
    backends[0].0 = sqlite;
    for (url, _schema) in backends {
        let server = harness::serve_jd(&url).await.expect("the JD serves");
        let endpoints = JdEndpoints {
            grpc: server.local_addr(),
            node: server.node_addr().expect("a node listener"),
            pid: std::process::id(),
        };
        let round = Round {
            nodes: NODES,
            dial_concurrency: 8,
            settle: Duration::ZERO,
        };
        let figures = harness::run(endpoints, round)
            .await
            .expect("the round runs");
        assert_eq!(figures.nodes, NODES);
        assert_eq!(figures.acknowledged_count, NODES, "{url}");
        assert!(figures.answers >= NODES, "{} answers", figures.answers);
        assert!(figures.rss_idle_kib > 0);
        assert!(harness::table(&[figures]).contains("\n20 "));
        server.shutdown().await.expect("the JD stops");
    }
}
