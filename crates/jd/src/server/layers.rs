//! What bounds the whole server, beyond tonic's own per-request timeout: at most
//! `max_concurrent_requests` calls in progress across all connections (one shared
//! semaphore, `tower::limit::GlobalConcurrencyLimit`), and a call over the limit refused
//! at once (load shedding) rather than queued without a bound.

use tonic::Status;
use tower::BoxError;
use tower::load_shed::error::Overloaded;

/// Turns a shed call into `RESOURCE_EXHAUSTED` saying which limit it hit (tonic's own
/// message talks about "the connection", but this limit is the server's).
pub(super) fn overloaded_status(max: usize) -> impl Fn(BoxError) -> BoxError + Clone {
    move |error| {
        if error.is::<Overloaded>() {
            Status::resource_exhausted(format!(
                "the JD is serving its maximum of {max} concurrent requests \
                 (--max-concurrent-requests); retry later"
            ))
            .into()
        } else {
            error
        }
    }
}

/// A hook for the server's own tests: a call carrying `x-test-delay-ms` waits that long
/// inside the limits, and the hook counts how many calls were in progress at most.
#[cfg(test)]
pub(super) mod test_hook {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tonic::codegen::http;
    use tower::{Layer, Service};

    /// Counts calls in progress; shared by every connection's copy of the layer.
    #[derive(Debug, Clone, Default)]
    pub struct Delay {
        in_progress: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl Delay {
        /// The most calls that were ever in progress at once.
        pub fn most_in_progress(&self) -> usize {
            self.most.load(Ordering::SeqCst)
        }
    }

    impl<S> Layer<S> for Delay {
        type Service = DelayService<S>;

        fn layer(&self, inner: S) -> DelayService<S> {
            DelayService {
                inner,
                counts: self.clone(),
            }
        }
    }

    #[derive(Debug, Clone)]
    pub struct DelayService<S> {
        inner: S,
        counts: Delay,
    }

    impl<S, B> Service<http::Request<B>> for DelayService<S>
    where
        S: Service<http::Request<B>> + Clone + Send + 'static,
        S::Future: Send,
        B: Send + 'static,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: http::Request<B>) -> Self::Future {
            let delay = request
                .headers()
                .get("x-test-delay-ms")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map(Duration::from_millis);
            // The clone that was polled ready serves this call.
            let ready = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, ready);
            let counts = self.counts.clone();
            Box::pin(async move {
                let now = counts.in_progress.fetch_add(1, Ordering::SeqCst) + 1;
                counts.most.fetch_max(now, Ordering::SeqCst);
                // Counted down even when the call is dropped (timed out).
                let _in_progress = InProgress(counts.in_progress);
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                inner.call(request).await
            })
        }
    }

    struct InProgress(Arc<AtomicUsize>);

    impl Drop for InProgress {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
