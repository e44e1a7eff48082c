//! A deep data set made in SQL in seconds: many finished tasks with an output each,
//! a deep backlog of pending ones, several users, services, models, tags and
//! prompts. The plan tests read the hot statements' plans over it, and the bench
//! measures drain rates and reads at depth over the same rows. Nothing of it is
//! kept in the repository.
//!
//! Ids are made as the application makes them (UUIDv7 task ids, `img_`/`usr_`/
//! `prm_` prefixed ids), time-ordered like real ones: the finished tasks spread
//! over the last 100 days, the pending ones created in the last minutes.

use atelier_core::{CoreError, TaskId, UserId};
use sqlx::{AssertSqlSafe, Executor};

use crate::connect::{Backend, Database};
use crate::error::storage;

/// How deep.
#[derive(Debug, Clone, Copy)]
pub struct DepthSpec {
    pub finished: u64,
    pub pending: u64,
    pub users: u64,
    pub prompts: u64,
    /// Creation time of the newest pending task (ms since the epoch).
    pub now: i64,
}

impl DepthSpec {
    /// The depth: a million finished tasks and a hundred thousand pending.
    pub fn million(now: i64) -> Self {
        Self { finished: 1_000_000, pending: 100_000, users: 8, prompts: 10_000, now }
    }
}

/// What was made, for the statements that need an example of each thing.
#[derive(Debug, Clone)]
pub struct Depth {
    pub spec: DepthSpec,
    pub users: Vec<UserId>,
    /// A finished, completed task (it has an output) and its output.
    pub completed_task: TaskId,
    /// The 50 newest finished tasks (a list's first page).
    pub newest_page: Vec<TaskId>,
    /// Their outputs' ids (a task whose output is missing is one that failed).
    pub newest_assets: Vec<String>,
    pub completed_asset: String,
    /// A tag some outputs carry; a root prompt some tasks name.
    pub tag: String,
    pub prompt: String,
    /// The oldest pending task.
    pub first_pending: TaskId,
}

/// The services and models the tasks rotate through, as `i % 4`.
const MODELS: [(&str, &str); 4] =
    [("local", "placeholder"), ("local", "instant"), ("kie", "veo-3"), ("openai", "gpt-image-1")];
const DAY_MS: i64 = 86_400_000;

/// SQL for the series 0..n and hex digits, as each backend writes them.
struct Dialect(Backend);

impl Dialect {
    /// `(with, from)`: a CTE to put before the statement and the relation giving `i`.
    fn series(&self, n: u64) -> (String, String) {
        let last = n.saturating_sub(1);
        match self.0 {
            Backend::Sqlite => (
                format!("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) "),
                "n".to_owned(),
            ),
            Backend::Postgres => (String::new(), format!("generate_series(0::bigint, {last}) AS n(i)")),
        }
    }

    /// `expr` as `width` lowercase hex digits.
    fn hex(&self, expr: &str, width: usize) -> String {
        match self.0 {
            Backend::Sqlite => format!("printf('%0{width}x', {expr})"),
            Backend::Postgres => format!("lpad(to_hex({expr}), {width}, '0')"),
        }
    }

    /// A UUIDv7 (hyphenated) from a millisecond time, a variant nibble and a counter.
    fn uuid(&self, ts: &str, variant: char, counter: &str) -> String {
        format!(
            "{} || '-' || {} || '-7000-{variant}000-' || {}",
            self.hex(&format!("({ts}) >> 16"), 8),
            self.hex(&format!("({ts}) & 65535"), 4),
            self.hex(counter, 12)
        )
    }

    /// A prefixed id (`img_…`): the same digits without hyphens.
    fn prefixed(&self, prefix: &str, ts: &str, variant: char, counter: &str) -> String {
        format!(
            "'{prefix}' || {} || {} || '7000{variant}000' || {}",
            self.hex(&format!("({ts}) >> 16"), 8),
            self.hex(&format!("({ts}) & 65535"), 4),
            self.hex(counter, 12)
        )
    }

    fn user(&self, counter: &str) -> String {
        format!("'usr_00000000000000000000' || {}", self.hex(counter, 12))
    }
}

/// A value chosen by `i % 4` from [`MODELS`].
fn by_model(pick: impl Fn((&'static str, &'static str)) -> &'static str) -> String {
    let arms: String = MODELS.iter().enumerate().map(|(n, m)| format!(" WHEN {n} THEN '{}'", pick(*m))).collect();
    format!("CASE i % 4{arms} END")
}

/// Fills an empty, migrated database. A database of an older schema (before the
/// queue's lanes, migration 0006, or before tags name their task, 0008) gets the
/// same rows without those columns, so that the bench can measure a release from
/// before them.
pub async fn generate(db: &Database, spec: DepthSpec) -> Result<Depth, CoreError> {
    let sql = Dialect(db.backend);
    let lanes = sqlx::query("SELECT next_slot FROM queue_lanes LIMIT 1").fetch_optional(&db.writer).await.is_ok();
    let (slot_column, slot_value) = if lanes { (", queue_slot", ", i") } else { ("", "") };
    let tag_tasks = sqlx::query("SELECT task_id FROM asset_tags LIMIT 1").fetch_optional(&db.writer).await.is_ok();
    let (tag_task_column, tag_task_value) = if tag_tasks {
        (", task_id".to_owned(), format!(", {}", sql.uuid("ts", '8', "i")))
    } else {
        Default::default()
    };
    let copies = sqlx::query("SELECT position FROM task_input_copies LIMIT 1").fetch_optional(&db.writer).await.is_ok();
    let base = spec.now - 100 * DAY_MS;
    let step = (100 * DAY_MS) / spec.finished.max(1) as i64;
    let status = "CASE WHEN i % 20 = 7 THEN 'failed' WHEN i % 100 = 13 THEN 'cancelled' ELSE 'completed' END";
    let completed = "i % 20 <> 7 AND i % 100 <> 13";
    let (service, model) = (by_model(|m| m.0), by_model(|m| m.1));
    let owner = sql.user(&format!("i % {}", spec.users.max(1)));
    let prompt_ts = format!("{base} + (i / 100 % {}) * 1000", spec.prompts.max(1));
    let prompt = sql.prefixed("prm_", &prompt_ts, '8', &format!("i / 100 % {}", spec.prompts.max(1)));

    let root_ts = format!("{base} + i * 1000");
    let statements = [
        {
            let (with, from) = sql.series(spec.prompts);
            format!(
                "{with}INSERT INTO prompts (id, owner_id, parent_id, root_id, depth, kind, content, created_at, updated_at) \
             SELECT {id}, {owner}, NULL, {id}, 0, 'image', 'a fox, take ' || i, {root_ts}, {root_ts} FROM {from}",
                id = sql.prefixed("prm_", &root_ts, '8', "i"),
            )
        },
        {
            let (with, from) = sql.series(spec.finished);
            format!(
                "{with}INSERT INTO tasks (id, service, model, input, status, progress, attempts, max_attempts, \
                 error_code, error_message, error_retryable, created_at, updated_at, started_at, completed_at, \
                 run_after, owner_id, prompt_id{slot_column}) \
                 SELECT {id}, {service}, {model}, '{{\"prompt\":\"a fox\"}}', {status}, 100, 1, 3, \
                 CASE WHEN i % 20 = 7 THEN 'provider_error' END, CASE WHEN i % 20 = 7 THEN 'it failed' END, \
                 CASE WHEN i % 20 = 7 THEN 0 END, ts, ts + 1000, ts + 10, ts + 1000, ts, {owner}, \
                 CASE WHEN i % 100 = 0 THEN {prompt} END{slot_value} \
                 FROM (SELECT i, {base} + i * {step} AS ts FROM {from}) s",
                id = sql.uuid("ts", '8', "i"),
            )
        },
        {
            let (with, from) = sql.series(spec.finished);
            format!(
                "{with}INSERT INTO assets (id, task_id, idx, mime, bytes, width, height, sha256, blob_key, \
                 thumbnail_key, created_at, owner_id, role) \
                 SELECT {asset}, {task}, 0, 'image/png', 4096, 64, 64, 'depth', 'depth/' || i, NULL, ts + 1000, \
                 {owner}, 'primary' FROM (SELECT i, {base} + i * {step} AS ts FROM {from}) s WHERE {completed}",
                asset = sql.prefixed("img_", "ts", '9', "i"),
                task = sql.uuid("ts", '8', "i"),
            )
        },
        {
            let (with, from) = sql.series(spec.finished);
            format!(
                "{with}INSERT INTO asset_tags (asset_id, tag, created_at{tag_task_column}) \
                 SELECT {asset}, 'tag-' || (i / 100 % 50), ts{tag_task_value} \
                 FROM (SELECT i, {base} + i * {step} AS ts FROM {from}) s WHERE i % 100 = 1",
                asset = sql.prefixed("img_", "ts", '9', "i"),
            )
        },
        {
            // Kie's tasks (`i % 4 = 2`), one in ten, sent an input file through Kie's
            // upload API: its copy.
            let (with, from) = sql.series(spec.finished);
            format!(
                "{with}INSERT INTO task_input_copies (task_id, position, reference, service, url, expires_at, created_at) \
                 SELECT {task}, 0, 'https://example.com/in.png', 'kie', 'https://tempfile.example/' || i, \
                 ts + {lifetime}, ts FROM (SELECT i, {base} + i * {step} AS ts FROM {from}) s WHERE i % 40 = 2",
                task = sql.uuid("ts", '8', "i"),
                lifetime = 3 * DAY_MS,
            )
        },
        {
            let (with, from) = sql.series(spec.pending);
            let pending_base = spec.now - spec.pending as i64;
            format!(
                "{with}INSERT INTO tasks (id, service, model, input, status, max_attempts, created_at, updated_at, \
                 expires_at, run_after, owner_id{slot_column}) \
                 SELECT {id}, 'local', 'instant', '{{\"seed\":1}}', 'pending', 3, ts, ts, ts + {DAY_MS}, ts, \
                 {owner}{slot_value} \
                 FROM (SELECT i, {pending_base} + i AS ts FROM {from}) s",
                id = sql.uuid("ts", 'a', "i"),
            )
        },
        {
            let (with, from) = sql.series(spec.users);
            format!(
                "{with}INSERT INTO queue_lanes (owner_key, next_slot) SELECT {user}, {next} FROM {from}",
                user = sql.user("i"),
                next = spec.pending,
            )
        },
    ];
    // Prompts; finished tasks, their outputs, tags and input copies; pending tasks;
    // lanes. Each only when there is something to make (an empty series still yields
    // one row).
    let wanted = [
        spec.prompts > 0,
        spec.finished > 0,
        spec.finished > 0,
        spec.finished > 0,
        copies && spec.finished > 0,
        spec.pending > 0,
        lanes && spec.users > 0,
    ];
    for (statement, wanted) in statements.into_iter().zip(wanted) {
        if !wanted {
            continue;
        }
        db.writer.execute(AssertSqlSafe(statement)).await.map_err(storage("generating the depth data set"))?;
    }

    let users = (0..spec.users.max(1)).map(|u| UserId(format!("usr_{}{u:012x}", "0".repeat(20)))).collect();
    let ts = |i: u64| base + i as i64 * step;
    let uuid =
        |ts: i64, variant: char, i: u64| format!("{:08x}-{:04x}-7000-{variant}000-{i:012x}", ts >> 16, ts & 65535);
    let parse = |text: String| text.parse::<TaskId>().map_err(|error| CoreError::Storage(format!("{text}: {error}")));
    let first_pending_ts = spec.now - spec.pending as i64;
    let newest = (spec.finished.saturating_sub(50)..spec.finished).rev();
    Ok(Depth {
        spec,
        users,
        completed_task: parse(uuid(ts(1), '8', 1))?,
        // The newest finished tasks, as the first page of a list shows them.
        newest_page: newest.clone().map(|i| parse(uuid(ts(i), '8', i))).collect::<Result<_, _>>()?,
        newest_assets: newest.map(|i| format!("img_{}", uuid(ts(i), '9', i).replace('-', ""))).collect(),
        completed_asset: format!("img_{}", uuid(ts(1), '9', 1).replace('-', "")),
        tag: "tag-1".into(),
        prompt: format!("prm_{}", uuid(base + 1000, '8', 1).replace('-', "")),
        first_pending: parse(uuid(first_pending_ts, 'a', 0))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_writes_the_same_ids() {
        let sqlite = Dialect(Backend::Sqlite);
        assert_eq!(sqlite.hex("i", 12), "printf('%012x', i)");
        let postgres = Dialect(Backend::Postgres);
        assert_eq!(postgres.hex("i", 12), "lpad(to_hex(i), 12, '0')");
        assert!(sqlite.user("i").starts_with("'usr_00000000000000000000' || "));
    }
}
