//! Per-call options: a deadline and request metadata.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::{Code, Request, Status};

use super::ClientResult;

/// What [`Client::with_options`](super::Client::with_options) adds to every call.
#[derive(Clone, Default)]
pub struct CallOptions {
    /// The call's deadline, counted from when it starts; `None` leaves the client's own.
    pub timeout: Option<Duration>,
    /// Extra request metadata (gRPC headers), e.g. a request id or a tenant.
    pub metadata: MetadataMap,
}

/// A metadata key or value that cannot be sent as a header.
#[derive(Debug, thiserror::Error)]
#[error("metadata {key:?} cannot be sent: {reason}")]
pub struct InvalidMetadata {
    /// The key given.
    pub key: String,
    /// What is wrong (the value itself is never shown: it may be a credential).
    pub reason: &'static str,
}

impl CallOptions {
    /// No deadline, no metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives every call `timeout` from its start.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds (or replaces) the ASCII metadata `key: value`.
    pub fn with_metadata(mut self, key: &str, value: &str) -> Result<Self, InvalidMetadata> {
        let invalid = |reason| InvalidMetadata {
            key: key.to_string(),
            reason,
        };
        let name = AsciiMetadataKey::from_bytes(key.as_bytes())
            .map_err(|_| invalid("not a valid lower-case ASCII header name"))?;
        let value = AsciiMetadataValue::try_from(value)
            .map_err(|_| invalid("the value has characters not allowed in a header"))?;
        self.metadata.insert(name, value);
        Ok(self)
    }

    /// These options with `later` on top: its deadline if it has one, its metadata values
    /// over these.
    pub fn merged(&self, later: CallOptions) -> CallOptions {
        let mut headers = self.metadata.clone().into_headers();
        headers.extend(later.metadata.into_headers());
        CallOptions {
            timeout: later.timeout.or(self.timeout),
            metadata: MetadataMap::from_headers(headers),
        }
    }

    /// `message` as a request carrying these options.
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        if let Some(timeout) = self.timeout {
            request.set_timeout(timeout);
        }
        request
    }
}

impl fmt::Debug for CallOptions {
    // Metadata values may be credentials: show the keys only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .metadata
            .keys()
            .map(|key| match key {
                tonic::metadata::KeyRef::Ascii(k) => k.as_str().to_string(),
                tonic::metadata::KeyRef::Binary(k) => k.as_str().to_string(),
            })
            .collect();
        f.debug_struct("CallOptions")
            .field("timeout", &self.timeout)
            .field("metadata_keys", &keys)
            .finish()
    }
}

/// Runs `call` within `timeout`: past it, or with a zero deadline, the answer is
/// `DEADLINE_EXCEEDED`. Also turns the transport's own timeout (tonic answers `CANCELLED`
/// "Timeout expired") into `DEADLINE_EXCEEDED`, which is what it is.
pub(crate) async fn within_deadline<T>(
    timeout: Option<Duration>,
    call: impl Future<Output = ClientResult<T>>,
) -> ClientResult<T> {
    let exceeded = |timeout: Duration| {
        Status::deadline_exceeded(format!(
            "no answer within the call's deadline of {} ms",
            timeout.as_millis()
        ))
    };
    let result = match timeout {
        Some(timeout) if timeout.is_zero() => return Err(exceeded(timeout)),
        Some(timeout) => tokio::time::timeout(timeout, call)
            .await
            .unwrap_or_else(|_| Err(exceeded(timeout))),
        None => call.await,
    };
    result.map_err(|status| {
        let transport_timeout = status.code() == Code::Cancelled
            && status.message() == tonic::TimeoutExpired(()).to_string();
        if transport_timeout {
            Status::deadline_exceeded("no answer within the client's request timeout")
        } else {
            status
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_options_win() {
        let first = CallOptions::new()
            .with_timeout(Duration::from_secs(1))
            .with_metadata("a", "1")
            .unwrap()
            .with_metadata("b", "1")
            .unwrap();
        let later = CallOptions::new().with_metadata("b", "2").unwrap();
        let merged = first.merged(later);
        assert_eq!(merged.timeout, Some(Duration::from_secs(1)));
        assert_eq!(merged.metadata.get("a").unwrap(), "1");
        assert_eq!(merged.metadata.get("b").unwrap(), "2");
        let merged = merged.merged(CallOptions::new().with_timeout(Duration::from_secs(9)));
        assert_eq!(merged.timeout, Some(Duration::from_secs(9)));
    }

    #[tokio::test]
    async fn transport_timeouts_become_deadline_exceeded() {
        let cancelled = Status::cancelled(tonic::TimeoutExpired(()).to_string());
        let status = within_deadline::<()>(None, async { Err(cancelled) })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        let other = within_deadline::<()>(None, async { Err(Status::cancelled("by the user")) })
            .await
            .unwrap_err();
        assert_eq!(other.code(), Code::Cancelled);
    }
}
