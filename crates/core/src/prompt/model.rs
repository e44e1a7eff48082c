use serde::{Deserialize, Serialize};

use crate::ids::{PromptId, UserId};
use crate::task::Task;
use crate::time::Millis;

/// A prompt's text: at most this many characters (after trimming; at least one).
pub const MAX_CONTENT_CHARS: usize = 32_000;
pub const MAX_FEEDBACK_COMMENT_CHARS: usize = 4_000;
pub const MAX_AI_COMMENT_CHARS: usize = 4_000;
/// A tree holds at most this many prompts: a branch past it is refused, and a tree
/// is read whole.
pub const MAX_TREE_NODES: u32 = 1_000;
/// A branch is at most this many levels below its root (the tree is nested when
/// read, and JSON readers limit nesting).
pub const MAX_TREE_DEPTH: u32 = 100;
/// A tree's node carries at most this many of its tasks, newest first.
pub const TASKS_PER_NODE: u32 = 20;

/// What a prompt asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptKind {
    #[default]
    Image,
    Video,
    Audio,
    Text,
}

impl PromptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Text => "text",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "image" => Some(Self::Image),
            "video" => Some(Self::Video),
            "audio" => Some(Self::Audio),
            "text" => Some(Self::Text),
            _ => None,
        }
    }
}

/// A prompt as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub id: PromptId,
    /// Who wrote it (`None` only for rows made without accounts; admins see those).
    pub owner: Option<UserId>,
    /// The prompt it branched from; `None` for a root.
    pub parent: Option<PromptId>,
    /// The root of its tree (its own id for a root).
    pub root: PromptId,
    /// Levels below the root (0 for a root).
    pub depth: u32,
    pub kind: PromptKind,
    /// Trimmed, never blank; never changes.
    pub content: String,
    /// The user's score, 1 to 5.
    pub feedback_score: Option<u8>,
    pub feedback_comment: Option<String>,
    /// Written by a client or an agent; Atelier runs no AI itself.
    pub ai_comment: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A request to write a prompt.
#[derive(Debug, Clone, Default)]
pub struct NewPrompt {
    pub kind: PromptKind,
    pub content: String,
    /// Branch from this prompt (it must be visible to the caller).
    pub parent: Option<PromptId>,
}

/// A change to a prompt's feedback: `None` leaves a field as it is, `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptUpdate {
    pub feedback_score: Option<Option<u8>>,
    pub feedback_comment: Option<Option<String>>,
    pub ai_comment: Option<Option<String>>,
}

/// A prompt with the ids of its children (those the caller may see), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptDetail {
    pub prompt: Prompt,
    pub children: Vec<PromptId>,
}

/// One node of a tree: the prompt, its children, and its newest tasks (at most
/// [`TASKS_PER_NODE`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptNode {
    pub prompt: Prompt,
    pub children: Vec<PromptNode>,
    pub tasks: Vec<Task>,
}

/// A page of root prompts, newest first.
#[derive(Debug, Clone)]
pub struct PromptPage {
    pub prompts: Vec<Prompt>,
    /// The cursor for the next page, when there may be one.
    pub next_cursor: Option<PromptId>,
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptDeletion {
    Deleted,
    /// The prompt has children; nothing was deleted.
    HasChildren,
    NotFound,
}
