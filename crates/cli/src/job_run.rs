//! `offchain job run`: one real run of a spec's pipeline with the node's runner and HTTP
//! client, so an author sees every task's output before proposing the spec.
//!
//! Bridges come from `--bridge NAME=URL` (their outgoing tokens from
//! `OFFCHAIN_BRIDGE_TOKEN_<NAME>`); nothing is cached between tasks beyond what the spec asks
//! (`cacheTTL` lives for this one run). Async bridges get no `responseURL` — there is no node
//! to answer to — so one answering pending ends the run suspended (exit 3).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use anyhow::Result;
use offchain_node::runs::{RunJson, TaskJson, state_name};
use offchain_pipeline::run::http_client::ReqwestClient;
use offchain_pipeline::run::{
    Bridge, Env, JobVars, MemoryCache, RunConfig, RunInput, RunResult, RunStatus, Runner,
    TokioClock, Trigger,
};
use offchain_pipeline::tasks::StdRandom;
use offchain_pipeline::value::render::to_json;
use offchain_pipeline::{JobSpec, JobType, TaskType};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::args::{Format, RunArgs};
use crate::job::{positioned, read_spec};
use crate::output::{View, note, shortened, write_stdout};
use crate::{Reported, UsageError};

/// Widest output shown in the task table; the final outputs are printed whole.
const TABLE_OUTPUT_CHARS: usize = 60;

/// Exit code of an interrupted run (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

/// `offchain job run`.
pub async fn run(args: &RunArgs) -> Result<()> {
    let text =
        read_spec(&args.file).map_err(|e| UsageError(format!("{}: {e}", args.file.display())))?;
    let spec = match JobSpec::parse(&text) {
        Ok(spec) => spec,
        Err(error) => {
            // The same line `offchain job validate` prints.
            writeln!(io::stderr(), "{}", positioned(&args.file, &error))?;
            return Err(Reported(2).into());
        }
    };
    let bridges = bridges(&args.bridges, |name| {
        std::env::var(token_variable(name)).ok()
    })?;
    let trigger = trigger(&spec, args)?;
    for name in missing_bridges(&spec, &bridges) {
        // On stderr, so JSON on stdout stays one object; the task will fail on its own.
        note(&format!(
            "note: no --bridge {name}=URL given; its tasks will fail"
        ));
    }
    let http = ReqwestClient::new()?;
    let cache = MemoryCache::new();
    let config = RunConfig::default();
    let env = Env {
        http: &http,
        bridges: &bridges,
        cache: &cache,
        clock: &TokioClock,
        random: &StdRandom,
        config: &config,
    };
    let input = RunInput {
        run_id: "1".to_owned(),
        job: JobVars::from_spec(&spec),
        trigger,
    };
    let runner = Runner::for_job(&spec);
    // Dropping the run's future on Ctrl-C drops its open requests with it.
    let result = tokio::select! {
        result = runner.run(input, &env) => result,
        _ = tokio::signal::ctrl_c() => {
            writeln!(io::stderr(), "error: interrupted; the run was stopped")?;
            return Err(Reported(INTERRUPTED).into());
        }
    };
    let names = terminal_names(&spec);
    match args.format {
        Format::Table => write_stdout(&table(&result, &names))?,
        Format::Json => write_stdout(&format!("{}\n", json(&result)?))?,
    }
    match result.state {
        RunStatus::Completed => Ok(()),
        RunStatus::Errored => Err(Reported(1).into()),
        RunStatus::Suspended => Err(Reported(3).into()),
    }
}

/// `OFFCHAIN_BRIDGE_TOKEN_COIN_MARKET` for `coin-market`.
fn token_variable(name: &str) -> String {
    let suffix: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("OFFCHAIN_BRIDGE_TOKEN_{suffix}")
}

/// `--bridge NAME=URL` flags: names unique, URLs absolute http(s).
fn bridges(
    flags: &[String],
    token: impl Fn(&str) -> Option<String>,
) -> Result<HashMap<String, Bridge>, UsageError> {
    let mut bridges = HashMap::new();
    for flag in flags {
        let bad = |why: &str| UsageError(format!("--bridge {flag:?}: {why}"));
        let (name, url) = flag
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=URL"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("invalid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("the URL must be http or https"));
        }
        let bridge = Bridge {
            url: url.to_owned(),
            outgoing_token: token(name).unwrap_or_default(),
        };
        if bridges.insert(name.to_owned(), bridge).is_some() {
            return Err(bad("a bridge of that name was given before"));
        }
    }
    Ok(bridges)
}

/// Bridge names written literally in the spec (not from a variable) with no `--bridge`.
fn missing_bridges(spec: &JobSpec, bridges: &HashMap<String, Bridge>) -> Vec<String> {
    let mut missing: Vec<String> = spec
        .pipeline
        .tasks
        .iter()
        .filter(|t| t.task_type == TaskType::Bridge)
        .filter_map(|t| t.attr("name").map(|a| a.value.clone()))
        .filter(|name| !name.contains("$(") && !bridges.contains_key(name))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// Webhook variables from the flags; cron runs take none.
fn trigger(spec: &JobSpec, args: &RunArgs) -> Result<Trigger, UsageError> {
    match spec.job_type {
        JobType::Cron => {
            if args.request_body.is_some() || args.meta.is_some() {
                return Err(UsageError(format!(
                    "{}: --request-body and --meta are for webhook specs; this is a cron spec",
                    args.file.display()
                )));
            }
            Ok(Trigger::Cron)
        }
        JobType::Webhook => {
            let meta = match &args.meta {
                None => serde_json::Value::Null,
                Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(meta @ serde_json::Value::Object(_)) => meta,
                    Ok(_) => return Err(UsageError("--meta must be a JSON object".to_owned())),
                    Err(e) => {
                        return Err(UsageError(format!("--meta is not JSON: {e}")));
                    }
                },
            };
            Ok(Trigger::Webhook {
                request_body: args.request_body.clone().unwrap_or_default(),
                meta,
            })
        }
    }
}

/// The terminal tasks' names, aligned with [`RunResult::outputs`].
fn terminal_names(spec: &JobSpec) -> Vec<String> {
    let tasks = &spec.pipeline.tasks;
    spec.pipeline
        .terminals()
        .into_iter()
        .filter_map(|i| tasks.get(i).map(|t| t.name.clone()))
        .collect()
}

/// The task rows, then the state and each final output (whole) or error.
fn table(result: &RunResult, terminals: &[String]) -> String {
    let mut view = View::new("tasks", vec!["TASK", "TYPE", "OUTPUT", "ERROR", "MS"]);
    for task in &result.tasks {
        let output = match (&task.output, task.suspended) {
            (Some(output), _) => shortened(output, TABLE_OUTPUT_CHARS),
            (None, true) => "(pending)".to_owned(),
            (None, false) => "-".to_owned(),
        };
        let error = task
            .error
            .as_deref()
            .map_or_else(|| "-".to_owned(), |e| shortened(e, TABLE_OUTPUT_CHARS));
        view.row(vec![
            task.name.clone(),
            task.task_type.clone(),
            output,
            error,
            task.duration.as_millis().to_string(),
        ]);
    }
    let mut text = view.render();
    let state = state_name(result.state);
    let _ = writeln!(text, "\nrun {state}");
    let finals = result.outputs.iter().zip(&result.errors);
    for (name, (output, error)) in terminals.iter().zip(finals) {
        let _ = match (output, error) {
            (_, Some(error)) => writeln!(text, "{name}: error: {error}"),
            (Some(output), None) => writeln!(text, "{name}: {}", to_json(output)),
            (None, None) => writeln!(text, "{name}: (no result)"),
        };
    }
    text
}

/// `offchain job run --format json`: exactly the documented shape.
#[derive(Serialize)]
struct JsonRun<'a> {
    state: &'static str,
    outputs: Vec<Option<Box<RawValue>>>,
    errors: &'a [Option<String>],
    /// The node's run view of a task, so `job run` and the node's runs API agree.
    tasks: Vec<TaskJson>,
}

/// The rendered outputs (§3.3) go in as they are, so no digit is lost to a float.
fn json(result: &RunResult) -> Result<String> {
    let RunJson { outputs, tasks } = RunJson::of(result)?;
    let run = JsonRun {
        state: state_name(result.state),
        outputs,
        errors: &result.errors,
        tasks,
    };
    Ok(serde_json::to_string_pretty(&run)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_variables_are_upper_case_with_underscores() {
        assert_eq!(
            token_variable("coin-market.v2"),
            "OFFCHAIN_BRIDGE_TOKEN_COIN_MARKET_V2"
        );
    }

    #[test]
    fn bridge_flags_are_checked() {
        let none = |_: &str| None;
        let ok = bridges(
            &[
                "a=http://127.0.0.1:8080".to_owned(),
                "b=https://x/y".to_owned(),
            ],
            |name| (name == "a").then(|| "tok".to_owned()),
        )
        .unwrap();
        assert_eq!(ok["a"].outgoing_token, "tok");
        assert_eq!(ok["b"].url, "https://x/y");
        assert_eq!(ok["b"].outgoing_token, "");
        for (flag, why) in [
            ("a", "expected NAME=URL"),
            ("=http://x", "the name is empty"),
            ("a=ftp://x", "the URL must be http or https"),
            ("a=not a url", "invalid URL: relative URL without a base"),
        ] {
            let error = bridges(&[flag.to_owned()], none).unwrap_err();
            assert_eq!(error.0, format!("--bridge {flag:?}: {why}"));
        }
        let twice = ["a=http://x".to_owned(), "a=http://y".to_owned()];
        let error = bridges(&twice, none).unwrap_err();
        assert!(error.0.ends_with("a bridge of that name was given before"));
    }
}
