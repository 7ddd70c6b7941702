//! `ASYNC_ALLOWED_ORIGINS`: the only places async answers, and with them the bridge token,
//! are sent to.

/// An http(s) origin with its port made explicit, so `http://node` and `http://node:80`
/// are one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &reqwest::Url) -> Option<Self> {
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        Some(Self {
            scheme: url.scheme().to_owned(),
            // The URL parser lowercases domain names already; this covers the rest.
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

/// `ASYNC_ALLOWED_ORIGINS`: where async answers (and the bridge token) may be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<Origin>);

impl AllowedOrigins {
    /// Parses a comma-separated list of `scheme://host[:port]` (http or https; the default
    /// port when none is given); empty entries are skipped. The error says which entry is
    /// wrong and why.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(index, entry)| parse_origin(index + 1, entry))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// No origin listed: async answers are off.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `url` is at one of the listed origins (scheme, host case-insensitively,
    /// port with defaults applied).
    pub fn permits(&self, url: &reqwest::Url) -> bool {
        Origin::of(url).is_some_and(|origin| self.0.contains(&origin))
    }
}

fn parse_origin(position: usize, entry: &str) -> Result<Origin, String> {
    // An entry with credentials is not echoed: they are the one thing it must not show.
    let named = match entry.contains('@') {
        true => format!("entry {position}"),
        false => format!("`{entry}`"),
    };
    let bad =
        |why: &str| format!("{named} {why}; expected scheme://host:port, e.g. http://node:6688");
    let url = reqwest::Url::parse(entry).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("has credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("has a path, query or fragment"));
    }
    Origin::of(&url).ok_or_else(|| bad("is not an http or https origin with a host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).expect("test URL")
    }

    #[test]
    fn origins_match_exactly_with_default_ports() {
        let allowed =
            AllowedOrigins::parse("http://Node:6688, https://node.example").expect("valid");
        for permitted in [
            "http://node:6688/v2/resume/x",
            "HTTP://NODE:6688/v2/runs/1",
            "https://node.example:443/v2/runs/1",
            "https://NODE.example/v2/runs/1?x=1",
        ] {
            assert!(allowed.permits(&url(permitted)), "{permitted}");
        }
        for refused in [
            "http://node:6689/v2/resume/x",
            "https://node:6688/v2/resume/x",
            "http://node.example/v2/runs/1",
            "https://node.example:8443/v2/runs/1",
            "http://node.evil:6688/v2/runs/1",
            "http://user:pw@evil.example/@node:6688/v2/runs/1",
            "ftp://node:6688/v2/runs/1",
        ] {
            assert!(!allowed.permits(&url(refused)), "{refused}");
        }
        assert!(!AllowedOrigins::default().permits(&url("http://node:6688/v2/runs/1")));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for entry in [
            "node:6688",
            "ftp://node:21",
            "http://node:6688/v2",
            "http://node:6688?x",
            "http://:6688",
            "http://user:pw@node",
        ] {
            assert!(AllowedOrigins::parse(entry).is_err(), "{entry}");
        }
        let error = AllowedOrigins::parse("http://a, https://user:pw@b").expect_err("credentials");
        assert!(!error.contains("pw"), "{error}");
    }
}
