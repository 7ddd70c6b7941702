//! The `http` and `bridge` tasks (spec §4 rows; bridge.md §1, §3): parameters are resolved
//! once into a [`Call`] (pure, synchronous), which each attempt then executes against the
//! handed-in [`HttpClient`].

use std::net::IpAddr;
use std::time::{Duration, Instant};

use offchain_bridge::judge::{BridgeError, BridgeResponse, PENDING_HEADER, Verdict, judge};
use offchain_bridge::request::{RequestExtras, build_request_body};

use super::io::{
    BridgeLookup, Clock, HttpClient, HttpError, HttpRequest, MAX_BODY_BYTES, ResponseCache,
};
use crate::duration::parse_duration;
use crate::task_type::TaskType;
use crate::tasks::{TaskError, check_inputs, param, required};
use crate::value::convert::{to_bool, to_map, to_string};
use crate::value::render::to_body_json;
use crate::value::{Map, Resolver, Source, Value};

/// A resolved I/O task, ready to send (again, on retries).
#[derive(Debug, Clone)]
pub(crate) enum Call {
    Http(HttpRequest),
    Bridge(BridgeCall),
}

#[derive(Debug, Clone)]
pub(crate) struct BridgeCall {
    name: String,
    url: String,
    request: HttpRequest,
    is_async: bool,
    cache_ttl: Duration,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Value(Value),
    /// An async bridge answered pending: the task waits for a resume.
    Pending,
    Error(String),
}

/// What resolving a call needs besides the resolver.
pub(crate) struct CallContext<'a> {
    pub bridges: &'a dyn BridgeLookup,
    pub run_id: &'a str,
    pub task_name: &'a str,
    pub default_cache_ttl: Duration,
}

/// Resolves the parameters of an `http` or `bridge` task.
pub(crate) fn prepare(
    task_type: TaskType,
    r: &Resolver<'_>,
    ctx: &CallContext<'_>,
) -> Result<Call, TaskError> {
    // Any number of inputs, none failed.
    check_inputs(r.inputs(), -1, -1, 0)?;
    match task_type {
        TaskType::Bridge => prepare_bridge(r, ctx).map(Call::Bridge),
        _ => prepare_http(r).map(Call::Http),
    }
}

fn prepare_http(r: &Resolver<'_>) -> Result<HttpRequest, TaskError> {
    let method = match param(r, "method", &[Source::L])? {
        Some(m) => to_string(&m).map_err(|e| TaskError(format!("method: {e}")))?,
        None => "GET".to_owned(),
    };
    let url = required(r, "url", &[Source::V, Source::L])?;
    let url = to_string(&url).map_err(|e| TaskError(format!("url: {e}")))?;
    let scheme = url_scheme(&url).ok_or_else(|| {
        TaskError(format!(
            "url: parse {url:?}: invalid URI for request: bad input for task"
        ))
    })?;
    let body = request_data(r)?
        .map(|m| to_body_json(&Value::Map(m)))
        .transpose()
        .map_err(|e| TaskError(format!("requestData: {e}")))?;
    let headers = headers(r)?;
    // Default: unrestricted unless the URL comes from a variable (a run could steer it).
    let unrestricted = match param(r, "allowUnrestrictedNetworkAccess", &[Source::L])? {
        Some(v) => {
            to_bool(&v).map_err(|e| TaskError(format!("allowUnrestrictedNetworkAccess: {e}")))?
        }
        None => !r.attr("url").unwrap_or("").contains("$("),
    };
    let verb = go_method_name(&method);
    if !matches!(scheme, "http" | "https") {
        return Err(TaskError(format!(
            "error making http request: {verb} {url:?}: unsupported protocol scheme {scheme:?}"
        )));
    }
    if !unrestricted && let Some(ip) = literal_ip(&url).filter(|ip| is_restricted(*ip)) {
        return Err(TaskError(format!(
            "error making http request: {verb} {url:?}: disallowed IP {ip}. Connections to \
             local/private and multicast networks are disabled by default for security reasons"
        )));
    }
    Ok(HttpRequest {
        method,
        url,
        headers,
        body,
        timeout: None,
        restricted: !unrestricted,
    })
}

fn prepare_bridge(r: &Resolver<'_>, ctx: &CallContext<'_>) -> Result<BridgeCall, TaskError> {
    let name = required(r, "name", &[Source::L])?;
    let name = to_string(&name).map_err(|e| TaskError(format!("name: {e}")))?;
    let bridge = ctx
        .bridges
        .bridge(&name)
        .ok_or_else(|| TaskError(format!("could not find bridge with name '{name}'")))?;
    let data = request_data(r)?.unwrap_or_default();
    let data = match json_of(&Value::Map(data), "requestData")? {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let meta = match r.vars().meta() {
        Some(m @ Value::Map(_)) => Some(json_of(m, "meta")?),
        _ => None,
    };
    let key = match param(r, "includeInputAtKey", &[Source::LRaw])? {
        Some(Value::String(k)) => k,
        _ => String::new(),
    };
    let input = match (key.is_empty(), r.inputs().first()) {
        (false, Some(v)) => Some(json_of(v, "includeInputAtKey")?),
        _ => None,
    };
    // Only the exact text `true` (reference).
    let is_async = r.attr("async") == Some("true");
    let response_url = if is_async {
        ctx.bridges.response_url(ctx.run_id, ctx.task_name)
    } else {
        None
    };
    let cache_ttl = match param(r, "cacheTTL", &[Source::L])? {
        None => ctx.default_cache_ttl,
        Some(v) => {
            let text = to_string(&v).map_err(|e| TaskError(format!("cacheTTL: {e}")))?;
            let d = parse_duration(&text).map_err(|e| TaskError(format!("cacheTTL: {e}")))?;
            Duration::from_secs(d.as_secs()) // whole seconds, as the reference keeps it
        }
    };
    let body = build_request_body(
        data,
        &RequestExtras {
            meta: meta.as_ref(),
            include_input: input.as_ref().map(|v| (key.as_str(), v)),
            response_url: response_url.as_deref(),
        },
    );
    let body = serde_json::Value::Object(body).to_string();
    let mut headers = headers(r)?;
    if !bridge.outgoing_token.is_empty() {
        headers.push((
            "Authorization".to_owned(),
            format!("Bearer {}", bridge.outgoing_token),
        ));
    }
    Ok(BridgeCall {
        request: HttpRequest {
            method: "POST".to_owned(),
            url: bridge.url.clone(),
            headers,
            body: Some(body),
            timeout: None,
            restricted: false,
        },
        name,
        url: bridge.url,
        is_async,
        cache_ttl,
    })
}

/// `requestData` from V or J, as a map (absent or null → none).
fn request_data(r: &Resolver<'_>) -> Result<Option<Map>, TaskError> {
    match param(r, "requestData", &[Source::V, Source::J])? {
        None => Ok(None),
        Some(v) => to_map(&v).map_err(|e| TaskError(format!("requestData: {e}"))),
    }
}

/// A value as it goes out in a body (decimals as strings, …), as serde JSON.
fn json_of(value: &Value, param: &str) -> Result<serde_json::Value, TaskError> {
    let text = to_body_json(value).map_err(|e| TaskError(format!("{param}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| TaskError(format!("{param}: {e}")))
}

/// `Content-Type: application/json`, then the `headers` attribute's pairs.
fn headers(r: &Resolver<'_>) -> Result<Vec<(String, String)>, TaskError> {
    let mut out = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let Some(v) = param(r, "headers", &[Source::L])? else {
        return Ok(out);
    };
    let text = to_string(&v).map_err(|e| TaskError(format!("headers: {e}")))?;
    let list: Vec<String> = serde_json::from_str(text.trim())
        .map_err(|e| TaskError(format!("headers: expected a JSON array of strings: {e}")))?;
    if !list.len().is_multiple_of(2) {
        return Err(TaskError::new(
            "headers must have an even number of elements",
        ));
    }
    for pair in list.chunks_exact(2) {
        out.push((pair[0].clone(), pair[1].clone()));
    }
    Ok(out)
}

/// Go's request-URI rule, loosely: `scheme:` with a valid scheme, or an absolute path (whose
/// scheme is then empty).
fn url_scheme(url: &str) -> Option<&str> {
    if url.starts_with('/') {
        return Some("");
    }
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// Go's error texts name the method capitalised the way `net/http` prints it (`Get`, `Post`).
fn go_method_name(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => "Get".to_owned(),
    }
}

/// The host of `scheme://[userinfo@]host[:port]/…` when it is an IP literal.
pub(crate) fn literal_ip(url: &str) -> Option<IpAddr> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next()?.parse().ok();
    }
    host.split(':').next()?.parse().ok()
}

/// Loopback, private, link-local, unspecified, multicast and broadcast addresses.
pub(crate) fn is_restricted(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_restricted(IpAddr::V4(v4)))
        }
    }
}

/// The I/O an attempt needs.
#[derive(Clone, Copy)]
pub(crate) struct CallIo<'a> {
    pub http: &'a dyn HttpClient,
    pub cache: &'a dyn ResponseCache,
    pub clock: &'a dyn Clock,
}

/// One attempt, bounded by `deadline`.
pub(crate) async fn execute(call: &Call, io: CallIo<'_>, deadline: Option<Instant>) -> Outcome {
    match call {
        Call::Http(request) => match send(request, io, deadline).await {
            Err(HttpError::TimedOut) => Outcome::Error(HttpError::TimedOut.to_string()),
            Err(HttpError::Transport(e)) => {
                Outcome::Error(format!("error making http request: {e}"))
            }
            Ok(response) => http_outcome(&request.url, response.status, response.body),
        },
        Call::Bridge(b) => bridge_attempt(b, io, deadline).await,
    }
}

async fn send(
    request: &HttpRequest,
    io: CallIo<'_>,
    deadline: Option<Instant>,
) -> Result<super::io::HttpResponse, HttpError> {
    let mut request = request.clone();
    let Some(deadline) = deadline else {
        return io.http.send(request).await;
    };
    let now = io.clock.now();
    if now >= deadline {
        return Err(HttpError::TimedOut);
    }
    request.timeout = Some(deadline - now);
    let sending = io.http.send(request);
    let expiry = io.clock.sleep_until(deadline);
    match futures_util::future::select(sending, expiry).await {
        futures_util::future::Either::Left((result, _)) => result,
        futures_util::future::Either::Right(_) => Err(HttpError::TimedOut),
    }
}

/// §4 `http`: the body as a string; status ≥ 400 is an error with the best message found.
fn http_outcome(url: &str, status: u16, mut body: Vec<u8>) -> Outcome {
    body.truncate(MAX_BODY_BYTES); // reference quirk: longer bodies are cut silently
    let text = String::from_utf8_lossy(&body).into_owned();
    if status >= 400 {
        return Outcome::Error(format!(
            "got error from {url}: (status code {status}) {}",
            best_effort_error(&text)
        ));
    }
    Outcome::Value(Value::String(text))
}

/// The reference decodes `{"error": string, "errorMessage": string}`: a non-empty `error`,
/// else a non-empty `errorMessage`, else the whole body; nothing when decoding fails.
fn best_effort_error(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        error: Option<String>,
        #[serde(default, rename = "errorMessage")]
        error_message: Option<String>,
    }
    match serde_json::from_str::<ErrorBody>(body) {
        Err(_) => String::new(),
        Ok(e) => e
            .error
            .filter(|s| !s.is_empty())
            .or(e.error_message.filter(|s| !s.is_empty()))
            .unwrap_or_else(|| body.to_owned()),
    }
}

async fn bridge_attempt(b: &BridgeCall, io: CallIo<'_>, deadline: Option<Instant>) -> Outcome {
    let verdict = match send(&b.request, io, deadline).await {
        Err(HttpError::TimedOut) => Verdict::Error(BridgeError::timed_out()),
        Err(HttpError::Transport(e)) => Verdict::Error(BridgeError::transport(e)),
        Ok(response) => judge(
            &BridgeResponse {
                url: &b.url,
                status: response.status,
                pending_header: response.header(PENDING_HEADER),
                body: &response.body,
            },
            b.is_async,
        ),
    };
    let body = b.request.body.as_deref().unwrap_or("");
    let caching = b.cache_ttl > Duration::ZERO;
    match verdict {
        Verdict::Value(text) => {
            if caching {
                io.cache.put(&b.name, body, &text, io.clock.now());
            }
            Outcome::Value(Value::String(text))
        }
        Verdict::Pending => Outcome::Pending,
        Verdict::Error(e) => {
            // bridge.md §3 item 6: a failed call falls back on a fresh enough good answer.
            let fresh = caching
                .then(|| io.clock.now().checked_sub(b.cache_ttl))
                .flatten()
                .and_then(|not_before| io.cache.get(&b.name, body, not_before));
            match fresh {
                Some(text) => Outcome::Value(Value::String(text)),
                None => Outcome::Error(e.message),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_ips_and_restriction() {
        assert_eq!(
            literal_ip("http://127.0.0.1:8080/x"),
            "127.0.0.1".parse().ok()
        );
        assert_eq!(literal_ip("http://u:p@[::1]:80/"), "::1".parse().ok());
        assert_eq!(literal_ip("https://example.com/"), None);
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "0.0.0.0",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_restricted(bad.parse().unwrap()), "{bad}");
        }
        for ok in ["8.8.8.8", "2001:4860::8888"] {
            assert!(!is_restricted(ok.parse().unwrap()), "{ok}");
        }
    }

    #[test]
    fn schemes_and_error_messages() {
        assert_eq!(url_scheme("http://x"), Some("http"));
        assert_eq!(url_scheme("/path"), Some(""));
        assert_eq!(url_scheme("no-scheme"), None);
        assert_eq!(url_scheme("1http://x"), None);
        assert_eq!(best_effort_error(r#"{"error":"boom"}"#), "boom");
        assert_eq!(best_effort_error(r#"{"errorMessage":"bad"}"#), "bad");
        assert_eq!(best_effort_error(r#"{"other":1}"#), r#"{"other":1}"#);
        assert_eq!(best_effort_error("not json"), "");
        assert_eq!(best_effort_error(r#"{"error":{"a":1}}"#), "");
        assert_eq!(go_method_name("POST"), "Post");
    }
}
