//! The audit log (admins only): sign-ins, keys, two-factor and role changes.

use atelier_core::account::AuditEntry;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::views::timestamp;
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this id (the `next_before` of the previous page).
    pub before: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: String,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditListView {
    pub entries: Vec<AuditEntryView>,
    pub next_before: Option<i64>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id,
            at: timestamp(entry.at),
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            detail: entry.detail,
        }
    }
}

/// The audit log, newest first (admins only).
#[utoipa::path(get, path = "/audit", tag = "accounts", params(AuditQuery),
    responses((status = 200, body = AuditListView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn audit_log(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<AuditQuery>,
) -> ApiResult<Json<AuditListView>> {
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let entries = state.accounts.audit_log(&caller, query.before, limit).await?;
    let next_before = (entries.len() == limit as usize).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(Json(AuditListView { entries: entries.into_iter().map(AuditEntryView::from).collect(), next_before }))
}
