//! What serves the peer's requests: the [`Service`] trait and a typed [`Router`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

/// Answers the peer's requests: an encoded response, or an error string for the peer.
///
/// Object-safe (through `async_trait`), so one `Arc<dyn Service>` serves every link of a
/// JD or a node; the boxed future per request costs nothing next to a network round trip.
/// An unknown method or an undecodable payload should be answered with an error string
/// (existing peers stay silent and let the caller time out; [`Router`] answers).
#[async_trait::async_trait]
pub trait Service: Send + Sync + 'static {
    async fn handle(&self, method: &str, payload: Bytes) -> Result<Bytes, String>;
}

type BoxedHandler =
    Box<dyn Fn(Bytes) -> Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send>> + Send + Sync>;

/// A [`Service`] made of typed methods: each decodes its protobuf request, runs, and
/// encodes its response. Unknown methods and undecodable payloads are answered with an
/// error string naming the method.
#[derive(Default)]
pub struct Router {
    methods: HashMap<&'static str, BoxedHandler>,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name` (the bare method name, matched exactly), served by `handler`.
    pub fn method<Req, Resp, F, Fut>(mut self, name: &'static str, handler: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, String>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.methods.insert(
            name,
            Box::new(move |payload: Bytes| {
                let handler = handler.clone();
                Box::pin(async move {
                    let request = Req::decode(payload)
                        .map_err(|error| format!("{name}: undecodable request: {error}"))?;
                    let response = handler(request).await?;
                    Ok(response.encode_to_vec().into())
                })
            }),
        );
        self
    }
}

#[async_trait::async_trait]
impl Service for Router {
    async fn handle(&self, method: &str, payload: Bytes) -> Result<Bytes, String> {
        match self.methods.get(method) {
            Some(handler) => handler(payload).await,
            None => Err(format!("unknown method {method:?}")),
        }
    }
}
