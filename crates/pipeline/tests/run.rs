//! The runner (spec §6): branches, failure propagation, allowedFaults, failEarly, retries and
//! backoff, deadlines, suspend/resume. Time is tokio's paused clock, so durations are exact.

mod support;

use std::time::Duration;

use offchain_pipeline::Pipeline;
use offchain_pipeline::run::{HttpError, RunState, RunStatus, Runner};
use support::*;
use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn independent_branches_run_concurrently() {
    let http = FakeHttp::new(|req, _| {
        let body = if req.url.contains("one") { "1" } else { "3" };
        ok(body).after(4 * SECOND)
    });
    let dot = r#"
        a [type=http url="http://one/"]
        b [type=http url="http://two/"]
        m [type=mean values=<[$(a), $(b)]>]
    "#;
    let start = Instant::now();
    let result = World::default().run(dot, &http, webhook("")).await;
    assert_eq!(start.elapsed(), 4 * SECOND, "the two 4 s calls overlap");
    assert_eq!(result.state, RunStatus::Completed);
    assert_eq!(shown(&result), [r#""2""#]);
    assert_eq!(task(&result, "a").output.as_deref(), Some(r#""1""#));
    assert_eq!(task(&result, "m").started, 4 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn a_failed_task_fails_its_dependents_with_the_reference_texts() {
    let http = FakeHttp::new(|_, _| status(500, r#"{"error": "down"}"#));
    let dot = r#"
        ds [type=http url="http://src/"]
        parse [type=jsonparse path="x"]
        scaled [type=multiply times=10]
        viavar [type=multiply input="$(ds)" times=2]
        ds -> parse -> scaled
    "#;
    let result = World::default().run(dot, &http, webhook("")).await;
    assert_eq!(result.state, RunStatus::Errored);
    assert_eq!(
        shown(&result),
        [
            "ERR task inputs: too many errors",
            "ERR input: VarExpr: got error from http://src/: (status code 500) down: too many errors",
        ]
    );
    assert_eq!(
        task(&result, "parse").error.as_deref(),
        Some("task inputs: too many errors")
    );
    assert_eq!(result.all_errors.len(), 4);
    assert_eq!(http.calls_to("http://src/"), 1);
}

/// §6.3 (T): one of three sources fails; the median of the other two completes the run,
/// with three errors recorded.
#[tokio::test(start_paused = true)]
async fn median_tolerates_a_failed_source() {
    let http = FakeHttp::new(|req, _| match req.url.as_str() {
        "http://ds1/" => ok(r#"{"data": {"result": 100.5}}"#),
        "http://ds2/" => ok(r#"{"data": {"result": 101.5}}"#),
        _ => status(502, "bad gateway"),
    });
    let mut dot = String::new();
    for i in 1..=3 {
        dot.push_str(&format!(
            "ds{i} [type=http url=\"http://ds{i}/\"]\n\
             ds{i}_parse [type=jsonparse path=\"data,result\"]\n\
             ds{i}_multiply [type=multiply times=100]\n\
             ds{i} -> ds{i}_parse -> ds{i}_multiply -> median\n"
        ));
    }
    dot.push_str("median [type=median]\n");
    let result = World::default().run(&dot, &http, webhook("")).await;
    assert_eq!(result.state, RunStatus::Completed);
    assert_eq!(shown(&result), [r#""10100""#]);
    assert_eq!(
        result.all_errors,
        [
            "got error from http://ds3/: (status code 502) ",
            "task inputs: too many errors",
            "task inputs: too many errors",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn allowed_faults_bounds_the_tolerance() {
    let http = FakeHttp::new(|req, _| match req.url.as_str() {
        "http://bad/" => transport("connection refused"),
        _ => ok("5"),
    });
    let dot = |allowed: &str| {
        format!(
            r#"
            a [type=http url="http://good/"]
            b [type=http url="http://bad/"]
            pa [type=jsonparse]
            pb [type=jsonparse]
            m [type=median {allowed}]
            a -> pa -> m
            b -> pb -> m
        "#
        )
    };
    let w = World::default();
    let strict = w.run(&dot("allowedFaults=0"), &http, webhook("")).await;
    assert_eq!(strict.state, RunStatus::Errored);
    assert_eq!(
        shown(&strict),
        ["ERR Number of faulty inputs 1 to median task > number allowed faults 0: too many errors"]
    );
    let lenient = w.run(&dot("allowedFaults=1"), &http, webhook("")).await;
    assert_eq!(shown(&lenient), [r#""5""#]);
    assert_eq!(
        task(&lenient, "b").error.as_deref(),
        Some("error making http request: connection refused")
    );
}

#[tokio::test(start_paused = true)]
async fn any_skips_failed_inputs() {
    let http = FakeHttp::new(|req, _| match req.url.as_str() {
        "http://bad/" => status(404, "nope"),
        _ => ok("fine"),
    });
    let dot = r#"
        a [type=http url="http://bad/"]
        b [type=http url="http://good/"]
        pick [type=any]
        a -> pick
        b -> pick
    "#;
    let result = World::default().run(dot, &http, webhook("")).await;
    assert_eq!(result.state, RunStatus::Completed);
    assert_eq!(shown(&result), [r#""fine""#]);
}

/// §6.2: the first failed attempt of a failEarly task ends the run; a running call finishes
/// and keeps its result; pending retries and unstarted tasks are cancelled.
#[tokio::test(start_paused = true)]
async fn fail_early_cancels_the_rest() {
    let http = FakeHttp::new(|req, _| match req.url.as_str() {
        "http://early/" => status(500, r#"{"errorMessage": "x"}"#).after(SECOND),
        "http://slow/" => ok("7").after(3 * SECOND),
        _ => status(500, "retry me"),
    });
    let dot = r#"
        early [type=http url="http://early/" failEarly=true retries=5]
        slow [type=http url="http://slow/"]
        flaky [type=http url="http://flaky/" retries=5 minBackoff="10s" maxBackoff="20s"]
        after [type=jsonparse]
        slow -> after
        early -> e2 
        e2 [type=length]
    "#;
    let start = Instant::now();
    let result = World::default().run(dot, &http, webhook("")).await;
    assert_eq!(
        start.elapsed(),
        3 * SECOND,
        "the running call is awaited, not the retries"
    );
    assert_eq!(result.state, RunStatus::Errored);
    assert_eq!(
        http.calls_to("http://early/"),
        1,
        "failEarly is checked before retries"
    );
    assert_eq!(http.calls_to("http://flaky/"), 1);
    assert_eq!(task(&result, "slow").output.as_deref(), Some(r#""7""#));
    for cancelled in ["flaky", "after", "e2"] {
        assert_eq!(
            task(&result, cancelled).error.as_deref(),
            Some("task run cancelled (fail early)"),
            "{cancelled}"
        );
    }
    assert_eq!(
        task(&result, "early").error.as_deref(),
        Some("got error from http://early/: (status code 500) x")
    );
}

#[tokio::test(start_paused = true)]
async fn retries_are_total_attempts() {
    // Fails twice, then answers.
    let http = FakeHttp::new(|req, n| match (req.url.as_str(), n) {
        ("http://third-time/", 2) => ok("3"),
        _ => status(503, r#"{"error": "busy"}"#),
    });
    let dot = r#"
        a [type=http url="http://third-time/" retries=3 minBackoff="1s"]
        b [type=http url="http://always/" retries=2 minBackoff="1s"]
        c [type=http url="http://once/" retries=0]
    "#;
    let result = World::default().run(dot, &http, webhook("")).await;
    assert_eq!(http.calls_to("http://third-time/"), 3);
    assert_eq!(task(&result, "a").attempts, 3);
    assert_eq!(task(&result, "a").output.as_deref(), Some(r#""3""#));
    assert_eq!(http.calls_to("http://always/"), 2);
    assert_eq!(http.calls_to("http://once/"), 1);
    assert_eq!(
        task(&result, "b").error.as_deref(),
        Some("got error from http://always/: (status code 503) busy")
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_follow_the_rules() {
    let http = FakeHttp::new(|_, _| status(500, "no"));
    let elapsed = |attrs: &'static str| {
        let http = &http;
        async move {
            let dot = format!(r#"a [type=http url="http://x/" {attrs}]"#);
            let start = Instant::now();
            World::default().run(&dot, http, webhook("")).await;
            start.elapsed()
        }
    };
    // defaults 5 s, doubling: 5 + 10 + 20
    assert_eq!(elapsed("retries=4").await, Duration::from_secs(35));
    assert_eq!(
        elapsed(r#"retries=4 minBackoff="1s" maxBackoff="3s""#).await,
        Duration::from_secs(1 + 2 + 3)
    );
    // Quirk: maxBackoff alone is ignored; minBackoff alone caps at 10 s; min ≥ max → max.
    assert_eq!(
        elapsed(r#"retries=3 maxBackoff="1s""#).await,
        Duration::from_secs(15)
    );
    assert_eq!(
        elapsed(r#"retries=3 minBackoff="8s""#).await,
        Duration::from_secs(18)
    );
    assert_eq!(
        elapsed(r#"retries=3 minBackoff="1m""#).await,
        Duration::from_secs(20)
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_observe_deadlines() {
    let http = FakeHttp::new(|_, _| ok("late").after(Duration::from_secs(20)));
    let w = World::default();
    let timed = |dot: &'static str, max: Option<Duration>| {
        let (http, w) = (&http, &w);
        async move {
            let pipeline = Pipeline::parse(dot).unwrap();
            let runner = Runner::new(&pipeline).with_max_task_duration(max);
            let start = Instant::now();
            let result = runner.run(webhook(""), &w.env(http)).await;
            (start.elapsed(), shown(&result))
        }
    };
    let timed_out = vec!["ERR http request timed out or interrupted".to_owned()];
    // Default 15 s for I/O tasks without `timeout`.
    assert_eq!(
        timed(r#"a [type=http url="http://x/"]"#, None).await,
        (Duration::from_secs(15), timed_out.clone())
    );
    assert_eq!(
        timed(r#"a [type=http url="http://x/" timeout="2s"]"#, None).await,
        (2 * SECOND, timed_out.clone())
    );
    assert_eq!(
        timed(r#"a [type=http url="http://x/"]"#, Some(SECOND)).await,
        (SECOND, timed_out.clone())
    );
    // `timeout=0` turns the default off.
    assert_eq!(
        timed(r#"a [type=http url="http://x/" timeout="0"]"#, None).await,
        (Duration::from_secs(20), vec![r#""late""#.to_owned()])
    );
    // A timed-out attempt is retried like any error: 2 s, backoff 1 s, 2 s.
    assert_eq!(
        timed(
            r#"a [type=http url="http://x/" timeout="2s" retries=2 minBackoff="1s"]"#,
            None
        )
        .await,
        (5 * SECOND, timed_out.clone())
    );
    // The whole-run limit bounds every attempt.
    let mut short = World::default();
    short.config.run_timeout = Some(3 * SECOND);
    let pipeline = Pipeline::parse(r#"a [type=http url="http://x/" timeout="0"]"#).unwrap();
    let start = Instant::now();
    let result = Runner::new(&pipeline)
        .run(webhook(""), &short.env(&http))
        .await;
    assert_eq!((start.elapsed(), shown(&result)), (3 * SECOND, timed_out));
}

#[tokio::test(start_paused = true)]
async fn outputs_follow_index_then_topological_position() {
    let http = FakeHttp::new(|_, _| status(500, "x"));
    let dot = r#"
        z [type=memo value=<"z"> index=1]
        y [type=memo value=<"y">]
        x [type=memo value=<"x"> index=0]
        w [type=http url="http://fails/"]
        v [type=length]
        w -> v
    "#;
    let result = World::default().run(dot, &http, webhook("")).await;
    assert_eq!(result.state, RunStatus::Errored);
    assert_eq!(
        shown(&result),
        [
            r#""y""#,
            "ERR task inputs: too many errors",
            r#""x""#,
            r#""z""#
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn suspend_then_resume_with_a_value_or_an_error() {
    let http = FakeHttp::new(|req, _| match req.url.as_str() {
        "http://coin.bridge/" => ok(r#"{"pending": true, "data": {}}"#),
        _ => ok("side"),
    });
    let dot = r#"
        fetch [type=bridge name=coin async=true requestData=<{"data": {"coin": "ETH"}}>]
        parse [type=jsonparse path="data,result"]
        scale [type=multiply times=2]
        side [type=http url="http://side/"]
        fetch -> parse -> scale
    "#;
    let w = World::default();
    let pipeline = Pipeline::parse(dot).unwrap();
    let runner = Runner::new(&pipeline);
    let env = w.env(&http);
    let suspended = runner.run(webhook(""), &env).await;
    assert_eq!(suspended.state, RunStatus::Suspended);
    assert_eq!(shown(&suspended), ["-", r#""side""#]);
    assert!(task(&suspended, "fetch").suspended);
    let body = http.last_to("http://coin.bridge/").body.unwrap();
    assert!(
        body.contains(r#""responseURL":"http://node/v2/resume/run1-fetch""#),
        "{body}"
    );

    // The state survives JSON storage.
    let stored = serde_json::to_string(&suspended.resume.clone().unwrap()).unwrap();
    let state: RunState = serde_json::from_str(&stored).unwrap();

    let done = runner
        .resume(
            state.clone(),
            "fetch",
            Ok(r#"{"data": {"result": 21.5}}"#.into()),
            &env,
        )
        .await
        .unwrap();
    assert_eq!(done.state, RunStatus::Completed);
    assert_eq!(shown(&done), [r#""43""#, r#""side""#]);
    assert_eq!(
        task(&done, "fetch").output.as_deref(),
        Some(r#""{\"data\": {\"result\": 21.5}}""#),
        "the resumed value is stored as its JSON text"
    );
    assert_eq!(
        http.calls_to("http://coin.bridge/"),
        1,
        "finished tasks are not re-run"
    );
    assert_eq!(http.calls_to("http://side/"), 1);

    let failed = runner
        .resume(state.clone(), "fetch", Err("adapter gave up".into()), &env)
        .await
        .unwrap();
    assert_eq!(failed.state, RunStatus::Errored);
    assert_eq!(
        shown(&failed),
        ["ERR task inputs: too many errors", r#""side""#]
    );
    assert_eq!(
        task(&failed, "fetch").error.as_deref(),
        Some("adapter gave up")
    );

    assert!(
        runner
            .resume(state.clone(), "side", Ok("1".into()), &env)
            .await
            .is_err()
    );
    assert!(
        runner
            .resume(state, "nope", Ok("1".into()), &env)
            .await
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn transport_errors_and_timeouts_from_the_client() {
    let http = FakeHttp::new(|_, _| Reply {
        delay: Duration::ZERO,
        result: Err(HttpError::TimedOut),
    });
    let result = World::default()
        .run(r#"a [type=http url="http://x/"]"#, &http, webhook(""))
        .await;
    assert_eq!(
        shown(&result),
        ["ERR http request timed out or interrupted"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_pending_bridge_keeps_a_run_with_a_failed_terminal_open() {
    let http = FakeHttp::new(|req, _| match req.url.as_str() {
        "http://coin.bridge/" => ok("{}").header("X-Chainlink-Pending", "true"),
        _ => status(500, "{}"),
    });
    let dot = r#"
        fetch [type=bridge name=coin async=true]
        broken [type=http url="http://broken/"]
    "#;
    let w = World::default();
    let pipeline = Pipeline::parse(dot).unwrap();
    let runner = Runner::new(&pipeline);
    let env = w.env(&http);
    let suspended = runner.run(webhook(""), &env).await;
    assert_eq!(suspended.state, RunStatus::Suspended);
    assert_eq!(
        suspended.errors[1].as_deref(),
        Some("got error from http://broken/: (status code 500) {}")
    );
    let state = suspended.resume.unwrap();
    let done = runner
        .resume(state, "fetch", Ok("1".into()), &env)
        .await
        .unwrap();
    assert_eq!(done.state, RunStatus::Errored);
    assert_eq!(shown(&done)[0], r#""1""#);
    assert_eq!(http.calls_to("http://broken/"), 1);
}
