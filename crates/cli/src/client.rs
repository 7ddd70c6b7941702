//! Connecting to a JD and turning its gRPC statuses into one-line errors.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use offchain::{Client, ClientResult, Provider, ProviderError, RemoteConfig, RemoteProvider};
use offchain::{StaticToken, TokenSource};
use tonic::{Code, Status};

use crate::UsageError;
use crate::args::ClientArgs;

/// A connected JD client plus what is needed to explain its failures.
pub struct Jd {
    client: Arc<dyn Client>,
    endpoint: String,
    has_token: bool,
}

impl Jd {
    /// Validates the endpoint, reads the CA file and connects.
    pub async fn connect(args: &ClientArgs) -> Result<Jd> {
        let endpoint = args.endpoint.trim().to_string();
        let mut config = RemoteConfig::new(endpoint.clone());
        if let Some(path) = &args.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read CA certificate {}", path.display()))?;
            config = config.with_ca_pem(pem);
        }
        // An empty JD_TOKEN is what `export JD_TOKEN=` leaves behind: treat it as unset.
        let token = args.token.as_deref().filter(|t| !t.trim().is_empty());
        if let Some(token) = token {
            let source: Arc<dyn TokenSource> = Arc::new(StaticToken::new(token.trim()));
            config = config.with_token_source(source);
        }
        let provider = RemoteProvider::new(config).map_err(|error| match error {
            ProviderError::InvalidEndpoint { .. } => UsageError(format!(
                "{error} (set --endpoint or JD_GRPC, e.g. http://127.0.0.1:14231)"
            ))
            .into(),
            other => anyhow!(other),
        })?;
        let client = provider.initialize().await?;
        Ok(Jd {
            client,
            endpoint,
            has_token: token.is_some(),
        })
    }

    /// The client, for library helpers that take one.
    pub fn client(&self) -> &dyn Client {
        self.client.as_ref()
    }

    /// Awaits a call, turning a gRPC status into a readable error.
    pub async fn call<T>(&self, call: impl Future<Output = ClientResult<T>>) -> Result<T> {
        call.await.map_err(|status| anyhow!(self.describe(&status)))
    }

    /// `CODE_NAME: message`, plus a hint where the code alone leaves people guessing.
    pub fn describe(&self, status: &Status) -> String {
        let message = match status.message().trim() {
            "" => status.code().description(),
            text => text,
        };
        let mut text = format!("{}: {message}", code_name(status.code()));
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Unknown => {
                text.push_str(&format!(" (JD at {})", self.endpoint));
            }
            Code::Unauthenticated if !self.has_token => {
                text.push_str(" (this JD requires a token: set --token or JD_TOKEN)");
            }
            _ => {}
        }
        text
    }
}

/// The gRPC code as the protobuf enum names it (what grpcurl and other clients print).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_match_the_protobuf_enum() {
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
    }
}
