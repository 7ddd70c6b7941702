//! `AdapterError`: every way a request can fail, with its HTTP status and protocol name.

use crate::protocol::{AdapterResponse, ErrorBody};

/// The most bytes of a client's unknown endpoint name or path echoed in the 404: enough to
/// recognize a typo, while a huge name cannot make every answer as large as its request.
pub const MAX_ECHOED_NAME: usize = 64;

/// A failed request. Each variant maps to one HTTP status, which is also the body's
/// `statusCode` (bridge.md §2).
///
/// It is `Clone` because coalesced requests share the one upstream failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// A missing or invalid input parameter (400).
    #[error("{message}")]
    Input {
        /// The parameter at fault, when known.
        param: Option<String>,
        message: String,
    },
    /// The request names an endpoint this adapter does not have (404).
    #[error("unknown endpoint `{0}`")]
    UnknownEndpoint(String),
    /// The HTTP method is not served at this path (405).
    #[error("method {0} is not allowed here; the adapter serves `POST /` and `GET /health`")]
    MethodNotAllowed(String),
    /// The request body did not arrive within `EA_BODY_TIMEOUT_MS` (408); the connection
    /// is closed after the answer.
    #[error("the request body did not arrive within {limit_ms} ms")]
    BodyTimeout { limit_ms: u128 },
    /// The request body is larger than `MAX_PAYLOAD_SIZE_LIMIT` (413).
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The adapter or its upstream is over its rate limit (429).
    #[error("{0}")]
    RateLimited(String),
    /// The upstream answered with an error (502, `providerStatusCode` = its status).
    #[error("{message}")]
    Provider {
        provider_status_code: Option<u16>,
        message: String,
    },
    /// The upstream could not be reached (502).
    #[error("{0}")]
    Connection(String),
    /// The upstream or the adapter took too long (504).
    #[error("{0}")]
    Timeout(String),
    /// Anything else (500).
    #[error("{0}")]
    Internal(String),
}

impl AdapterError {
    /// A 400 naming the parameter at fault.
    pub fn invalid_param(param: impl Into<String>, problem: impl std::fmt::Display) -> Self {
        let param = param.into();
        Self::Input {
            message: format!("invalid parameter `{param}`: {problem}"),
            param: Some(param),
        }
    }

    /// A 404 for the endpoint (or path) `name`, echoing at most [`MAX_ECHOED_NAME`] bytes
    /// of it, cut on a character boundary and marked `…` when cut.
    pub fn unknown_endpoint(name: &str) -> Self {
        if name.len() <= MAX_ECHOED_NAME {
            return Self::UnknownEndpoint(name.to_owned());
        }
        let mut end = MAX_ECHOED_NAME;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Self::UnknownEndpoint(format!("{}…", &name[..end]))
    }

    /// Checks that `value` of parameter `param` is one of `allowed` (case-insensitive).
    pub fn check_allowed(param: &str, value: &str, allowed: &[&str]) -> Result<(), Self> {
        if allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
            Ok(())
        } else {
            Err(Self::invalid_param(
                param,
                format!("`{value}` is not one of {}", allowed.join(", ")),
            ))
        }
    }

    /// The HTTP status, equal to the body's `statusCode`.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Input { .. } => 400,
            Self::UnknownEndpoint(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::BodyTimeout { .. } => 408,
            Self::PayloadTooLarge { .. } => 413,
            Self::RateLimited(_) => 429,
            Self::Provider { .. } | Self::Connection(_) => 502,
            Self::Timeout(_) => 504,
            Self::Internal(_) => 500,
        }
    }

    /// The error `name` existing adapters use for this class.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Input { .. }
            | Self::UnknownEndpoint(_)
            | Self::MethodNotAllowed(_)
            | Self::BodyTimeout { .. }
            | Self::PayloadTooLarge { .. } => "AdapterInputError",
            Self::RateLimited(_) => "AdapterRateLimitError",
            Self::Provider { .. } => "AdapterDataProviderError",
            Self::Connection(_) => "AdapterConnectionError",
            Self::Timeout(_) => "AdapterTimeoutError",
            Self::Internal(_) => "AdapterError",
        }
    }

    /// The protocol response for this error.
    pub fn to_response(&self, job_run_id: String) -> AdapterResponse {
        let provider_status_code = match self {
            Self::Provider {
                provider_status_code,
                ..
            } => *provider_status_code,
            _ => None,
        };
        let body = ErrorBody {
            name: self.name().to_owned(),
            message: self.to_string(),
        };
        AdapterResponse::errored(job_run_id, self.status_code(), provider_status_code, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::AdapterResponse;

    #[test]
    fn every_class_has_its_status_and_name() {
        let cases = [
            (
                AdapterError::invalid_param("coin", "missing"),
                400,
                "AdapterInputError",
            ),
            (
                AdapterError::UnknownEndpoint("x".into()),
                404,
                "AdapterInputError",
            ),
            (
                AdapterError::BodyTimeout { limit_ms: 1 },
                408,
                "AdapterInputError",
            ),
            (
                AdapterError::PayloadTooLarge { limit: 1 },
                413,
                "AdapterInputError",
            ),
            (
                AdapterError::RateLimited("slow down".into()),
                429,
                "AdapterRateLimitError",
            ),
            (
                AdapterError::Provider {
                    provider_status_code: Some(503),
                    message: "maintenance".into(),
                },
                502,
                "AdapterDataProviderError",
            ),
            (
                AdapterError::Connection("refused".into()),
                502,
                "AdapterConnectionError",
            ),
            (
                AdapterError::Timeout("slow".into()),
                504,
                "AdapterTimeoutError",
            ),
            (AdapterError::Internal("bug".into()), 500, "AdapterError"),
        ];
        for (error, status, name) in cases {
            assert_eq!(error.status_code(), status, "{error:?}");
            let AdapterResponse::Errored(body) = error.to_response("j".into()) else {
                panic!("{error:?} must answer an errored response");
            };
            assert_eq!(body.status_code, status);
            assert_eq!(body.error.name, name);
            assert_eq!(body.error.message, error.to_string());
            assert!(!body.pending);
        }
    }

    #[test]
    fn provider_status_code_only_for_provider_errors() {
        let provider = AdapterError::Provider {
            provider_status_code: Some(503),
            message: "m".into(),
        };
        let AdapterResponse::Errored(body) = provider.to_response("j".into()) else {
            panic!("errored expected");
        };
        assert_eq!(body.provider_status_code, Some(503));
        let AdapterResponse::Errored(body) =
            AdapterError::Connection("c".into()).to_response("j".into())
        else {
            panic!("errored expected");
        };
        assert_eq!(body.provider_status_code, None);
    }

    #[test]
    fn unknown_endpoint_names_are_cut_on_a_character_boundary() {
        let exact = "a".repeat(MAX_ECHOED_NAME);
        assert_eq!(
            AdapterError::unknown_endpoint(&exact),
            AdapterError::UnknownEndpoint(exact.clone())
        );
        let long = format!("{exact}b");
        assert_eq!(
            AdapterError::unknown_endpoint(&long),
            AdapterError::UnknownEndpoint(format!("{exact}…"))
        );
        // 'é' is 2 bytes: byte 64 of "a" + "é"… falls inside one.
        let odd = format!("a{}", "é".repeat(40));
        assert_eq!(
            AdapterError::unknown_endpoint(&odd),
            AdapterError::UnknownEndpoint(format!("a{}…", "é".repeat(31)))
        );
    }

    #[test]
    fn allowed_values() {
        assert!(AdapterError::check_allowed("market", "usd", &["USD", "EUR"]).is_ok());
        let error = AdapterError::check_allowed("market", "XYZ", &["USD", "EUR"])
            .expect_err("XYZ is not allowed");
        assert_eq!(error.status_code(), 400);
        assert!(error.to_string().contains("`market`"), "{error}");
    }
}
