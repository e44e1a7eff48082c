//! Lifecycles of a run's data once it has ended (seed 001 1.7): its abandoned
//! checkpoints (versions off the final branch) after 24 hours, its temporary files
//! (every task output the final document does not use: drafts, lettering drawn
//! before a change, answers read into versions) after 7 days, and its book after
//! 90 days. Never while the run is in use: only ended runs, and a run that moved
//! since it was read (branched, drawn again) is left alone.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::driver::Engine;
use super::model::Run;
use crate::error::{CoreError, Result};
use crate::ids::{TaskId, VersionId};
use crate::time::Millis;

/// How long each kind of data outlives its run; `None` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub checkpoints: Option<Duration>,
    pub temporary: Option<Duration>,
    pub books: Option<Duration>,
}

impl Default for Retention {
    /// The seed's: 24 hours, 7 days, 90 days.
    fn default() -> Self {
        Self {
            checkpoints: Some(Duration::from_secs(24 * 3600)),
            temporary: Some(Duration::from_secs(7 * 24 * 3600)),
            books: Some(Duration::from_secs(90 * 24 * 3600)),
        }
    }
}

/// What one pass let go of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    pub runs: usize,
    pub tasks_deleted: usize,
}

/// The stages, in order.
const CHECKPOINTS: u8 = 1;
const TEMPORARY: u8 = 2;
const BOOK: u8 = 3;

fn millis(duration: Duration) -> Millis {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The tasks whose outputs the document uses (panels, their variants, character
/// sheets, the book).
fn kept_tasks(document: &Value, with_book: bool) -> BTreeSet<String> {
    let mut kept = BTreeSet::new();
    let mut take = |value: Option<&Value>| {
        if let Some(task) = value.and_then(Value::as_str) {
            kept.insert(task.to_owned());
        }
    };
    for panel in document.pointer("/art/panels").and_then(Value::as_array).into_iter().flatten() {
        take(panel.get("task_id"));
        for variant in panel.get("variants").and_then(Value::as_array).into_iter().flatten() {
            take(variant.get("task_id"));
        }
    }
    for character in document.get("characters").and_then(Value::as_array).into_iter().flatten() {
        for sheet in character.get("sheets").and_then(Value::as_array).into_iter().flatten() {
            take(sheet.get("task_id"));
        }
    }
    if with_book {
        take(document.pointer("/book/task_id"));
    }
    kept
}

impl Engine {
    /// Lets go of what ended runs no longer need, per `retention`; at most `limit`
    /// runs a stage.
    pub async fn retain(&self, retention: &Retention, now: Millis, limit: u32) -> Result<Retained> {
        let mut done = Retained::default();
        for (stage, after) in
            [(CHECKPOINTS, retention.checkpoints), (TEMPORARY, retention.temporary), (BOOK, retention.books)]
        {
            let Some(after) = after else { continue };
            for (run, retained) in self.store.runs_to_retain(now - millis(after), stage, limit).await? {
                // Stages are let go in order: a run's checkpoints before its files.
                if retained + 1 < stage {
                    continue;
                }
                match self.retain_stage(&run, stage).await {
                    Ok(Some(deleted)) => {
                        done.runs += 1;
                        done.tasks_deleted += deleted;
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(run_id = %run.id, %error, stage, "could not let go of a run's data"),
                }
            }
        }
        Ok(done)
    }

    /// One stage for one run: how many tasks it deleted, or `None` when the run
    /// moved meanwhile.
    async fn retain_stage(&self, run: &Run, stage: u8) -> Result<Option<usize>> {
        let head = match &run.head {
            Some(head) => self.store.get_version(head).await?,
            None => None,
        };
        if stage == CHECKPOINTS {
            // The final branch: the head and its ancestors.
            let versions = self.store.list_versions(&run.id).await?;
            let mut keep: Vec<VersionId> = Vec::new();
            let mut next = run.head.clone();
            while let Some(id) = next {
                next = versions.iter().find(|version| version.id == id).and_then(|version| version.parent.clone());
                keep.push(id);
            }
            return Ok(self.store.retain_run(run, Some(&keep), stage).await?.then_some(0));
        }
        let document = head.map(|version| version.document).unwrap_or(Value::Null);
        let doomed: Vec<TaskId> = if stage == TEMPORARY {
            let kept = kept_tasks(&document, true);
            let links = self.store.run_tasks(&run.id, "").await?;
            links.into_iter().map(|link| link.task_id).filter(|task| !kept.contains(&task.to_string())).collect()
        } else {
            document
                .pointer("/book/task_id")
                .and_then(Value::as_str)
                .and_then(|task| task.parse().ok())
                .into_iter()
                .collect()
        };
        // Marked first (revision-checked): a run in use again is not touched.
        if !self.store.retain_run(run, None, stage).await? {
            return Ok(None);
        }
        let Some(owner) = self.principal(run).await? else { return Ok(Some(0)) };
        let mut deleted = 0;
        for task in doomed {
            // An image another run reused stays for that run.
            if self.store.task_linked_elsewhere(task, &run.id).await? {
                continue;
            }
            match self.tasks.delete(&owner, task).await {
                Ok(()) => deleted += 1,
                Err(CoreError::NotFound { .. }) => {}
                Err(error) => tracing::warn!(run_id = %run.id, %task, %error, "could not delete a run's task"),
            }
        }
        Ok(Some(deleted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_document_keeps_its_panels_variants_sheets_and_book() {
        let document = json!({
            "characters": [{ "sheets": [{ "task_id": "sheet" }] }],
            "art": { "panels": [{ "task_id": "panel", "variants": [{ "task_id": "old" }] }] },
            "book": { "task_id": "book" }
        });
        let kept = kept_tasks(&document, true);
        assert_eq!(kept.into_iter().collect::<Vec<_>>(), ["book", "old", "panel", "sheet"]);
        assert!(!kept_tasks(&document, false).contains("book"));
    }
}
