//! Keeping secrets out of logs, `Debug` output and error messages.
//!
//! Adapters hold a provider's API key (often in a URL's query), the bridge's response
//! token, a Redis password in `CACHE_REDIS_URL` and WebSocket URLs with tokens in them.
//! None of them may reach a log line, because operators ship logs to places their secrets
//! do not go. The rules, applied wherever this crate logs or prints:
//!
//! - URLs are shown by [`url_origin`]: scheme, host and port only, never userinfo, path or
//!   query;
//! - variables named like secrets ([`is_secret_name`]) are shown as `***`, and any other
//!   variable whose value is a URL by its origin ([`Config`](crate::Config)'s `Debug`);
//! - dependencies that log whole requests at `trace` (tungstenite logs its handshake
//!   request, path and query included) are held at `debug` whatever `LOG_LEVEL` says
//!   ([`log_filter`]).

use std::fmt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// What a secret value is shown as.
pub const REDACTED: &str = "***";

/// Variable names whose values are secrets (any case): any name ending in `KEY` (`API_KEY`,
/// `*_KEY`), or containing `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD` or `CREDENTIAL`
/// (`*_TOKEN`, `*_SECRET`, `*_PASSWORD`, `PGPASSWORD`, …). Broad on purpose: redacting a
/// harmless value costs nothing, printing a secret is an incident.
pub fn is_secret_name(name: &str) -> bool {
    const WORDS: [&str; 5] = ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"];
    let upper = name.to_ascii_uppercase();
    upper.ends_with("KEY") || WORDS.iter().any(|word| upper.contains(word))
}

/// `url` as `scheme://host[:port]` for logs: no userinfo, path or query, where providers
/// and nodes put credentials. Text that is not a URL with a host shows as `<not a URL>`.
pub fn url_origin(url: &str) -> UrlOrigin<'_> {
    UrlOrigin(url)
}

/// The [`Display`](fmt::Display) of [`url_origin`]; formats without allocating when unused.
#[derive(Clone, Copy)]
pub struct UrlOrigin<'a>(&'a str);

impl fmt::Display for UrlOrigin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(url) = reqwest::Url::parse(self.0) else {
            return f.write_str("<not a URL>");
        };
        let Some(host) = url.host() else {
            return f.write_str("<not a URL>");
        };
        write!(f, "{}://{host}", url.scheme())?;
        match url.port() {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for UrlOrigin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A URL that may carry credentials (`CACHE_REDIS_URL`): `Debug` shows its origin only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The whole URL, credentials included: for connecting, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", url_origin(&self.0))
    }
}

/// How a configuration variable's value is shown: `***` for secret names, the origin for
/// URLs (their paths and queries may hold keys), else as is.
pub(crate) fn show_variable<'a>(name: &str, value: &'a str) -> ShownValue<'a> {
    if is_secret_name(name) {
        ShownValue::Redacted
    } else if reqwest::Url::parse(value).is_ok_and(|url| url.has_host()) {
        ShownValue::Url(url_origin(value))
    } else {
        ShownValue::Plain(value)
    }
}

pub(crate) enum ShownValue<'a> {
    Redacted,
    Url(UrlOrigin<'a>),
    Plain(&'a str),
}

impl fmt::Debug for ShownValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redacted => write!(f, "{REDACTED:?}"),
            Self::Url(origin) => write!(f, "{origin:?}"),
            Self::Plain(value) => write!(f, "{value:?}"),
        }
    }
}

/// The log filter for `LOG_LEVEL` (any `tracing` filter directive), with the dependencies
/// that log secrets at `trace` held at `debug`.
pub fn log_filter(level: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    let filter = EnvFilter::try_new(level)?;
    // Only when something logs at trace: adding the directive to a quieter filter would
    // turn tungstenite's debug lines on.
    if filter
        .max_level_hint()
        .is_none_or(|max| max >= LevelFilter::TRACE)
    {
        return Ok(filter.add_directive(TUNGSTENITE_AT_MOST.parse()?));
    }
    Ok(filter)
}

/// tungstenite logs the whole handshake request at `trace`, the URL's path and query (where
/// stream providers put tokens) included.
const TUNGSTENITE_AT_MOST: &str = "tungstenite=debug";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for secret in [
            "API_KEY",
            "api_key",
            "PROVIDER_API_KEY",
            "BRIDGE_RESPONSE_TOKEN",
            "CLIENT_SECRET",
            "DB_PASSWORD",
            "TOKEN",
            "PGPASSWORD",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "APIKEY",
        ] {
            assert!(is_secret_name(secret), "{secret}");
        }
        for plain in [
            "API_URL",
            "KEYS_DIR",
            "EA_PORT",
            "CACHE_MAX_AGE",
            "LOG_LEVEL",
        ] {
            assert!(!is_secret_name(plain), "{plain}");
        }
    }

    #[test]
    fn origins_hide_credentials_paths_and_queries() {
        for (url, origin) in [
            (
                "wss://u:p@ws.example/v1/stream?token=t0k",
                "wss://ws.example",
            ),
            (
                "https://api.example:8443/price?apikey=k3y",
                "https://api.example:8443",
            ),
            ("redis://:hunter2@cache:6379/0", "redis://cache:6379"),
            ("http://[::1]:80/x", "http://[::1]"),
            ("not a url", "<not a URL>"),
            ("unix:/run/socket", "<not a URL>"),
        ] {
            assert_eq!(url_origin(url).to_string(), origin, "{url}");
        }
    }

    #[test]
    fn trace_logging_holds_tungstenite_at_debug() {
        for level in ["trace", "info,offchain_adapter=trace", "tungstenite=trace"] {
            let filter = log_filter(level).expect("valid").to_string();
            assert!(filter.contains(TUNGSTENITE_AT_MOST), "{level}: {filter}");
            assert!(!filter.contains("tungstenite=trace"), "{level}: {filter}");
        }
        for level in ["info", "warn", "debug"] {
            let filter = log_filter(level).expect("valid").to_string();
            assert!(!filter.contains("tungstenite"), "{level}: {filter}");
        }
    }

    #[test]
    fn shown_values() {
        let shown = |name, value| format!("{:?}", show_variable(name, value));
        assert_eq!(shown("API_KEY", "k3y"), "\"***\"");
        assert_eq!(shown("WS_API_URL", "wss://h/x?token=t"), "\"wss://h\"");
        assert_eq!(shown("EA_PORT", "8080"), "\"8080\"");
        assert_eq!(
            format!("{:?}", SecretUrl::new("redis://:pw@cache:6379")),
            "SecretUrl(\"redis://cache:6379\")"
        );
    }
}
