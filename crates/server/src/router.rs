//! Every route, merged: `/api/v1/…`, the OpenAPI document and the docs page.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::error::ApiError;
use crate::api::{assets, callbacks, compat, models, providers, system, tasks, uploads};
use crate::app::AppState;
use crate::openapi::ApiDoc;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(tasks::routes())
        .merge(assets::routes())
        .merge(compat::routes())
        .merge(callbacks::routes())
        .merge(uploads::routes(state.config.server.max_upload_bytes))
        .route("/models", get(models::list_models))
        .route("/providers", get(providers::list_providers))
        .route("/health", get(system::health))
        .route("/system/info", get(system::system_info));
    let max_body = state.config.server.max_body_bytes;
    Router::new()
        .nest("/api/v1", api)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| axum::response::IntoResponse::into_response(ApiError::internal())))
        .layer(TraceLayer::new_for_http())
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
