//! Parse benchmark: `JobSpec::parse` (TOML + DOT + plan) of a 50-task spec.
//!
//! Run with `cargo bench -p offchain-pipeline --bench parse`. Prints p50/p99 per parse and
//! compares the median with the target (≤ 200 µs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use offchain_pipeline::JobSpec;

const TARGET: Duration = Duration::from_micros(200);
const WARMUP: usize = 200;
const SAMPLES: usize = 3_000;

/// 16 sources of bridge → jsonparse → multiply, a median over them, and a final divide:
/// 50 tasks with JSON, variables, common attributes and comments, as real specs have.
fn fifty_task_spec() -> String {
    let mut dot = String::new();
    for i in 0..16 {
        dot.push_str(&format!(
            "// source {i}\nds{i} [type=bridge name=\"src{i}\" requestData=<{{\"data\": {{\"coin\": \"ETH\", \"id\": $(jobSpec.externalJobID)}}}}> timeout=\"10s\" retries=2]\n\
             ds{i}_parse [type=jsonparse path=\"data,result\" data=\"$(ds{i})\"]\n\
             ds{i}_multiply [type=multiply input=\"$(ds{i}_parse)\" times=1e18]\n\
             ds{i} -> ds{i}_parse -> ds{i}_multiply -> answer\n"
        ));
    }
    dot.push_str("answer [type=median allowedFaults=5]\nscaled [type=divide input=\"$(answer)\" divisor=1000 precision=2 index=0]\nanswer -> scaled\n");
    format!(
        "type = \"webhook\"\nschemaVersion = 1\nname = \"bench\"\nexternalJobID = \"0eec7e1d-d0d2-476c-a1a8-72dfb6633f46\"\nobservationSource = \"\"\"\n{dot}\"\"\"\n"
    )
}

fn main() {
    let spec = fifty_task_spec();
    let parsed = JobSpec::parse(&spec).unwrap_or_else(|e| panic!("bench spec: {e}"));
    assert_eq!(parsed.pipeline.tasks.len(), 50);
    for _ in 0..WARMUP {
        black_box(JobSpec::parse(black_box(&spec)).ok());
    }
    let mut times: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            black_box(JobSpec::parse(black_box(&spec)).ok());
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    let p50 = times[SAMPLES / 2];
    let p99 = times[SAMPLES * 99 / 100];
    println!(
        "parse + plan, 50-task spec ({} bytes): p50 {p50:?}, p99 {p99:?} (target p50 <= {TARGET:?})",
        spec.len()
    );
    if p50 > TARGET {
        println!("  ABOVE TARGET");
    }
}
