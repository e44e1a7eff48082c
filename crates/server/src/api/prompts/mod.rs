//! `/api/v1/prompts`: prompt trees (seed 003). A prompt is written once; an edit
//! is a new child (a branch). Tasks name the prompt they are made from
//! (`prompt_id` on `POST /api/v1/tasks`), and the tree route shows every node with
//! its newest tasks, their statuses and thumbnails.

mod create;
mod delete;
mod get;
mod list;
mod tree;
mod update;

use atelier_core::PromptId;
use atelier_core::prompt::{Prompt, PromptDetail, PromptNode};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiError;
use crate::api::views::{TaskView, timestamp};
use crate::app::AppState;

pub use create::{CreatePromptRequest, PromptType};
pub use update::UpdatePromptRequest;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_prompt, list::list_prompts))
        .routes(routes!(get::get_prompt, update::update_prompt, delete::delete_prompt))
        .routes(routes!(tree::prompt_tree))
}

/// Parses a prompt id from a path; a malformed id is simply not found.
pub(crate) fn parse_prompt_id(id: &str) -> Result<PromptId, ApiError> {
    PromptId::parse(id).ok_or_else(|| ApiError::not_found("prompt"))
}

/// A prompt's own fields, shared by the prompt and the tree-node answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptFields {
    /// `prm_…`
    pub id: String,
    /// `image`, `video`, `audio` or `text`.
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    /// The prompt it branched from; null for a root.
    pub parent_id: Option<String>,
    /// The root of its tree (its own id for a root).
    pub root_id: String,
    /// Levels below the root (0 for a root).
    pub depth: u32,
    /// The user's score, 1 to 5.
    pub feedback_score: Option<u8>,
    pub feedback_comment: Option<String>,
    /// Written by a client or an agent; Atelier runs no AI itself.
    pub ai_comment: Option<String>,
    /// ISO 8601.
    pub created_at: String,
    /// ISO 8601.
    pub updated_at: String,
}

impl From<&Prompt> for PromptFields {
    fn from(prompt: &Prompt) -> Self {
        Self {
            id: prompt.id.to_string(),
            kind: prompt.kind.as_str().to_owned(),
            content: prompt.content.clone(),
            parent_id: prompt.parent.as_ref().map(ToString::to_string),
            root_id: prompt.root.to_string(),
            depth: prompt.depth,
            feedback_score: prompt.feedback_score,
            feedback_comment: prompt.feedback_comment.clone(),
            ai_comment: prompt.ai_comment.clone(),
            created_at: timestamp(prompt.created_at),
            updated_at: timestamp(prompt.updated_at),
        }
    }
}

/// A prompt, with the ids of its children.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptView {
    #[serde(flatten)]
    pub prompt: PromptFields,
    /// Its children's ids, oldest first.
    pub children: Vec<String>,
}

impl PromptView {
    fn new(prompt: &Prompt, children: Vec<String>) -> Self {
        Self { prompt: PromptFields::from(prompt), children }
    }
}

impl From<&PromptDetail> for PromptView {
    fn from(detail: &PromptDetail) -> Self {
        Self::new(&detail.prompt, detail.children.iter().map(ToString::to_string).collect())
    }
}

/// A node of a prompt tree: the prompt's fields, its children as nodes, and its
/// newest tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptNodeView {
    #[serde(flatten)]
    pub prompt: PromptFields,
    /// Its children, oldest first.
    #[schema(no_recursion)]
    pub children: Vec<PromptNodeView>,
    /// The tasks made from this prompt, newest first (at most 20), with their
    /// status, progress and outputs (`images[].thumbnail_url`).
    pub tasks: Vec<TaskView>,
}

impl From<&PromptNode> for PromptNodeView {
    fn from(node: &PromptNode) -> Self {
        Self {
            prompt: PromptFields::from(&node.prompt),
            // Trees are at most 100 levels deep, so this recursion is bounded.
            children: node.children.iter().map(PromptNodeView::from).collect(),
            tasks: node.tasks.iter().map(TaskView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromptListView {
    /// Root prompts, newest first.
    pub prompts: Vec<PromptView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
