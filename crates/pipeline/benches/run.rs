//! Run benchmark: `bridge → jsonparse → multiply` against an in-process fake bridge (no I/O),
//! on one core (tokio current-thread runtime).
//!
//! Run with `cargo bench -p offchain-pipeline --bench run`. Prints runs/s and p50/p99 per
//! run, and compares the throughput with the issue's target (≥ 50 000 runs/s).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use offchain_pipeline::Pipeline;
use offchain_pipeline::run::{
    BoxFuture, Bridge, Env, HttpClient, HttpError, HttpRequest, HttpResponse, JobVars, NoCache,
    RunConfig, RunInput, RunStatus, Runner, TokioClock, Trigger,
};
use offchain_pipeline::tasks::StdRandom;

const TARGET_RUNS_PER_SEC: f64 = 50_000.0;
const WARMUP: usize = 2_000;
const SAMPLES: usize = 50_000;

/// Answers every bridge call at once with a framework-style success body.
struct FakeBridge;

impl HttpClient for FakeBridge {
    fn send(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        Box::pin(async {
            Ok(HttpResponse {
                status: 200,
                headers: Vec::new(),
                body: br#"{"jobRunID":"1","data":{"result":3012.55},"result":3012.55,"statusCode":200}"#
                    .to_vec(),
            })
        })
    }
}

fn main() {
    let pipeline = Pipeline::parse(
        r#"
        fetch [type=bridge name="coin-market" requestData=<{"id": $(jobSpec.externalJobID), "data": {"coin": "ETH", "market": "USD"}}>]
        parse [type=jsonparse path="data,result"]
        scale [type=multiply times=1e18]
        fetch -> parse -> scale
        "#,
    )
    .expect("valid pipeline");
    let runner = Runner::new(&pipeline);
    let bridges = HashMap::from([(
        "coin-market".to_owned(),
        Bridge {
            url: "http://adapter:8080/".into(),
            outgoing_token: "token".into(),
        },
    )]);
    let config = RunConfig::default();
    let env = Env {
        http: &FakeBridge,
        bridges: &bridges,
        cache: &NoCache,
        clock: &TokioClock,
        random: &StdRandom,
        config: &config,
    };
    let input = RunInput {
        run_id: "bench".into(),
        job: JobVars {
            database_id: 1,
            external_job_id: uuid::Uuid::nil(),
            name: "bench".into(),
            evm_chain_id: None,
        },
        trigger: Trigger::Webhook {
            request_body: String::new(),
            meta: serde_json::Value::Null,
        },
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let first = runner.run(input.clone(), &env).await;
        assert_eq!(first.state, RunStatus::Completed, "{first:?}");
        for _ in 0..WARMUP {
            black_box(runner.run(input.clone(), &env).await);
        }
        let mut samples = Vec::with_capacity(SAMPLES);
        let all = Instant::now();
        for _ in 0..SAMPLES {
            let start = Instant::now();
            black_box(runner.run(input.clone(), &env).await);
            samples.push(start.elapsed());
        }
        let total = all.elapsed();
        let busy: Duration = samples.iter().sum();
        samples.sort_unstable();
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
        let rate = SAMPLES as f64 / total.as_secs_f64();
        println!(
            "run bridge → jsonparse → multiply ({SAMPLES} runs, one core): {rate:.0} runs/s, \
             p50 {:?}, p99 {:?}, max {:?}, mean {:?}",
            pct(0.50),
            pct(0.99),
            samples[samples.len() - 1],
            busy / SAMPLES as u32,
        );
        let verdict = if rate >= TARGET_RUNS_PER_SEC {
            "meets"
        } else {
            "MISSES"
        };
        println!("{verdict} the target of ≥ {TARGET_RUNS_PER_SEC:.0} runs/s");
        black_box(Duration::ZERO);
    });
}
