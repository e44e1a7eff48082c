//! `PromptStore` for both backends: prompt trees (seed 003) and the tasks made
//! from them.

use async_trait::async_trait;
use atelier_core::ports::PromptStore;
use atelier_core::prompt::{Prompt, PromptDeletion, PromptKind, PromptPage};
use atelier_core::task::Task;
use atelier_core::{CoreError, PromptId, UserId};
use sqlx::any::AnyRow;

use crate::assets::load_outputs;
use crate::connect::Database;
use crate::error::storage;
use crate::params::{Filtered, Param, Statement, next_page};
use crate::rows::{decode_task, get, invalid, owner, task_columns};

type Result<T> = std::result::Result<T, CoreError>;

const PROMPT_COLUMNS: &str = "id, owner_id, parent_id, root_id, depth, kind, content, feedback_score, \
     feedback_comment, ai_comment, created_at, updated_at";

fn prompt_id(text: &str) -> Result<PromptId> {
    PromptId::parse(text).ok_or_else(|| invalid("prompt id"))
}

fn decode_prompt(row: &AnyRow) -> Result<Prompt> {
    let id: String = get(row, "id")?;
    let parent: Option<String> = get(row, "parent_id")?;
    let root: String = get(row, "root_id")?;
    let depth: i64 = get(row, "depth")?;
    let kind: String = get(row, "kind")?;
    let score: Option<i64> = get(row, "feedback_score")?;
    Ok(Prompt {
        id: prompt_id(&id)?,
        owner: owner(get(row, "owner_id")?)?,
        parent: parent.as_deref().map(prompt_id).transpose()?,
        root: prompt_id(&root)?,
        depth: u32::try_from(depth).map_err(|_| invalid("prompt depth"))?,
        kind: PromptKind::parse(&kind).ok_or_else(|| invalid("prompt type"))?,
        content: get(row, "content")?,
        feedback_score: score.map(|s| u8::try_from(s).map_err(|_| invalid("prompt score"))).transpose()?,
        feedback_comment: get(row, "feedback_comment")?,
        ai_comment: get(row, "ai_comment")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

async fn fetch_prompts(db: &Database, sql: String, params: Vec<Param>, what: &'static str) -> Result<Vec<Prompt>> {
    let rows = Param::bind_all(sql, params).fetch_all(&db.reader).await.map_err(storage(what))?;
    rows.iter().map(decode_prompt).collect()
}

#[async_trait]
impl PromptStore for Database {
    async fn create_prompt(&self, prompt: &Prompt) -> Result<()> {
        sqlx::query(
            "INSERT INTO prompts (id, owner_id, parent_id, root_id, depth, kind, content, feedback_score, \
             feedback_comment, ai_comment, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(prompt.id.to_string())
        .bind(prompt.owner.as_ref().map(ToString::to_string))
        .bind(prompt.parent.as_ref().map(ToString::to_string))
        .bind(prompt.root.to_string())
        .bind(i64::from(prompt.depth))
        .bind(prompt.kind.as_str())
        .bind(prompt.content.clone())
        .bind(prompt.feedback_score.map(i64::from))
        .bind(prompt.feedback_comment.clone())
        .bind(prompt.ai_comment.clone())
        .bind(prompt.created_at)
        .bind(prompt.updated_at)
        .execute(&self.writer)
        .await
        .map_err(|error| match &error {
            // The parent was deleted between the caller's check and this insert.
            sqlx::Error::Database(database) if database.is_foreign_key_violation() => {
                CoreError::NotFound { what: "prompt" }
            }
            _ => storage("recording a prompt")(error),
        })?;
        Ok(())
    }

    async fn get_prompt(&self, id: &PromptId) -> Result<Option<Prompt>> {
        let sql = format!("SELECT {PROMPT_COLUMNS} FROM prompts WHERE id = $1");
        let mut found = fetch_prompts(self, sql, vec![Param::Text(id.to_string())], "reading a prompt").await?;
        Ok(found.pop())
    }

    async fn list_root_prompts(
        &self,
        owner: Option<&UserId>,
        before: Option<&PromptId>,
        limit: u32,
    ) -> Result<PromptPage> {
        let limit = limit.max(1);
        let rows = roots_statement(owner, before, limit)
            .query()
            .fetch_all(&self.reader)
            .await
            .map_err(storage("listing prompts"))?;
        let mut prompts = rows.iter().map(decode_prompt).collect::<Result<Vec<_>>>()?;
        let next_cursor = next_page(&mut prompts, limit, |prompt| prompt.id.clone());
        Ok(PromptPage { prompts, next_cursor })
    }

    async fn list_child_prompts(&self, id: &PromptId) -> Result<Vec<Prompt>> {
        let sql = format!("SELECT {PROMPT_COLUMNS} FROM prompts WHERE parent_id = $1 ORDER BY id");
        fetch_prompts(self, sql, vec![Param::Text(id.to_string())], "listing a prompt's children").await
    }

    async fn count_tree_prompts(&self, root: &PromptId) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM prompts WHERE root_id = $1")
            .bind(root.to_string())
            .fetch_one(&self.reader)
            .await
            .map_err(storage("counting a prompt tree"))?;
        Ok(count.max(0) as u64)
    }

    async fn tree_prompts(&self, root: &PromptId, limit: u32) -> Result<Vec<Prompt>> {
        let sql = format!("SELECT {PROMPT_COLUMNS} FROM prompts WHERE root_id = $1 ORDER BY id LIMIT $2");
        let params = vec![Param::Text(root.to_string()), Param::Number(i64::from(limit.max(1)))];
        fetch_prompts(self, sql, params, "reading a prompt tree").await
    }

    async fn tree_tasks(&self, root: &PromptId, owner: Option<&UserId>, per_prompt: u32) -> Result<Vec<Task>> {
        let rows = tree_tasks_statement(root, owner, per_prompt)
            .query()
            .fetch_all(&self.reader)
            .await
            .map_err(storage("reading tree tasks"))?;
        let mut tasks = rows.iter().map(decode_task).collect::<Result<Vec<_>>>()?;
        load_outputs(self, &mut tasks).await?;
        Ok(tasks)
    }

    async fn update_prompt(&self, prompt: &Prompt) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE prompts SET feedback_score = $2, feedback_comment = $3, ai_comment = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(prompt.id.to_string())
        .bind(prompt.feedback_score.map(i64::from))
        .bind(prompt.feedback_comment.clone())
        .bind(prompt.ai_comment.clone())
        .bind(prompt.updated_at)
        .execute(&self.writer)
        .await
        .map_err(storage("updating a prompt"))?;
        Ok(updated.rows_affected() == 1)
    }

    async fn delete_prompt(&self, id: &PromptId) -> Result<PromptDeletion> {
        let mut transaction = self.writer.begin().await.map_err(storage("deleting a prompt"))?;
        let deleted = sqlx::query(
            "DELETE FROM prompts WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM prompts c WHERE c.parent_id = $1)",
        )
        .bind(id.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(storage("deleting a prompt"))?;
        if deleted.rows_affected() == 1 {
            sqlx::query("UPDATE tasks SET prompt_id = NULL, version = version + 1 WHERE prompt_id = $1")
                .bind(id.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(storage("unlinking a prompt's tasks"))?;
            transaction.commit().await.map_err(storage("deleting a prompt"))?;
            return Ok(PromptDeletion::Deleted);
        }
        let exists = sqlx::query("SELECT id FROM prompts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(storage("deleting a prompt"))?
            .is_some();
        transaction.rollback().await.map_err(storage("deleting a prompt"))?;
        Ok(if exists { PromptDeletion::HasChildren } else { PromptDeletion::NotFound })
    }
}

/// A page of root prompts, newest first.
pub(crate) fn roots_statement(owner: Option<&UserId>, before: Option<&PromptId>, limit: u32) -> Statement {
    let mut query = Filtered::new(format!("SELECT {PROMPT_COLUMNS} FROM prompts WHERE parent_id IS NULL"));
    query.and_some("owner_id =", owner.map(Param::text));
    query.and_some("id <", before.map(Param::text));
    query.newest_first(limit)
}

/// Each prompt of a tree with its newest tasks: a window per prompt, in one query.
pub(crate) fn tree_tasks_statement(root: &PromptId, owner: Option<&UserId>, per_prompt: u32) -> Statement {
    let mut params = vec![Param::Text(root.to_string())];
    let owner_clause = match owner {
        Some(owner) => format!(" AND t.owner_id = {}", Param::push(&mut params, Param::Text(owner.to_string()))),
        None => String::new(),
    };
    let per_prompt = Param::push(&mut params, Param::Number(i64::from(per_prompt.max(1))));
    let sql = format!(
        concat!(
            "SELECT ",
            task_columns!(),
            " FROM (SELECT t.*, ROW_NUMBER() OVER (PARTITION BY t.prompt_id ORDER BY t.id DESC) AS rn \
             FROM tasks t JOIN prompts p ON p.id = t.prompt_id WHERE p.root_id = $1{}) x \
             WHERE rn <= {} ORDER BY prompt_id, id DESC"
        ),
        owner_clause, per_prompt
    );
    Statement::new(sql, params)
}
