//! Every route, merged: `/api/v1/…` (public and protected sub-routers, each route
//! registered once with its OpenAPI annotation), the OpenAPI document, the docs page
//! and the web studio at `/`.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{Method, StatusCode, Uri};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::error::ApiError;
use crate::api::{
    assets, auth, callbacks, compat, models, openai, providers, qrcodes, system, tasks, three_d, uploads, workers,
};
use crate::api::{dead_letter, pipelines, places, prompts};
use crate::app::AppState;
use crate::openapi::ApiDoc;

pub fn router(state: AppState) -> Router {
    build(state, None)
}

/// The same router with authentication replaced by a fixed caller: for the
/// benchmark that measures what authentication costs per request, and nothing else
/// (no configuration reaches it; the server always uses [`router`]).
#[doc(hidden)]
pub fn router_trusting_for_benchmarks(state: AppState, caller: atelier_core::account::Principal) -> Router {
    build(state, Some(caller))
}

/// The API's routes, each registered once: the router and the OpenAPI document
/// come from the same list. Public routes are their own sub-router; every other
/// route sits behind authentication.
pub fn api_routes(
    max_upload_bytes: usize,
    max_output_bytes: usize,
) -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    // Remote workers authenticate with worker keys, checked by their own extractor.
    let public = OpenApiRouter::new()
        .merge(system::public_routes())
        .merge(workers::worker_routes(max_output_bytes))
        .merge(auth::public_routes())
        .merge(callbacks::routes())
        .merge(assets::public_routes());
    let protected = OpenApiRouter::new()
        .merge(tasks::routes())
        .merge(assets::routes())
        .merge(compat::routes())
        .merge(uploads::routes(max_upload_bytes))
        .merge(prompts::routes())
        .merge(places::routes())
        .merge(pipelines::routes())
        .merge(models::routes())
        .merge(providers::routes())
        .merge(system::routes())
        .merge(auth::routes())
        .merge(qrcodes::routes())
        .merge(workers::admin_routes())
        .merge(three_d::routes())
        .merge(dead_letter::routes())
        .merge(crate::api::webhooks::routes())
        .merge(crate::api::ws::routes());
    (public, protected)
}

/// The OpenAPI document, as the server serves it at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (public, protected) = api_routes(0, 0);
    let mut document =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", public.merge(protected)).into_openapi();
    crate::openapi::protect(&mut document);
    document
}

fn build(state: AppState, trusted: Option<atelier_core::account::Principal>) -> Router {
    let max_output = usize::try_from(state.config.pull.max_output_bytes).unwrap_or(usize::MAX);
    let (public, protected) = api_routes(state.config.server.max_upload_bytes, max_output.saturating_add(1 << 20));
    let guard = axum::middleware::from_fn_with_state(state.clone(), auth::authenticate);
    let protected = match trusted {
        None => protected.route_layer(guard.clone()),
        Some(caller) => protected.route_layer(axum::middleware::from_fn(
            move |mut request: axum::extract::Request, next: axum::middleware::Next| {
                request.extensions_mut().insert(caller.clone());
                next.run(request)
            },
        )),
    };
    let (api, mut document) =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", public.merge(protected)).split_for_parts();
    crate::openapi::protect(&mut document);
    let max_body = state.config.server.max_body_bytes;
    let api = if state.config.openai_api.enabled {
        // OpenAI's routes answer OpenAI's error shape, authentication's included.
        let openai = openai::routes(state.config.server.max_upload_bytes)
            .route_layer(guard.clone())
            .fallback(openai::not_found)
            .layer(axum::middleware::map_response(openai::reshape));
        api.nest("/v1", openai)
    } else {
        api
    };
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .merge(crate::studio::routes())
        .merge(crate::metrics::routes(&state.config.metrics))
        // An unknown `/api/` path answers 401 to a caller without a key, as a real one
        // would: nothing tells which routes exist.
        .fallback(not_found.layer(guard))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| axum::response::IntoResponse::into_response(ApiError::internal())))
        .layer(axum::middleware::from_fn_with_state(state.config.metrics.enabled, crate::metrics::track))
        // Spans name the method and the path only: a query string may carry a
        // one-time sign-in token, and headers carry keys and cookies.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
