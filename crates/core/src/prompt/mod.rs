//! Prompts as a tree (seed 003's `model Prompt`): each prompt has a type, its
//! text, a parent and children, the user's feedback, a comment an agent wrote, and
//! the generation tasks made from it (and through them, their outputs). Content
//! never changes: an edit is a new child, a branch.

mod model;
mod service;

pub use model::{
    MAX_AI_COMMENT_CHARS, MAX_CONTENT_CHARS, MAX_FEEDBACK_COMMENT_CHARS, MAX_TREE_DEPTH, MAX_TREE_NODES, NewPrompt,
    Prompt, PromptDeletion, PromptDetail, PromptKind, PromptNode, PromptPage, PromptUpdate, TASKS_PER_NODE,
};
pub use service::PromptService;
