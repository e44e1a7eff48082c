//! The caller's own account: who am I, password, TOTP two-factor enrolment.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::app::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub user_id: String,
    pub email: String,
    /// The effective role of this request (a key may have less than its user).
    pub role: String,
    pub totp_enabled: bool,
    pub has_password: bool,
    /// `api_key` or `session`.
    pub signed_in_with: String,
    /// The session's CSRF token (browser sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Who the caller is.
#[utoipa::path(get, path = "/me", tag = "accounts",
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<MeView>> {
    Ok(Json(me_view(&state, &caller).await?))
}

/// What `GET /me` answers for `caller` (also the signed-in half of `GET /sessions/current`).
pub(crate) async fn me_view(state: &AppState, caller: &atelier_core::account::Principal) -> ApiResult<MeView> {
    let user = state.accounts.user_of(caller).await?;
    let (signed_in_with, csrf_token) = match &caller.credential {
        atelier_core::account::Credential::ApiKey(_) => ("api_key", None),
        atelier_core::account::Credential::Session { csrf_token, .. } => ("session", Some(csrf_token.clone())),
        atelier_core::account::Credential::Run(_) => ("pipeline_run", None),
    };
    Ok(MeView {
        user_id: user.id.to_string(),
        email: user.email,
        role: caller.role.to_string(),
        totp_enabled: user.totp_enabled,
        has_password: user.password_hash.is_some(),
        signed_in_with: signed_in_with.into(),
        csrf_token,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// Needed once a password is set.
    #[serde(default)]
    pub old_password: Option<String>,
    /// 10 to 256 characters.
    pub new_password: String,
}

/// Sets the caller's password.
#[utoipa::path(put, path = "/me/password", tag = "accounts", request_body = PasswordRequest,
    responses((status = 204, description = "Changed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<PasswordRequest>,
) -> ApiResult<StatusCode> {
    state.accounts.set_password(&caller, request.old_password.as_deref(), &request.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolmentView {
    /// Base32, for typing into an app by hand.
    pub secret: String,
    /// `otpauth://totp/Atelier:<email>?secret=…&issuer=Atelier…`
    pub otpauth_uri: String,
    /// The URI as a QR code: a PNG data URI…
    pub qr_png: String,
    /// …and an SVG document.
    pub qr_svg: String,
}

/// Starts two-factor enrolment: scan the QR code, then confirm with a first code.
#[utoipa::path(post, path = "/me/totp", tag = "accounts",
    responses((status = 201, body = TotpEnrolmentView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn begin_totp(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<(StatusCode, Json<TotpEnrolmentView>)> {
    let enrolment = state.accounts.begin_totp(&caller).await?;
    let png = qr(&enrolment.otpauth_uri, atelier_providers::local::qr::Format::Png)?;
    let svg = qr(&enrolment.otpauth_uri, atelier_providers::local::qr::Format::Svg)?;
    let view = TotpEnrolmentView {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_png: format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&png)),
        qr_svg: String::from_utf8_lossy(&svg).into_owned(),
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// A QR code of `text` through the `local/qr` engine.
pub fn qr(text: &str, format: atelier_providers::local::qr::Format) -> ApiResult<bytes::Bytes> {
    let params = atelier_providers::local::qr::parse(&serde_json::json!({
        "text": text, "size": 320, "error_correction": "M", "format": format,
    }))?;
    let output = atelier_providers::local::qr::render(&params).map_err(|error| {
        tracing::error!(%error, "rendering a QR code failed");
        ApiError::internal()
    })?;
    // The QR engine renders in memory.
    output.bytes().cloned().ok_or_else(ApiError::internal)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// A 6-digit code from the authenticator (or, to turn two-factor off, a recovery code).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// Each works once in place of a code. Shown this once: keep them safe.
    pub recovery_codes: Vec<String>,
}

/// Confirms enrolment with a first code: two-factor is on from now.
#[utoipa::path(post, path = "/me/totp/confirm", tag = "accounts", request_body = CodeRequest,
    responses((status = 200, body = RecoveryCodesView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<CodeRequest>,
) -> ApiResult<Json<RecoveryCodesView>> {
    let recovery_codes = state.accounts.confirm_totp(&caller, &request.code).await?;
    Ok(Json(RecoveryCodesView { recovery_codes }))
}

/// Turns two-factor off (needs a current code or a recovery code).
#[utoipa::path(delete, path = "/me/totp", tag = "accounts", request_body = CodeRequest,
    responses((status = 204, description = "Off"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn disable_totp(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    state.accounts.disable_totp(&caller, &request.code).await?;
    Ok(StatusCode::NO_CONTENT)
}
