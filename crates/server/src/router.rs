//! Every route, merged: `/api/v1/…`, the OpenAPI document, the docs page and the
//! web studio at `/`.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{delete, get, patch, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::error::ApiError;
use crate::api::prompts;
use crate::api::{assets, auth, callbacks, compat, models, providers, qrcodes, system, tasks, uploads};
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

fn build(state: AppState, trusted: Option<atelier_core::account::Principal>) -> Router {
    let api = Router::new()
        .merge(tasks::routes())
        .merge(assets::routes())
        .merge(compat::routes())
        .merge(callbacks::routes())
        .merge(uploads::routes(state.config.server.max_upload_bytes))
        .merge(prompts::routes())
        .route("/models", get(models::list_models))
        .route("/providers", get(providers::list_providers))
        .route("/health", get(system::health))
        .route("/system/info", get(system::system_info))
        .route("/sessions", post(auth::sessions::sign_in))
        .route("/sessions/link", get(auth::sessions::sign_in_with_link))
        .route("/sessions/current", get(auth::sessions::current_session).delete(auth::sessions::sign_out))
        .route("/me", get(auth::me::me))
        .route("/me/password", put(auth::me::set_password))
        .route("/me/totp", post(auth::me::begin_totp).delete(auth::me::disable_totp))
        .route("/me/totp/confirm", post(auth::me::confirm_totp))
        .route("/keys", get(auth::keys::list_keys).post(auth::keys::create_key))
        .route("/keys/{id}", delete(auth::keys::revoke_key))
        .route("/users", get(auth::users::list_users).post(auth::users::create_user))
        .route("/users/{id}", patch(auth::users::update_user))
        .route("/audit", get(auth::audit::audit_log))
        .route("/qrcodes", post(qrcodes::create_qrcode));
    let max_body = state.config.server.max_body_bytes;
    let routes = Router::new()
        .nest("/api/v1", api)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .merge(crate::studio::routes());
    let routes = match trusted {
        None => routes.layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate)),
        Some(caller) => routes.layer(axum::middleware::from_fn(
            move |mut request: axum::extract::Request, next: axum::middleware::Next| {
                request.extensions_mut().insert(caller.clone());
                next.run(request)
            },
        )),
    };
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| axum::response::IntoResponse::into_response(ApiError::internal())))
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
