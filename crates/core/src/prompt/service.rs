//! The prompt operations the API offers, with their rules: who sees what (the
//! caller's own prompts, everything for an admin; another user's prompt is "not
//! found"), content that never changes (an edit is a branch), feedback bounds,
//! bounded trees, and deletes that never orphan a child.

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    MAX_AI_COMMENT_CHARS, MAX_CONTENT_CHARS, MAX_FEEDBACK_COMMENT_CHARS, MAX_TREE_DEPTH, MAX_TREE_NODES, NewPrompt,
    Prompt, PromptDeletion, PromptDetail, PromptNode, PromptPage, PromptUpdate, TASKS_PER_NODE,
};
use crate::account::Principal;
use crate::error::{CoreError, Result};
use crate::ids::PromptId;
use crate::ports::PromptStore;
use crate::task::{Task, require_write};
use crate::time::now_millis;

pub struct PromptService {
    store: Arc<dyn PromptStore>,
}

impl PromptService {
    pub fn new(store: Arc<dyn PromptStore>) -> Self {
        Self { store }
    }

    /// Writes a prompt owned by the caller: a root, or a branch of a prompt the
    /// caller may see (else "not found").
    pub async fn create(&self, caller: &Principal, request: NewPrompt) -> Result<Prompt> {
        require_write(caller)?;
        let content = request.content.trim();
        if content.is_empty() {
            return Err(CoreError::invalid("content", "must not be blank"));
        }
        if content.chars().count() > MAX_CONTENT_CHARS {
            return Err(CoreError::invalid("content", format!("at most {MAX_CONTENT_CHARS} characters")));
        }
        let id = PromptId::new();
        let (root, depth) = match &request.parent {
            Some(parent) => {
                let parent = self.get(caller, parent).await?;
                if parent.depth >= MAX_TREE_DEPTH {
                    return Err(CoreError::Conflict {
                        code: "prompt_tree_too_deep",
                        message: format!("a branch may be at most {MAX_TREE_DEPTH} levels below its root"),
                    });
                }
                let size = self.store.count_tree_prompts(&parent.root).await?;
                if size >= u64::from(MAX_TREE_NODES) {
                    return Err(CoreError::Conflict {
                        code: "prompt_tree_full",
                        message: format!("a prompt tree holds at most {MAX_TREE_NODES} prompts"),
                    });
                }
                (parent.root, parent.depth + 1)
            }
            None => (id.clone(), 0),
        };
        let now = now_millis();
        let prompt = Prompt {
            id,
            owner: Some(caller.user_id.clone()),
            parent: request.parent,
            root,
            depth,
            kind: request.kind,
            content: content.to_owned(),
            feedback_score: None,
            feedback_comment: None,
            ai_comment: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_prompt(&prompt).await?;
        Ok(prompt)
    }

    /// A prompt the caller may see: its own, or any for an admin.
    pub async fn get(&self, caller: &Principal, id: &PromptId) -> Result<Prompt> {
        self.store
            .get_prompt(id)
            .await?
            .filter(|prompt| caller.may_see(prompt.owner.as_ref()))
            .ok_or(CoreError::NotFound { what: "prompt" })
    }

    /// A prompt with the ids of the children the caller may see.
    pub async fn get_detail(&self, caller: &Principal, id: &PromptId) -> Result<PromptDetail> {
        let prompt = self.get(caller, id).await?;
        self.detail(caller, prompt).await
    }

    async fn detail(&self, caller: &Principal, prompt: Prompt) -> Result<PromptDetail> {
        let children = self
            .store
            .list_child_prompts(&prompt.id)
            .await?
            .into_iter()
            .filter(|child| caller.may_see(child.owner.as_ref()))
            .map(|child| child.id)
            .collect();
        Ok(PromptDetail { prompt, children })
    }

    /// The caller's root prompts (everyone's for an admin), newest first.
    pub async fn list_roots(&self, caller: &Principal, before: Option<&PromptId>, limit: u32) -> Result<PromptPage> {
        let owner = (!caller.is_admin()).then_some(&caller.user_id);
        self.store.list_root_prompts(owner, before, limit.clamp(1, 500)).await
    }

    /// The whole tree that holds a prompt, from its root: every prompt the caller
    /// may see (at most [`MAX_TREE_NODES`], the oldest), each with its newest tasks
    /// (at most [`TASKS_PER_NODE`], only the caller's unless an admin asks).
    pub async fn tree(&self, caller: &Principal, id: &PromptId) -> Result<PromptNode> {
        let prompt = self.get(caller, id).await?;
        let prompts = self.store.tree_prompts(&prompt.root, MAX_TREE_NODES).await?;
        let owner = (!caller.is_admin()).then_some(&caller.user_id);
        let tasks = self.store.tree_tasks(&prompt.root, owner, TASKS_PER_NODE).await?;
        let prompts = prompts.into_iter().filter(|p| caller.may_see(p.owner.as_ref())).collect();
        build_tree(&prompt.root, prompts, tasks).ok_or(CoreError::NotFound { what: "prompt" })
    }

    /// Sets or clears a prompt's feedback and AI comment (its content never changes).
    pub async fn update(&self, caller: &Principal, id: &PromptId, update: PromptUpdate) -> Result<PromptDetail> {
        let mut prompt = self.get(caller, id).await?;
        require_write(caller)?;
        if let Some(Some(score)) = update.feedback_score
            && !(1..=5).contains(&score)
        {
            return Err(CoreError::invalid("feedback_score", "must be between 1 and 5"));
        }
        check_length("feedback_comment", update.feedback_comment.as_ref(), MAX_FEEDBACK_COMMENT_CHARS)?;
        check_length("ai_comment", update.ai_comment.as_ref(), MAX_AI_COMMENT_CHARS)?;
        let changed =
            update.feedback_score.is_some() || update.feedback_comment.is_some() || update.ai_comment.is_some();
        if changed {
            if let Some(score) = update.feedback_score {
                prompt.feedback_score = score;
            }
            if let Some(comment) = update.feedback_comment {
                prompt.feedback_comment = comment;
            }
            if let Some(comment) = update.ai_comment {
                prompt.ai_comment = comment;
            }
            prompt.updated_at = now_millis().max(prompt.updated_at);
            if !self.store.update_prompt(&prompt).await? {
                return Err(CoreError::NotFound { what: "prompt" });
            }
        }
        self.detail(caller, prompt).await
    }

    /// Deletes a prompt without children; its tasks stay, unlinked.
    pub async fn delete(&self, caller: &Principal, id: &PromptId) -> Result<()> {
        self.get(caller, id).await?;
        require_write(caller)?;
        match self.store.delete_prompt(id).await? {
            PromptDeletion::Deleted => Ok(()),
            PromptDeletion::NotFound => Err(CoreError::NotFound { what: "prompt" }),
            PromptDeletion::HasChildren => Err(CoreError::Conflict {
                code: "prompt_has_children",
                message: format!(
                    "prompt {id} has children; delete them first (content never changes, so a tree only grows by branches)"
                ),
            }),
        }
    }
}

fn check_length(field: &str, value: Option<&Option<String>>, max: usize) -> Result<()> {
    match value {
        Some(Some(text)) if text.chars().count() > max => {
            Err(CoreError::invalid(field, format!("at most {max} characters")))
        }
        _ => Ok(()),
    }
}

/// Nests `prompts` under `root`; tasks go to their prompt. A prompt whose parent is
/// not among `prompts` is left out (with its subtree). `None` when the root is.
fn build_tree(root: &PromptId, prompts: Vec<Prompt>, tasks: Vec<Task>) -> Option<PromptNode> {
    let mut tasks_of: HashMap<PromptId, Vec<Task>> = HashMap::new();
    for task in tasks {
        if let Some(prompt) = task.prompt_id.clone() {
            tasks_of.entry(prompt).or_default().push(task);
        }
    }
    for list in tasks_of.values_mut() {
        list.sort_by_key(|task| std::cmp::Reverse(task.id));
        list.truncate(TASKS_PER_NODE as usize);
    }
    let mut children_of: HashMap<PromptId, Vec<Prompt>> = HashMap::new();
    let mut root_prompt = None;
    for prompt in prompts {
        match &prompt.parent {
            _ if &prompt.id == root => root_prompt = Some(prompt),
            Some(parent) => children_of.entry(parent.clone()).or_default().push(prompt),
            None => {}
        }
    }
    // Iterative, so that a deep chain of branches cannot exhaust the stack.
    fn attach(
        prompt: Prompt,
        children_of: &mut HashMap<PromptId, Vec<Prompt>>,
        tasks_of: &mut HashMap<PromptId, Vec<Task>>,
    ) -> PromptNode {
        let mut stack: Vec<(PromptNode, std::vec::IntoIter<Prompt>)> = Vec::new();
        let mut push = |prompt: Prompt, stack: &mut Vec<(PromptNode, std::vec::IntoIter<Prompt>)>| {
            let mut kids = children_of.remove(&prompt.id).unwrap_or_default();
            kids.sort_by(|a, b| a.id.cmp(&b.id));
            let tasks = tasks_of.remove(&prompt.id).unwrap_or_default();
            stack.push((PromptNode { prompt, children: Vec::new(), tasks }, kids.into_iter()));
        };
        push(prompt, &mut stack);
        loop {
            let next = stack.last_mut().and_then(|(_, kids)| kids.next());
            match next {
                Some(child) => push(child, &mut stack),
                None => {
                    let (node, _) = stack.pop().expect("the stack holds the node being built");
                    match stack.last_mut() {
                        Some((parent, _)) => parent.children.push(node),
                        None => return node,
                    }
                }
            }
        }
    }
    root_prompt.map(|prompt| attach(prompt, &mut children_of, &mut tasks_of))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::PromptKind;

    fn prompt(id: &PromptId, parent: Option<&PromptId>, root: &PromptId) -> Prompt {
        Prompt {
            id: id.clone(),
            owner: None,
            parent: parent.cloned(),
            root: root.clone(),
            depth: 0,
            kind: PromptKind::Image,
            content: "x".into(),
            feedback_score: None,
            feedback_comment: None,
            ai_comment: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn builds_nested_trees_and_drops_orphans() {
        let ids: Vec<PromptId> = (0..5).map(|_| PromptId::new()).collect();
        let root = &ids[0];
        let prompts = vec![
            prompt(&ids[3], Some(&ids[1]), root),
            prompt(&ids[1], Some(root), root),
            prompt(root, None, root),
            prompt(&ids[2], Some(root), root),
            // Its parent is not in the list: left out.
            prompt(&ids[4], Some(&PromptId::new()), root),
        ];
        let tree = build_tree(root, prompts, Vec::new()).expect("a tree");
        assert_eq!(tree.prompt.id, *root);
        let kids: Vec<_> = tree.children.iter().map(|n| n.prompt.id.clone()).collect();
        assert_eq!(kids, vec![ids[1].clone(), ids[2].clone()]);
        assert_eq!(tree.children[0].children[0].prompt.id, ids[3]);
        assert!(tree.children[1].children.is_empty());
        assert!(build_tree(&PromptId::new(), Vec::new(), Vec::new()).is_none());
    }

    #[test]
    fn deep_chains_do_not_recurse() {
        let root = PromptId::new();
        let mut prompts = vec![prompt(&root, None, &root)];
        let mut parent = root.clone();
        for _ in 0..5_000 {
            let id = PromptId::new();
            prompts.push(prompt(&id, Some(&parent), &root));
            parent = id;
        }
        let mut node = build_tree(&root, prompts, Vec::new()).expect("a tree");
        let mut depth = 0;
        while let Some(child) = node.children.pop() {
            node = child;
            depth += 1;
        }
        assert_eq!(depth, 5_000);
        // Dropping a deep tree recurses too; leak it in this test rather than overflow.
        std::mem::forget(node);
    }
}
