//! A fetched token, kept until a margin before it expires; one fetch at a time.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::TokenError;

/// Refresh at most this long before a token expires…
const MAX_MARGIN: Duration = Duration::from_secs(60);
/// …and at most this fraction of its lifetime before, so short-lived tokens are used too.
const MARGIN_DIVISOR: u32 = 10;

/// What a token endpoint granted.
pub(super) struct Grant {
    /// The bearer token.
    pub access_token: String,
    /// How long it is valid from now.
    pub lifetime: Duration,
    /// A token to get the next one with, if the endpoint gives one.
    pub refresh_token: Option<String>,
}

/// The current grant of a source. The lock is held across a fetch, so callers that find
/// the token due wait for the one fetch in flight instead of starting their own.
#[derive(Default)]
pub(super) struct TokenCache {
    held: Mutex<Option<Held>>,
}

struct Held {
    access_token: String,
    refresh_at: Instant,
    refresh_token: Option<String>,
}

impl TokenCache {
    /// The cached token while it is fresh; otherwise a new one from `fetch`, which gets the
    /// refresh token of the last grant (a grant without one keeps the last one's).
    pub(super) async fn token<F, Fut>(&self, fetch: F) -> Result<String, TokenError>
    where
        F: FnOnce(Option<String>) -> Fut,
        Fut: Future<Output = Result<Grant, TokenError>>,
    {
        let mut held = self.held.lock().await;
        if let Some(current) = held.as_ref().filter(|h| Instant::now() < h.refresh_at) {
            return Ok(current.access_token.clone());
        }
        let previous_refresh = held.as_ref().and_then(|h| h.refresh_token.clone());
        let grant = fetch(previous_refresh.clone()).await?;
        let token = grant.access_token.clone();
        *held = Some(Held {
            access_token: grant.access_token,
            refresh_at: Instant::now() + usable_for(grant.lifetime),
            refresh_token: grant.refresh_token.or(previous_refresh),
        });
        Ok(token)
    }
}

/// How long a token with `lifetime` is used before a new one is fetched.
fn usable_for(lifetime: Duration) -> Duration {
    lifetime - (lifetime / MARGIN_DIVISOR).min(MAX_MARGIN)
}

impl fmt::Debug for TokenCache {
    // Never the token itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_a_margin_before_expiry() {
        let secs = Duration::from_secs;
        assert_eq!(usable_for(secs(3600)), secs(3540));
        assert_eq!(usable_for(secs(300)), secs(270));
        assert_eq!(usable_for(secs(10)), secs(9));
        assert_eq!(usable_for(Duration::ZERO), Duration::ZERO);
    }
}
