//! The prompt store: prompt trees (seed 003) and the link from tasks to prompts.

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{PromptId, UserId};
use crate::prompt::{Prompt, PromptDeletion, PromptPage};
use crate::task::Task;

#[async_trait]
pub trait PromptStore: Send + Sync + 'static {
    async fn create_prompt(&self, prompt: &Prompt) -> Result<()>;
    async fn get_prompt(&self, id: &PromptId) -> Result<Option<Prompt>>;
    /// Root prompts (no parent), newest first, of one owner (or everyone's), older
    /// than `before`; a page of at most `limit`.
    async fn list_root_prompts(
        &self,
        owner: Option<&UserId>,
        before: Option<&PromptId>,
        limit: u32,
    ) -> Result<PromptPage>;
    /// A prompt's children, oldest first.
    async fn list_child_prompts(&self, id: &PromptId) -> Result<Vec<Prompt>>;
    /// How many prompts the tree with this root holds.
    async fn count_tree_prompts(&self, root: &PromptId) -> Result<u64>;
    /// The prompts of the tree with this root, oldest first, at most `limit`.
    async fn tree_prompts(&self, root: &PromptId, limit: u32) -> Result<Vec<Prompt>>;
    /// The tasks linked to the prompts of the tree with this root (only `owner`'s
    /// when given), with their outputs: at most `per_prompt` per prompt, newest first.
    async fn tree_tasks(&self, root: &PromptId, owner: Option<&UserId>, per_prompt: u32) -> Result<Vec<Task>>;
    /// Writes a prompt's feedback, AI comment and `updated_at`; false when it is gone.
    async fn update_prompt(&self, prompt: &Prompt) -> Result<bool>;
    /// Deletes a prompt that has no children, and unlinks its tasks (their
    /// `prompt_id` becomes null), in one transaction.
    async fn delete_prompt(&self, id: &PromptId) -> Result<PromptDeletion>;
}
