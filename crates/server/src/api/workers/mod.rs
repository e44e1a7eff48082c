//! `/api/v1/worker/…`: the pull protocol, as remote workers speak it (a TRELLIS
//! worker on a GPU machine; `atelier_core::pull` has the rules), and
//! `/api/v1/admin/worker-keys`, where admins make their keys.
//!
//! A worker sends its key as `Authorization: Bearer atw_…` (a user's key is
//! refused here, and a worker key anywhere else), and the lease of the task it
//! acts on as `X-Atelier-Lease`.

mod claim;
mod inputs;
mod keys;
mod report;

use atelier_core::ports::LeaseToken;
use atelier_core::pull::WorkerKey;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiError;
use crate::app::AppState;

/// The header carrying the lease a worker holds on the task it acts on.
pub const LEASE_HEADER: &str = "x-atelier-lease";

/// The worker routes: authenticated by worker key, not by the user middleware.
pub fn worker_routes(max_output_bytes: usize) -> OpenApiRouter<AppState> {
    let (schemas, paths, complete) = routes!(report::complete_task);
    OpenApiRouter::new()
        .routes(routes!(claim::claim_tasks))
        .routes(routes!(claim::heartbeat))
        .routes(routes!(inputs::list_inputs))
        .routes(routes!(inputs::download_input))
        .routes((schemas, paths, complete.layer(axum::extract::DefaultBodyLimit::max(max_output_bytes))))
        .routes(routes!(report::fail_task))
        .routes(routes!(report::release_task))
}

/// The admin routes (behind user authentication).
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(keys::list_worker_keys, keys::create_worker_key))
        .routes(routes!(keys::revoke_worker_key))
}

/// The worker a request comes from, by its worker key.
pub struct WorkerCaller(pub WorkerKey);

impl FromRequestParts<AppState> for WorkerCaller {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")));
        let Some(key) = key else {
            return Err(crate::api::auth::unauthorized(atelier_core::CoreError::Unauthenticated {
                code: "unauthorized",
                message: "send a worker key as `Authorization: Bearer atw_…`".into(),
            }));
        };
        state.pull.authenticate(key.trim()).await.map(Self).map_err(crate::api::auth::unauthorized)
    }
}

/// The lease a worker holds, from `X-Atelier-Lease`.
pub struct Lease(pub LeaseToken);

impl<S: Send + Sync> FromRequestParts<S> for Lease {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let token = parts.headers.get(LEASE_HEADER).and_then(|value| value.to_str().ok()).map(str::trim);
        match token {
            Some(token) if !token.is_empty() && token.len() <= 128 => Ok(Self(LeaseToken(token.to_owned()))),
            _ => Err(ApiError::validation(
                "send the lease of the task as the X-Atelier-Lease header",
                serde_json::json!({ "field": "X-Atelier-Lease", "reason": "is required" }),
            )),
        }
    }
}
