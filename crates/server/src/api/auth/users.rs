//! Users (admins only): list, create, change a role, disable.

use atelier_core::UserId;
use atelier_core::account::{Role, User};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::api::views::timestamp;
use crate::app::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub totp_enabled: bool,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.clone(),
            role: user.role.to_string(),
            disabled: user.disabled,
            totp_enabled: user.totp_enabled,
            created_at: timestamp(user.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserListView {
    pub users: Vec<UserView>,
}

fn parse_role(text: &str) -> ApiResult<Role> {
    Role::parse(text).ok_or_else(|| {
        ApiError::validation(
            "role: must be admin, member or viewer",
            serde_json::json!({ "field": "role", "reason": "must be admin, member or viewer" }),
        )
    })
}

/// Every user (admins only).
#[utoipa::path(get, path = "/users", tag = "accounts",
    responses((status = 200, body = UserListView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<UserListView>> {
    let users = state.accounts.list_users(&caller).await?;
    Ok(Json(UserListView { users: users.iter().map(UserView::from).collect() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    /// 10 to 256 characters; none: the user cannot sign in with a password (keys only).
    #[serde(default)]
    pub password: Option<String>,
    /// `admin`, `member` (default) or `viewer`.
    #[serde(default)]
    pub role: Option<String>,
}

/// Creates a user (admins only).
#[utoipa::path(post, path = "/users", tag = "accounts", request_body = CreateUserRequest,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let role = request.role.as_deref().map(parse_role).transpose()?.unwrap_or(Role::Member);
    let user = state.accounts.create_user(Some(&caller), &request.email, request.password.as_deref(), role).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Changes a user's role, or disables it (admins only; audited).
#[utoipa::path(patch, path = "/users/{id}", tag = "accounts", request_body = UpdateUserRequest,
    params(("id" = String, Path, description = "User id (usr_…)")),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<UpdateUserRequest>,
) -> ApiResult<Json<UserView>> {
    let id = UserId::parse(&id).ok_or_else(|| ApiError::not_found("user"))?;
    let role = request.role.as_deref().map(parse_role).transpose()?;
    let user = state.accounts.update_user(&caller, &id, role, request.disabled).await?;
    Ok(Json(UserView::from(&user)))
}
