//! The node's approval HTTP API on `[api] listen` (issue 8, item 3):
//!
//! - `GET /v2/proposals`: `[{"uuid","jd","state","version"}]`
//! - `GET /v2/proposals/{uuid}`: `{"uuid","jd","state","versions":[{"version","state","spec"}]}`
//! - `POST /v2/proposals/{uuid}/approve | reject | cancel`, body optionally `{"version": N}`
//!   (approve and reject); they answer the proposal as `show` does.
//! - The jobs and their runs (`jobs.rs`): `GET /v2/jobs`, `POST|GET /v2/jobs/{id}/runs`,
//!   `GET /v2/jobs/{id}/runs/{runId}`.
//!
//! - `POST/GET /v2/bridge_types`, `GET/PATCH/DELETE /v2/bridge_types/{name}`: the bridges
//!   (`bridges.rs`, `shared/spec/bridge.md` §5).
//!
//! - `PATCH /v2/resume/{task run uuid}` and the classic `PATCH /v2/runs/{run id}`: an
//!   async adapter's answer (`resume.rs`, bridge.md §4), authenticated with the bridge's
//!   incoming token instead of the API token.
//!
//! Authentication (`auth.rs`): a bearer token when one was given at start
//! (`OFFCHAIN_NODE_API_TOKEN`), compared in constant time with only its SHA-256 kept;
//! without a token only loopback callers are served. Errors are `{"error": "..."}`.

mod auth;
mod bridges;
mod error;
mod jobs;
mod proposals;
mod resume;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};

use crate::bridges::Registry;
use crate::jobs::Jobs;
use crate::link::JdLinkHandle;
use crate::store::Store;

pub use auth::{API_TOKEN_ENV, ApiToken};
pub use error::ApiError;
pub use jobs::{JobsApiError, MAX_WEBHOOK_BODY_BYTES};
pub use resume::{MAX_RESUME_REQUEST_BYTES, ResumeApiError};

/// The largest request body accepted (`{"version": N}`, a bridge: URL ≤ 2 KiB, token ≤ 1 KiB).
pub const MAX_BODY_BYTES: usize = 8192;

/// What the handlers share.
struct ApiState {
    store: Store,
    /// The JD links by the JD key as the store spells it (lowercase hex).
    links: HashMap<String, JdLinkHandle>,
    bridges: Registry,
    /// The running jobs.
    jobs: Jobs,
}

/// The API's routes over `store`, answering decisions on `links` (JD key hex → link).
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: the loopback rule
/// needs the caller's address.
pub fn router(
    store: Store,
    links: HashMap<String, JdLinkHandle>,
    bridges: Registry,
    token: Option<ApiToken>,
    jobs: Jobs,
) -> Router {
    let state = Arc::new(ApiState {
        store,
        links,
        bridges,
        jobs,
    });
    // Adapters answer with their bridge's incoming token, never the API token.
    let resume_routes = Router::new()
        .route("/v2/resume/{id}", patch(resume::resume_task))
        .route("/v2/runs/{id}", patch(resume::resume_run))
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(MAX_RESUME_REQUEST_BYTES));
    Router::new()
        .route("/v2/proposals", get(proposals::list))
        .route("/v2/proposals/{uuid}", get(proposals::show))
        .route("/v2/proposals/{uuid}/approve", post(proposals::approve))
        .route("/v2/proposals/{uuid}/reject", post(proposals::reject))
        .route("/v2/proposals/{uuid}/cancel", post(proposals::cancel))
        .route("/v2/bridge_types", get(bridges::list).post(bridges::create))
        .route(
            "/v2/bridge_types/{name}",
            get(bridges::show)
                .patch(bridges::update)
                .delete(bridges::delete),
        )
        .route("/v2/jobs", get(jobs::list))
        .route(
            "/v2/jobs/{id}/runs",
            post(jobs::trigger)
                .get(jobs::runs)
                // Webhook bodies may be larger than the other routes' 8 KiB.
                .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY_BYTES)),
        )
        .route("/v2/jobs/{id}/runs/{run}", get(jobs::run))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(token),
            auth::authorize,
        ))
        .merge(resume_routes)
}
