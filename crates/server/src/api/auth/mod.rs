//! Authentication, always on: every `/api/v1` route but the public ones needs an
//! API key (`Authorization: Bearer atl_…`) or a browser session (an `HttpOnly`,
//! `SameSite=Strict` cookie; unsafe methods also need the session's CSRF token in
//! `X-CSRF-Token`). Handlers take the caller as [`Caller`].
//!
//! Public routes sit on their own sub-router (see `router.rs`): `GET /api/v1/health`;
//! signing in (`POST /api/v1/sessions`, the first run's one-time link, asking whether
//! one is signed in); providers' callbacks (which carry no credential of ours, are
//! checked by their own signature when the provider signs, and only make a task poll
//! sooner).

pub mod audit;
pub mod keys;
pub mod me;
pub mod sessions;
pub mod users;

use atelier_core::CoreError;
use atelier_core::account::{Credential, Principal};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiError;
use crate::app::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "atelier_session";
/// The header carrying a session's CSRF token on unsafe requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().map(Caller).ok_or_else(|| {
            // A route that takes a caller but was left out of the auth layer: refuse.
            ApiError::from(CoreError::Unauthenticated { code: "unauthorized", message: "sign in first".into() })
        })
    }
}

/// Public: signing in, the first run's one-time link, and asking whether one is
/// signed in (always 200).
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sessions::sign_in))
        .routes(routes!(sessions::sign_in_with_link))
        .routes(routes!(sessions::current_session))
}

/// Behind [`authenticate`].
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sessions::sign_out))
        .routes(routes!(me::me))
        .routes(routes!(me::set_password))
        .routes(routes!(me::begin_totp, me::disable_totp))
        .routes(routes!(me::confirm_totp))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user))
        .routes(routes!(audit::audit_log))
}

/// The value of one cookie.
pub fn cookie<'a>(parts: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    parts.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// The middleware on every route but the public ones (and on unknown `/api/`
/// paths, so that a caller without a key learns nothing of which exist): finds the
/// caller, or answers 401 (403 for a session request without its CSRF token).
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // Inside the nested API router the URI is relative; the original one says
    // whether this is an API path at all (the fallback serves every other path too).
    let path = request.extensions().get::<axum::extract::OriginalUri>().map_or(request.uri(), |uri| &uri.0).path();
    // `/v1/` is the OpenAI-compatible API (`api/openai`), authenticated the same way.
    if !path.starts_with("/api/") && !path.starts_with("/v1/") {
        return next.run(request).await;
    }
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::to_owned);
    let session = cookie(headers, SESSION_COOKIE).map(str::to_owned);
    let result = match (bearer, session) {
        (Some(key), _) => state.accounts.authenticate_key(&key).await,
        (None, Some(token)) => state.accounts.authenticate_session(&token).await,
        (None, None) => Err(CoreError::Unauthenticated {
            code: "unauthorized",
            message: "send an API key as `Authorization: Bearer <key>`, or sign in".into(),
        }),
    };
    let principal = match result {
        Ok(principal) => principal,
        Err(error) => return unauthorized(error),
    };
    if let Credential::Session { csrf_token, .. } = &principal.credential {
        let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let presented = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !safe && !presented.is_some_and(|t| atelier_core::account::secrets::same_hash(t, csrf_token)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_token_missing",
                "a signed-in browser request that changes something needs the X-CSRF-Token header",
            )
            .into_response();
        }
    }
    let per_minute = state.config.user_limits.for_role(principal.role).requests_per_minute;
    if per_minute > 0 {
        let limit =
            atelier_core::ratelimit::RateLimit { requests: per_minute, window: std::time::Duration::from_secs(60) };
        match state.request_limits.acquire(principal.user_id.as_str(), limit).await {
            Ok(Ok(())) => {}
            Ok(Err(wait)) => {
                return ApiError::from(CoreError::Overloaded {
                    message: format!("more than {per_minute} requests a minute; slow down"),
                    retry_after: wait.max(std::time::Duration::from_secs(1)),
                })
                .into_response();
            }
            // The count is in the database, shared by every instance. When it cannot be
            // read the request goes through (fail open) with a warning, rather than a
            // 503: the limit guards against a client sending too much, not the data, and
            // the request's own work meets the same database and answers for itself (a
            // 503 `storage_unavailable` when it is down). A key, a session and the
            // caller's role were checked above all the same.
            Err(error) => {
                let user = &principal.user_id;
                tracing::warn!(%error, %user, "could not count the request rate limit; letting the request through");
            }
        }
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

pub(crate) fn unauthorized(error: CoreError) -> Response {
    let mut response = ApiError::from(error).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer realm=\"atelier\""));
    response
}
