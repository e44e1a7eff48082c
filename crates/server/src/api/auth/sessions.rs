//! Browser sessions: sign in with email, password and (when on) a two-factor
//! code; the first run's one-time link; sign out.
//!
//! Sessions are server-side rows behind an `HttpOnly; SameSite=Strict` cookie,
//! with a CSRF token for unsafe requests (see ARCHITECTURE.md for why cookies and
//! not JWTs).

use atelier_core::account::SignedIn;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::me::MeView;
use super::{Caller, SESSION_COOKIE, cookie};
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppQuery};
use crate::app::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
    /// The authenticator's 6-digit code, or a recovery code, when two-factor is on.
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    /// Send it back as `X-CSRF-Token` on every request that changes something.
    pub csrf_token: String,
    /// ISO 8601.
    pub expires_at: String,
}

fn session_cookie(state: &AppState, signed_in: &SignedIn) -> HeaderValue {
    let secure = if state.config.auth.cookie_secure { "; Secure" } else { "" };
    let max_age = (signed_in.session.expires_at - signed_in.session.created_at) / 1000;
    let value =
        format!("{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", signed_in.token);
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn signed_in_response(state: &AppState, signed_in: &SignedIn) -> Response {
    let view = SessionView {
        user_id: signed_in.user.id.to_string(),
        email: signed_in.user.email.clone(),
        role: signed_in.user.role.to_string(),
        csrf_token: signed_in.session.csrf_token.clone(),
        expires_at: crate::api::views::timestamp(signed_in.session.expires_at),
    };
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(state, signed_in));
    response
}

/// Signs in: sets the session cookie. Wrong credentials are 401; two-factor accounts
/// without a code get 401 `totp_required`; repeated failures 429.
#[utoipa::path(post, path = "/sessions", tag = "accounts", request_body = SignInRequest,
    responses((status = 201, body = SessionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(()))]
pub async fn sign_in(State(state): State<AppState>, AppJson(request): AppJson<SignInRequest>) -> ApiResult<Response> {
    let signed_in = state.accounts.sign_in(&request.email, &request.password, request.code.as_deref()).await?;
    Ok(signed_in_response(&state, &signed_in))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    pub token: String,
}

/// The first run's one-time sign-in link: sets the session cookie and goes to the
/// studio.
#[utoipa::path(get, path = "/sessions/link", tag = "accounts", params(LinkQuery),
    responses((status = 303, description = "Signed in; on to the studio"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(()))]
pub async fn sign_in_with_link(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<LinkQuery>,
) -> ApiResult<Response> {
    let signed_in = state.accounts.sign_in_with_link(&query.token).await?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, &signed_in));
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionStateView {
    pub signed_in: bool,
    /// The signed-in user, with the session's CSRF token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub me: Option<MeView>,
}

/// Whether this browser is signed in. Always 200, so a page can ask without an
/// error; only the session cookie is looked at (an expired, revoked or forged
/// one is simply "not signed in").
#[utoipa::path(get, path = "/sessions/current", tag = "accounts",
    responses((status = 200, body = SessionStateView)), security(()))]
pub async fn current_session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<SessionStateView>> {
    let signed_out = Json(SessionStateView { signed_in: false, me: None });
    let Some(token) = cookie(&headers, SESSION_COOKIE) else { return Ok(signed_out) };
    match state.accounts.authenticate_session(token).await {
        Ok(caller) => {
            let me = super::me::me_view(&state, &caller).await?;
            Ok(Json(SessionStateView { signed_in: true, me: Some(me) }))
        }
        Err(atelier_core::CoreError::Unauthenticated { .. }) => Ok(signed_out),
        Err(error) => Err(error.into()),
    }
}

/// Signs out (ends this browser session; a key is revoked instead).
#[utoipa::path(delete, path = "/sessions/current", tag = "accounts",
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody)))]
pub async fn sign_out(
    State(state): State<AppState>,
    Caller(caller): Caller,
    _headers: HeaderMap,
) -> ApiResult<Response> {
    state.accounts.sign_out(&caller).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("atelier_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}
