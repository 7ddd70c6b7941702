//! Configuration from environment variables, with the names adapter operators already use.
//!
//! [`Config::from_vars`] parses any `(key, value)` list so tests never touch the process
//! environment; [`Config::from_env`] reads the real one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use crate::async_completion::{AllowedOrigins, ResponseToken};
use crate::secrets::{SecretUrl, show_variable};

/// A start-up configuration problem; the message names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {variable} is required but not set")]
    Missing { variable: String },
    #[error("environment variable {variable}={value:?} is invalid: {reason}")]
    Invalid {
        variable: String,
        value: String,
        reason: String,
    },
}

impl ConfigError {
    /// The variable at fault.
    pub fn variable(&self) -> &str {
        match self {
            Self::Missing { variable } | Self::Invalid { variable, .. } => variable,
        }
    }
}

/// Where cached answers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheType {
    /// In-process, bounded, with a TTL.
    Local,
    /// In Redis at `CACHE_REDIS_URL`, shared by every instance using it.
    Redis,
}

/// What an instance does among instances sharing one Redis (`EA_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EaMode {
    /// `reader`: answers from the shared cache only and never calls the provider; a
    /// parameter set not in the cache is answered 504 (retry later).
    Reader,
    /// `writer`: keeps the shared cache warm (streams, background refresh) for readers.
    Writer,
    /// `reader-writer` (default): answers requests, calling the provider on a miss.
    ReaderWriter,
}

/// `CACHE_REDIS_URL` when unset.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// `METRICS_PORT` when unset.
pub const DEFAULT_METRICS_PORT: u16 = 9080;

/// The framework's settings, plus every variable so adapters can read their own
/// (`API_URL`, `API_KEY`, …) through [`Config::required`] and [`Config::optional`].
#[derive(Debug, Clone)]
pub struct Config {
    /// `EA_HOST`, default `0.0.0.0`.
    pub host: IpAddr,
    /// `EA_PORT`, default 8080.
    pub port: u16,
    /// `EA_THREADS`, default 1 (at most 256): the threads [`Adapter::run`](crate::Adapter::run)
    /// serves requests on. One thread answers tens of thousands of cached requests a second
    /// and keeps latency lowest on machines it shares with other programs (a node, a
    /// database); raise it for more throughput on an adapter's own many-core machine.
    pub threads: usize,
    /// `API_TIMEOUT` in ms, default 30 000: bounds each upstream call.
    pub api_timeout: Duration,
    /// `CACHE_TYPE`: `local` (default) or `redis`.
    pub cache_type: CacheType,
    /// `CACHE_REDIS_URL`, default `redis://127.0.0.1:6379`; used when `CACHE_TYPE=redis`.
    /// It may hold a password, so `Debug` shows only its scheme, host and port.
    pub cache_redis_url: SecretUrl,
    /// `EA_MODE`: `reader`, `writer` or `reader-writer` (default). `reader` and `writer`
    /// require `CACHE_TYPE=redis` and a `CACHE_MAX_AGE` above 0: they share answers only
    /// through Redis.
    pub ea_mode: EaMode,
    /// `CACHE_MAX_AGE` in ms, default 90 000; 0 turns the cache off.
    pub cache_max_age: Duration,
    /// `CACHE_MAX_ITEMS`, default 10 000 (the local cache only; Redis bounds itself).
    pub cache_max_items: u64,
    /// `MAX_PAYLOAD_SIZE_LIMIT` in bytes, default 1 MB.
    pub max_payload_size: usize,
    /// `LOG_LEVEL`, default `info`; any `tracing` filter directive.
    pub log_level: String,
    /// `ASYNC_AFTER_MS`: how long a request with a `responseURL` waits for its answer
    /// before it is answered `pending` and completed by PATCH; unset never goes async
    /// ([`crate::async_completion`]).
    pub async_after: Option<Duration>,
    /// `BRIDGE_RESPONSE_TOKEN`: the bridge's incoming token, sent as
    /// `Authorization: Bearer` with every async PATCH; unset sends none.
    pub bridge_response_token: Option<ResponseToken>,
    /// `RATE_LIMIT_CAPACITY_SECOND`: upstream calls per second; unset = unlimited.
    pub rate_limit_capacity_second: Option<NonZeroU32>,
    /// `RATE_LIMIT_CAPACITY_MINUTE`: upstream calls per minute; unset = unlimited.
    pub rate_limit_capacity_minute: Option<NonZeroU32>,
    /// `RATE_LIMIT_QUEUE_SIZE`, default 100: requests that may wait for a rate-limit
    /// permit; beyond it they get 429. 0 answers 429 as soon as no permit is free.
    pub rate_limit_queue_size: usize,
    /// `RETRY`, default 1 (at most 10): retries of an upstream call after a 5xx or transport
    /// error, with exponential backoff, within `API_TIMEOUT`.
    pub retry: u32,
    /// `METRICS_ENABLED`, default `true` (as in the TypeScript framework): serve Prometheus
    /// metrics on `METRICS_PORT`.
    pub metrics_enabled: bool,
    /// `METRICS_PORT`, default 9080: the port of `GET /metrics`, on `EA_HOST`; must differ
    /// from `EA_PORT`. 0 picks a free port.
    pub metrics_port: u16,
    /// `BATCH_WINDOW_MS`, default 5 (0 to 1000): how long a batch of a
    /// [`BatchHttpEndpoint`](crate::batch::BatchHttpEndpoint) waits for more parameter sets
    /// after its first one before the upstream call.
    pub batch_window: Duration,
    /// `CACHE_REFRESH_WINDOW_MS` (unset = off): parameter sets requested within this many
    /// ms are re-fetched in the background before their cache entry expires
    /// ([`crate::refresh`]).
    pub cache_refresh_window: Option<Duration>,
    /// `ASYNC_ALLOWED_ORIGINS`: the origins (`scheme://host:port`, comma-separated) async
    /// answers may be PATCHed to; a `responseURL` elsewhere is answered synchronously.
    /// Unset: async answers are off, whatever `ASYNC_AFTER_MS` says.
    pub async_allowed_origins: AllowedOrigins,
    /// `ASYNC_MAX_IN_FLIGHT`, default 1 000 (1 to 1 000 000): async answers owed at once;
    /// past it requests are answered synchronously.
    pub async_max_in_flight: usize,
    /// `WS_UNRESPONSIVE_TIMEOUT_MS`, default 30 000 (at most a day): a streaming
    /// connection with no incoming frame for this long is dropped and reconnected
    /// ([`crate::stream`]).
    pub ws_unresponsive_timeout: Duration,
    /// `MAX_PARAM_LENGTH`, default 1 024: the most bytes of text one request parameter may
    /// hold (strings and object keys within it counted together); longer → 400.
    pub max_param_length: usize,
    /// `EA_HEADER_TIMEOUT_MS`, default 10 000: a connection that has not sent a request's
    /// complete headers this long after it opened or after its previous answer is closed
    /// (so idle keep-alive connections close after it too).
    pub header_timeout: Duration,
    /// `EA_BODY_TIMEOUT_MS`, default 10 000: a request whose body has not fully arrived this
    /// long after its headers is answered 408 and its connection closed.
    pub body_timeout: Duration,
    /// `EA_MAX_CONNECTIONS`, default 10 000 (at most 1 000 000): connections served at once;
    /// further clients wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Every variable, for [`Config::required`]; `Debug` redacts secrets.
    vars: Vars,
}

/// All variables; `Debug` shows secret-named ones as `***` and URLs by their origin only.
#[derive(Clone, Default)]
struct Vars(HashMap<String, String>);

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sorted: std::collections::BTreeMap<&str, &str> = self
            .0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        f.debug_map()
            .entries(
                sorted
                    .into_iter()
                    .map(|(name, value)| (name, show_variable(name, value))),
            )
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        match Self::from_vars(std::iter::empty::<(String, String)>()) {
            Ok(config) => config,
            // Defaults are constants that parse; reaching this is a bug in this file.
            Err(error) => unreachable!("default configuration is invalid: {error}"),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// Parses a list of variables; unset framework variables take their defaults.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let parsed = Parser { vars: &vars };
        let cache_type = parsed.cache_type()?;
        let cache_max_age = parsed.bounded_millis("CACHE_MAX_AGE", 90_000)?;
        Ok(Self {
            host: parsed.parse("EA_HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: parsed.parse("EA_PORT", 8080)?,
            threads: parsed.threads()?,
            api_timeout: parsed.millis("API_TIMEOUT", 30_000)?,
            cache_type,
            cache_redis_url: parsed.redis_url()?,
            ea_mode: parsed.ea_mode(cache_type, cache_max_age)?,
            cache_max_age,
            cache_max_items: parsed.parse("CACHE_MAX_ITEMS", 10_000)?,
            max_payload_size: parsed.parse("MAX_PAYLOAD_SIZE_LIMIT", 1_000_000)?,
            log_level: parsed.log_level()?,
            async_after: parsed.optional_millis("ASYNC_AFTER_MS")?,
            bridge_response_token: parsed.get("BRIDGE_RESPONSE_TOKEN").map(ResponseToken::new),
            rate_limit_capacity_second: parsed.capacity("RATE_LIMIT_CAPACITY_SECOND")?,
            rate_limit_capacity_minute: parsed.capacity("RATE_LIMIT_CAPACITY_MINUTE")?,
            rate_limit_queue_size: parsed.parse("RATE_LIMIT_QUEUE_SIZE", 100)?,
            retry: parsed.retry()?,
            metrics_enabled: parsed.flag("METRICS_ENABLED", true)?,
            metrics_port: parsed.metrics_port(parsed.flag("METRICS_ENABLED", true)?)?,
            batch_window: parsed.batch_window()?,
            cache_refresh_window: parsed.refresh_window()?,
            async_allowed_origins: parsed.allowed_origins()?,
            async_max_in_flight: parsed.in_range(
                "ASYNC_MAX_IN_FLIGHT",
                1_000,
                MAX_ASYNC_IN_FLIGHT,
            )?,
            ws_unresponsive_timeout: Duration::from_millis(parsed.in_range(
                "WS_UNRESPONSIVE_TIMEOUT_MS",
                30_000,
                MAX_WS_UNRESPONSIVE_TIMEOUT_MS,
            )?),
            max_param_length: parsed.in_range("MAX_PARAM_LENGTH", 1_024, usize::MAX)?,
            header_timeout: parsed.millis("EA_HEADER_TIMEOUT_MS", 10_000)?,
            body_timeout: parsed.millis("EA_BODY_TIMEOUT_MS", 10_000)?,
            max_connections: parsed.max_connections()?,
            vars: Vars(vars),
        })
    }

    /// A variable the adapter cannot start without (e.g. `API_KEY`).
    pub fn required(&self, variable: &str) -> Result<String, ConfigError> {
        self.optional(variable).ok_or_else(|| ConfigError::Missing {
            variable: variable.to_owned(),
        })
    }

    /// A variable that may be unset; empty counts as unset.
    pub fn optional(&self, variable: &str) -> Option<String> {
        Parser { vars: &self.vars.0 }
            .get(variable)
            .map(str::to_owned)
    }
}

/// More retries than this only delay the error: the backoff is capped at 2 s and all
/// attempts share `API_TIMEOUT`.
const MAX_RETRY: u32 = 10;

/// Upper bound of `EA_THREADS`: far beyond any machine an adapter runs on, so a typo (an
/// extra zero) is caught rather than spawning thousands of threads.
const MAX_THREADS: usize = 256;

/// Upper bound of `ASYNC_MAX_IN_FLIGHT`: each answer owed holds a task and its request;
/// a million is far past any node's needs and well within the semaphore's range.
const MAX_ASYNC_IN_FLIGHT: usize = 1_000_000;

/// Upper bound of `WS_UNRESPONSIVE_TIMEOUT_MS` (a day): providers send heartbeats in
/// seconds, and a longer wait would mean never noticing a dead stream.
const MAX_WS_UNRESPONSIVE_TIMEOUT_MS: u64 = 86_400_000;

/// Upper bound of `BATCH_WINDOW_MS`.
const MAX_BATCH_WINDOW_MS: u64 = 1000;

/// Upper bound of every other duration in ms (`API_TIMEOUT`, `CACHE_MAX_AGE`, …): 7 days.
/// Far beyond any sensible setting, so a typo is caught, and far below where adding the
/// duration to a clock reading or the cache's TTL would overflow and panic.
pub const MAX_DURATION_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Upper bound of `EA_MAX_CONNECTIONS`: beyond any descriptor limit a host grants.
const MAX_CONNECTIONS: usize = 1_000_000;

struct Parser<'a> {
    vars: &'a HashMap<String, String>,
}

impl Parser<'_> {
    // Empty values count as unset because container env files often declare `VAR=`.
    fn get(&self, variable: &str) -> Option<&str> {
        self.vars
            .get(variable)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(&self, variable: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(variable) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|e: T::Err| ConfigError::Invalid {
                variable: variable.to_owned(),
                value: value.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// A duration in ms from 1 to [`MAX_DURATION_MS`].
    fn millis(&self, variable: &str, default: u64) -> Result<Duration, ConfigError> {
        let duration = self.bounded_millis(variable, default)?;
        if duration.is_zero() {
            return Err(ConfigError::Invalid {
                variable: variable.to_owned(),
                value: "0".to_owned(),
                reason: "must be at least 1 ms".to_owned(),
            });
        }
        Ok(duration)
    }

    /// A duration in ms from 0 to [`MAX_DURATION_MS`].
    fn bounded_millis(&self, variable: &str, default: u64) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse(variable, default)?;
        if ms > MAX_DURATION_MS {
            return Err(ConfigError::Invalid {
                variable: variable.to_owned(),
                value: ms.to_string(),
                reason: format!("must be at most {MAX_DURATION_MS} ms (7 days)"),
            });
        }
        Ok(Duration::from_millis(ms))
    }

    // 0 is allowed: async requests are then answered `pending` without waiting.
    fn optional_millis(&self, variable: &str) -> Result<Option<Duration>, ConfigError> {
        match self.get(variable) {
            None => Ok(None),
            Some(_) => Ok(Some(self.bounded_millis(variable, 0)?)),
        }
    }

    fn max_connections(&self) -> Result<usize, ConfigError> {
        let connections: usize = self.parse("EA_MAX_CONNECTIONS", 10_000)?;
        if !(1..=MAX_CONNECTIONS).contains(&connections) {
            return Err(ConfigError::Invalid {
                variable: "EA_MAX_CONNECTIONS".to_owned(),
                value: connections.to_string(),
                reason: format!("must be between 1 and {MAX_CONNECTIONS}"),
            });
        }
        Ok(connections)
    }

    fn capacity(&self, variable: &str) -> Result<Option<NonZeroU32>, ConfigError> {
        match self.parse::<u32>(variable, 0)? {
            0 if self.get(variable).is_none() => Ok(None),
            // 0 could mean "no limit" or "nothing allowed"; make the operator say which.
            0 => Err(ConfigError::Invalid {
                variable: variable.to_owned(),
                value: "0".to_owned(),
                reason: "must be at least 1; leave it unset for no limit".to_owned(),
            }),
            n => Ok(NonZeroU32::new(n)),
        }
    }

    fn retry(&self) -> Result<u32, ConfigError> {
        let retries: u32 = self.parse("RETRY", 1)?;
        if retries > MAX_RETRY {
            return Err(ConfigError::Invalid {
                variable: "RETRY".to_owned(),
                value: retries.to_string(),
                reason: format!("must be at most {MAX_RETRY}"),
            });
        }
        Ok(retries)
    }

    fn flag(&self, variable: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(variable).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                variable: variable.to_owned(),
                value: other.to_owned(),
                reason: "must be `true` or `false`".to_owned(),
            }),
        }
    }

    // Parsed even when metrics are off, so a typo is caught before anyone turns them on;
    // the clash with EA_PORT only matters when the metrics listener opens.
    fn metrics_port(&self, enabled: bool) -> Result<u16, ConfigError> {
        let port: u16 = self.parse("METRICS_PORT", DEFAULT_METRICS_PORT)?;
        let adapter_port: u16 = self.parse("EA_PORT", 8080)?;
        if enabled && port != 0 && port == adapter_port {
            return Err(ConfigError::Invalid {
                variable: "METRICS_PORT".to_owned(),
                value: port.to_string(),
                reason: "must differ from EA_PORT: metrics have their own listener".to_owned(),
            });
        }
        Ok(port)
    }

    fn threads(&self) -> Result<usize, ConfigError> {
        let threads: usize = self.parse("EA_THREADS", 1)?;
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(ConfigError::Invalid {
                variable: "EA_THREADS".to_owned(),
                value: threads.to_string(),
                reason: format!("must be between 1 and {MAX_THREADS}"),
            });
        }
        Ok(threads)
    }

    // Longer windows only add latency to every cache miss; providers' own limits on batch
    // size make the batch full long before a second.
    fn batch_window(&self) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse("BATCH_WINDOW_MS", 5)?;
        if ms > MAX_BATCH_WINDOW_MS {
            return Err(ConfigError::Invalid {
                variable: "BATCH_WINDOW_MS".to_owned(),
                value: ms.to_string(),
                reason: format!("must be at most {MAX_BATCH_WINDOW_MS}"),
            });
        }
        Ok(Duration::from_millis(ms))
    }

    // 0 would track parameter sets only to drop them at once; make the operator unset it.
    fn refresh_window(&self) -> Result<Option<Duration>, ConfigError> {
        match self.get("CACHE_REFRESH_WINDOW_MS") {
            None => Ok(None),
            Some(_) => Ok(Some(self.millis("CACHE_REFRESH_WINDOW_MS", 1)?)),
        }
    }

    fn log_level(&self) -> Result<String, ConfigError> {
        let level = self.get("LOG_LEVEL").unwrap_or("info");
        match tracing_subscriber::EnvFilter::try_new(level) {
            Ok(_) => Ok(level.to_owned()),
            Err(e) => Err(ConfigError::Invalid {
                variable: "LOG_LEVEL".to_owned(),
                value: level.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    fn cache_type(&self) -> Result<CacheType, ConfigError> {
        match self
            .get("CACHE_TYPE")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("local") => Ok(CacheType::Local),
            Some("redis") => Ok(CacheType::Redis),
            Some(other) => Err(ConfigError::Invalid {
                variable: "CACHE_TYPE".to_owned(),
                value: other.to_owned(),
                reason: "must be `local` or `redis`".to_owned(),
            }),
        }
    }

    fn ea_mode(&self, cache_type: CacheType, max_age: Duration) -> Result<EaMode, ConfigError> {
        let Some(value) = self.get("EA_MODE") else {
            return Ok(EaMode::ReaderWriter);
        };
        let invalid = |reason: &str| ConfigError::Invalid {
            variable: "EA_MODE".to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let mode = match value.to_ascii_lowercase().as_str() {
            "reader" => EaMode::Reader,
            "writer" => EaMode::Writer,
            "reader-writer" => return Ok(EaMode::ReaderWriter),
            _ => return Err(invalid("must be `reader`, `writer` or `reader-writer`")),
        };
        // A reader or writer alone with its own cache would answer nothing or warm nothing.
        if cache_type != CacheType::Redis || max_age.is_zero() {
            return Err(invalid(
                "requires CACHE_TYPE=redis and CACHE_MAX_AGE above 0: readers and writers share answers only through Redis",
            ));
        }
        Ok(mode)
    }

    // 0 would refuse everything (or time out at once); the operator turns the feature off
    // by other means instead.
    fn in_range<T>(&self, variable: &str, default: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + From<u8> + std::fmt::Display,
        T::Err: std::fmt::Display,
    {
        let value: T = self.parse(variable, default)?;
        if value < T::from(1) || value > max {
            return Err(ConfigError::Invalid {
                variable: variable.to_owned(),
                value: value.to_string(),
                reason: format!("must be between 1 and {max}"),
            });
        }
        Ok(value)
    }

    fn allowed_origins(&self) -> Result<AllowedOrigins, ConfigError> {
        let variable = "ASYNC_ALLOWED_ORIGINS";
        match self.get(variable) {
            None => Ok(AllowedOrigins::default()),
            Some(list) => AllowedOrigins::parse(list).map_err(|reason| ConfigError::Invalid {
                variable: variable.to_owned(),
                value: list
                    .split(',')
                    .map(without_credentials)
                    .collect::<Vec<_>>()
                    .join(","),
                reason,
            }),
        }
    }

    // Checked even when CACHE_TYPE is local, so a typo is caught before anyone switches.
    fn redis_url(&self) -> Result<SecretUrl, ConfigError> {
        let url = self.get("CACHE_REDIS_URL").unwrap_or(DEFAULT_REDIS_URL);
        match redis::Client::open(url) {
            Ok(_) => Ok(SecretUrl::new(url)),
            Err(e) => Err(ConfigError::Invalid {
                variable: "CACHE_REDIS_URL".to_owned(),
                value: without_credentials(url),
                reason: format!("{e} (expected e.g. redis://host:6379/0)"),
            }),
        }
    }
}

/// `url` with any `user:password@` replaced, for error messages.
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().copied())
    }

    #[test]
    fn defaults() {
        let config = parse(&[]).expect("empty environment is valid");
        assert_eq!(config.port, 8080);
        assert_eq!(config.threads, 1);
        assert_eq!(config.host, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(config.api_timeout, Duration::from_secs(30));
        assert_eq!(config.cache_max_age, Duration::from_secs(90));
        assert_eq!(config.cache_max_items, 10_000);
        assert_eq!(config.max_payload_size, 1_000_000);
        assert_eq!(config.log_level, "info");
        assert_eq!(config.cache_type, CacheType::Local);
        assert_eq!(config.cache_redis_url.expose(), DEFAULT_REDIS_URL);
        assert!(config.async_allowed_origins.is_empty());
        assert_eq!(config.async_max_in_flight, 1_000);
        assert_eq!(config.ws_unresponsive_timeout, Duration::from_secs(30));
        assert_eq!(config.max_param_length, 1_024);
        assert_eq!(config.async_after, None);
        assert_eq!(config.bridge_response_token, None);
        assert_eq!(config.rate_limit_capacity_second, None);
        assert_eq!(config.rate_limit_capacity_minute, None);
        assert_eq!(config.rate_limit_queue_size, 100);
        assert_eq!(config.retry, 1);
        assert!(config.metrics_enabled);
        assert_eq!(config.metrics_port, DEFAULT_METRICS_PORT);
    }

    #[test]
    fn metrics_values_are_read() {
        let config =
            parse(&[("METRICS_ENABLED", "FALSE"), ("METRICS_PORT", "9999")]).expect("valid");
        assert!(!config.metrics_enabled);
        assert_eq!(config.metrics_port, 9999);
        let off = parse(&[("METRICS_ENABLED", "false"), ("METRICS_PORT", "8080")]);
        assert!(off.is_ok(), "no clash with EA_PORT when metrics are off");
    }

    #[test]
    fn protection_values_are_read() {
        let config = parse(&[
            ("RATE_LIMIT_CAPACITY_SECOND", "5"),
            ("RATE_LIMIT_CAPACITY_MINUTE", "120"),
            ("RATE_LIMIT_QUEUE_SIZE", "0"),
            ("RETRY", "0"),
        ])
        .expect("valid");
        assert_eq!(config.rate_limit_capacity_second, NonZeroU32::new(5));
        assert_eq!(config.rate_limit_capacity_minute, NonZeroU32::new(120));
        assert_eq!(config.rate_limit_queue_size, 0);
        assert_eq!(config.retry, 0);
    }

    #[test]
    fn values_are_read() {
        let config = parse(&[
            ("EA_PORT", "9000"),
            ("EA_THREADS", "4"),
            ("EA_HOST", "127.0.0.1"),
            ("API_TIMEOUT", "250"),
            ("CACHE_MAX_AGE", "0"),
            ("CACHE_MAX_ITEMS", "5"),
            ("MAX_PAYLOAD_SIZE_LIMIT", "64"),
            ("LOG_LEVEL", "debug"),
            ("API_KEY", "secret"),
            ("ASYNC_AFTER_MS", "1500"),
            ("BRIDGE_RESPONSE_TOKEN", "incoming"),
            (
                "ASYNC_ALLOWED_ORIGINS",
                "http://Node:6688, https://node.example,",
            ),
            ("ASYNC_MAX_IN_FLIGHT", "5"),
            ("WS_UNRESPONSIVE_TIMEOUT_MS", "2500"),
            ("MAX_PARAM_LENGTH", "64"),
        ])
        .expect("valid");
        assert_eq!(
            config.async_allowed_origins,
            AllowedOrigins::parse("http://node:6688,https://node.example:443").expect("valid")
        );
        assert_eq!(config.async_max_in_flight, 5);
        assert_eq!(config.ws_unresponsive_timeout, Duration::from_millis(2500));
        assert_eq!(config.max_param_length, 64);
        assert_eq!(config.port, 9000);
        assert_eq!(config.threads, 4);
        assert_eq!(config.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(config.api_timeout, Duration::from_millis(250));
        assert_eq!(config.cache_max_age, Duration::ZERO);
        assert_eq!(config.cache_max_items, 5);
        assert_eq!(config.max_payload_size, 64);
        assert_eq!(config.log_level, "debug");
        assert_eq!(config.required("API_KEY").as_deref(), Ok("secret"));
        assert_eq!(config.async_after, Some(Duration::from_millis(1500)));
        assert_eq!(
            config.bridge_response_token,
            Some(ResponseToken::new("incoming"))
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (variable, value) in [
            ("EA_PORT", "eighty"),
            ("EA_PORT", "70000"),
            ("EA_THREADS", "0"),
            ("EA_THREADS", "257"),
            ("EA_THREADS", "two"),
            ("EA_HOST", "not-an-ip"),
            ("API_TIMEOUT", "-1"),
            ("API_TIMEOUT", "0"),
            ("CACHE_MAX_AGE", "1.5"),
            ("CACHE_MAX_ITEMS", "many"),
            ("MAX_PAYLOAD_SIZE_LIMIT", "1MB"),
            ("CACHE_TYPE", "memcached"),
            ("CACHE_REDIS_URL", "http://127.0.0.1:6379"),
            ("CACHE_REDIS_URL", "not a url"),
            ("LOG_LEVEL", "adapter=loud"),
            ("ASYNC_AFTER_MS", "soon"),
            ("ASYNC_AFTER_MS", "-5"),
            ("RATE_LIMIT_CAPACITY_SECOND", "0"),
            ("RATE_LIMIT_CAPACITY_SECOND", "ten"),
            ("RATE_LIMIT_CAPACITY_MINUTE", "-5"),
            ("RATE_LIMIT_CAPACITY_MINUTE", "0"),
            ("RATE_LIMIT_QUEUE_SIZE", "-1"),
            ("RETRY", "11"),
            ("RETRY", "yes"),
            ("METRICS_ENABLED", "maybe"),
            ("METRICS_PORT", "metrics"),
            ("METRICS_PORT", "65536"),
            ("METRICS_PORT", "8080"),
            ("ASYNC_ALLOWED_ORIGINS", "node:6688"),
            ("ASYNC_ALLOWED_ORIGINS", "ftp://node:21"),
            ("ASYNC_ALLOWED_ORIGINS", "http://node:6688/v2"),
            (
                "ASYNC_ALLOWED_ORIGINS",
                "http://node:6688,https://user:pw@node",
            ),
            ("ASYNC_MAX_IN_FLIGHT", "0"),
            ("ASYNC_MAX_IN_FLIGHT", "many"),
            ("WS_UNRESPONSIVE_TIMEOUT_MS", "0"),
            ("WS_UNRESPONSIVE_TIMEOUT_MS", "86400001"),
            ("WS_UNRESPONSIVE_TIMEOUT_MS", "18446744073709551615"),
            ("ASYNC_MAX_IN_FLIGHT", "1000001"),
            ("MAX_PARAM_LENGTH", "0"),
            ("MAX_PARAM_LENGTH", "1KB"),
        ] {
            let error = parse(&[(variable, value)]).expect_err(variable);
            assert_eq!(error.variable(), variable);
            assert!(error.to_string().contains(variable), "{error}");
        }
    }

    #[test]
    fn redis_cache_settings() {
        let config = parse(&[
            ("CACHE_TYPE", "Redis"),
            ("CACHE_REDIS_URL", "redis://cache.internal:6380/2"),
        ])
        .expect("valid");
        assert_eq!(config.cache_type, CacheType::Redis);
        assert_eq!(
            config.cache_redis_url.expose(),
            "redis://cache.internal:6380/2"
        );
    }

    #[test]
    fn redis_url_errors_hide_the_password() {
        let error = parse(&[("CACHE_REDIS_URL", "http://user:hunter2@cache:6379")])
            .expect_err("http is not a Redis scheme");
        assert_eq!(error.variable(), "CACHE_REDIS_URL");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn allowed_origin_errors_hide_credentials() {
        let error = parse(&[(
            "ASYNC_ALLOWED_ORIGINS",
            "http://node:6688,https://user:hunter2@node",
        )])
        .expect_err("credentials are not an origin");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn missing_required_variable_is_named() {
        let config = parse(&[("API_KEY", "  ")]).expect("valid");
        let error = config.required("API_KEY").expect_err("blank is unset");
        assert_eq!(
            error.to_string(),
            "environment variable API_KEY is required but not set"
        );
    }

    #[test]
    fn ea_mode_is_validated_and_needs_redis() {
        assert_eq!(parse(&[]).expect("valid").ea_mode, EaMode::ReaderWriter);
        let redis = [("CACHE_TYPE", "redis")];
        for (value, mode) in [
            ("reader", EaMode::Reader),
            ("Writer", EaMode::Writer),
            ("reader-writer", EaMode::ReaderWriter),
        ] {
            let config = parse(&[redis[0], ("EA_MODE", value)]).expect("valid");
            assert_eq!(config.ea_mode, mode, "{value}");
        }
        let bad = parse(&[redis[0], ("EA_MODE", "both")]).expect_err("unknown mode");
        assert_eq!(bad.variable(), "EA_MODE");
        assert!(bad.to_string().contains("reader-writer"), "{bad}");
        let local = parse(&[("EA_MODE", "reader")]).expect_err("reader needs Redis");
        assert!(local.to_string().contains("CACHE_TYPE=redis"), "{local}");
        let no_cache = parse(&[redis[0], ("CACHE_MAX_AGE", "0"), ("EA_MODE", "writer")]);
        assert!(
            no_cache.is_err(),
            "a writer with the cache off warms nothing"
        );
        // reader-writer alone works with any cache.
        assert!(parse(&[("EA_MODE", "reader-writer")]).is_ok());
    }
}
