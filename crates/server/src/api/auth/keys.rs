//! API keys: created (shown once), listed, revoked.

use atelier_core::ApiKeyId;
use atelier_core::account::{ApiKey, Role};
use atelier_core::time::now_millis;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath, AppQuery};
use crate::api::views::timestamp;
use crate::app::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The visible start of the key, to tell keys apart.
    pub prefix: String,
    pub role: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id.to_string(),
            user_id: key.user_id.to_string(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            role: key.role.to_string(),
            created_at: timestamp(key.created_at),
            expires_at: key.expires_at.map(timestamp),
            last_used_at: key.last_used_at.map(timestamp),
            revoked_at: key.revoked_at.map(timestamp),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyView {
    /// The key itself: shown this once, stored only as a hash.
    pub key: String,
    #[serde(flatten)]
    pub details: KeyView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// What the key is for.
    #[serde(default)]
    pub name: String,
    /// `admin`, `member` or `viewer`; at most the owner's role (the owner's by default).
    #[serde(default)]
    pub role: Option<String>,
    /// Days until it stops working; none: until revoked.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// Another user's id (admins only).
    #[serde(default)]
    pub user_id: Option<String>,
}

/// Creates an API key. The answer holds the key; it is never shown again.
#[utoipa::path(post, path = "/keys", tag = "accounts", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKeyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKeyView>)> {
    let role = match request.role.as_deref() {
        Some(text) => Some(Role::parse(text).ok_or_else(|| {
            ApiError::validation(
                "role: must be admin, member or viewer",
                serde_json::json!({ "field": "role", "reason": "must be admin, member or viewer" }),
            )
        })?),
        None => None,
    };
    let expires_at = match request.expires_in_days {
        Some(days) if (1..=3650).contains(&days) => Some(now_millis() + i64::from(days) * 86_400_000),
        Some(_) => {
            return Err(ApiError::validation(
                "expires_in_days: must be between 1 and 3650",
                serde_json::json!({ "field": "expires_in_days", "reason": "must be between 1 and 3650" }),
            ));
        }
        None => None,
    };
    let owner = match request.user_id.as_deref() {
        Some(id) => Some(atelier_core::UserId::parse(id).ok_or_else(|| ApiError::not_found("user"))?),
        None => None,
    };
    let created = state.accounts.create_key(&caller, owner.as_ref(), &request.name, role, expires_at).await?;
    Ok((StatusCode::CREATED, Json(CreatedKeyView { key: created.secret, details: KeyView::from(&created.key) })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListKeysQuery {
    /// Everyone's keys (admins only).
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyListView {
    pub keys: Vec<KeyView>,
}

/// The caller's keys (everyone's with `all=true`, for admins). Never the keys
/// themselves.
#[utoipa::path(get, path = "/keys", tag = "accounts", params(ListKeysQuery),
    responses((status = 200, body = KeyListView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_keys(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<ListKeysQuery>,
) -> ApiResult<Json<KeyListView>> {
    let keys = state.accounts.list_keys(&caller, query.all).await?;
    Ok(Json(KeyListView { keys: keys.iter().map(KeyView::from).collect() }))
}

/// Revokes a key at once.
#[utoipa::path(delete, path = "/keys/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Key id (key_…)")),
    responses((status = 200, body = KeyView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<KeyView>> {
    let id = ApiKeyId::parse(&id).ok_or_else(|| ApiError::not_found("key"))?;
    let key = state.accounts.revoke_key(&caller, &id).await?;
    Ok(Json(KeyView::from(&key)))
}
