//! Fakes for running pipelines without I/O: an HTTP client answering from a closure (with
//! optional delays in tokio's paused time), bridges from a map, and run helpers.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use offchain_pipeline::Pipeline;
use offchain_pipeline::run::{
    BoxFuture, Bridge, Env, HttpClient, HttpError, HttpRequest, HttpResponse, JobVars, MemoryCache,
    RunConfig, RunInput, RunResult, Runner, TokioClock, Trigger,
};
use offchain_pipeline::tasks::FixedPick;
use offchain_pipeline::value::render::to_json;

/// One answer of the fake: after `delay`, `result`.
pub struct Reply {
    pub delay: Duration,
    pub result: Result<HttpResponse, HttpError>,
}

pub fn ok(body: &str) -> Reply {
    status(200, body)
}

pub fn status(code: u16, body: &str) -> Reply {
    Reply {
        delay: Duration::ZERO,
        result: Ok(HttpResponse {
            status: code,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }),
    }
}

pub fn transport(text: &str) -> Reply {
    Reply {
        delay: Duration::ZERO,
        result: Err(HttpError::Transport(text.to_owned())),
    }
}

impl Reply {
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Ok(r) = &mut self.result {
            r.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }
}

type Handler = dyn Fn(&HttpRequest, usize) -> Reply + Send + Sync;

/// Answers every request with `handler(request, n)`, n = earlier calls to the same URL.
pub struct FakeHttp {
    handler: Box<Handler>,
    pub calls: Mutex<Vec<HttpRequest>>,
}

impl FakeHttp {
    pub fn new(handler: impl Fn(&HttpRequest, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            handler: Box::new(handler),
            calls: Mutex::new(Vec::new()),
        }
    }

    pub fn calls_to(&self, url: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.url == url)
            .count()
    }

    pub fn last_to(&self, url: &str) -> HttpRequest {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .rev()
            .find(|r| r.url == url)
            .cloned()
            .expect("a call")
    }
}

impl HttpClient for FakeHttp {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        let n = self.calls_to(&request.url);
        let reply = (self.handler)(&request, n);
        self.calls.lock().unwrap().push(request);
        Box::pin(async move {
            if !reply.delay.is_zero() {
                tokio::time::sleep(reply.delay).await;
            }
            reply.result
        })
    }
}

/// Bridges `name` → `http://name.bridge/` with token `tok-name`; async answers go to
/// `http://node/v2/resume/<run>-<task>`.
pub struct Bridges(pub HashMap<String, Bridge>);

impl Bridges {
    pub fn new(names: &[&str]) -> Self {
        Self(
            names
                .iter()
                .map(|n| {
                    (
                        (*n).to_owned(),
                        Bridge {
                            url: format!("http://{n}.bridge/"),
                            outgoing_token: format!("tok-{n}"),
                        },
                    )
                })
                .collect(),
        )
    }
}

impl offchain_pipeline::run::BridgeLookup for Bridges {
    fn bridge(&self, name: &str) -> Option<Bridge> {
        self.0.get(name).cloned()
    }
    fn response_url(&self, run_id: &str, task: &str) -> Option<String> {
        Some(format!("http://node/v2/resume/{run_id}-{task}"))
    }
}

pub fn webhook(body: &str) -> RunInput {
    RunInput {
        run_id: "run1".into(),
        job: JobVars {
            database_id: 1,
            external_job_id: uuid::Uuid::nil(),
            name: "job".into(),
            evm_chain_id: None,
        },
        trigger: Trigger::Webhook {
            request_body: body.into(),
            meta: serde_json::Value::Null,
        },
    }
}

pub fn cron() -> RunInput {
    RunInput {
        trigger: Trigger::Cron,
        ..webhook("")
    }
}

/// Everything a test run needs but the HTTP fake.
pub struct World {
    pub bridges: Bridges,
    pub cache: MemoryCache,
    pub config: RunConfig,
}

impl Default for World {
    fn default() -> Self {
        Self {
            bridges: Bridges::new(&["coin", "a", "b"]),
            cache: MemoryCache::new(),
            config: RunConfig::default(),
        }
    }
}

impl World {
    pub fn env<'a>(&'a self, http: &'a FakeHttp) -> Env<'a> {
        Env {
            http,
            bridges: &self.bridges,
            cache: &self.cache,
            clock: &TokioClock,
            random: &FixedPick(0),
            config: &self.config,
        }
    }

    pub async fn run(&self, dot: &str, http: &FakeHttp, input: RunInput) -> RunResult {
        let pipeline = Pipeline::parse(dot).expect("valid pipeline");
        Runner::new(&pipeline).run(input, &self.env(http)).await
    }
}

/// Outputs rendered (§3.3), `ERR text` for errors, `-` for neither.
pub fn shown(result: &RunResult) -> Vec<String> {
    result
        .outputs
        .iter()
        .zip(&result.errors)
        .map(|(o, e)| match (o, e) {
            (_, Some(e)) => format!("ERR {e}"),
            (Some(v), None) => to_json(v),
            (None, None) => "-".to_owned(),
        })
        .collect()
}

/// The record of task `name`.
pub fn task<'r>(result: &'r RunResult, name: &str) -> &'r offchain_pipeline::run::TaskRun {
    result
        .tasks
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no task run {name}"))
}
