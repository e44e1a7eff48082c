//! The hot statements' query plans, read from the database itself (`EXPLAIN QUERY
//! PLAN` on SQLite, `EXPLAIN` on PostgreSQL) over a deep data set
//! ([`crate::depth`]). A plan that scans `tasks` or `assets` whole, or sorts their
//! rows, is a problem: it costs in proportion to the history, and a query that is
//! fast on an empty store becomes the slowest thing the server does.
//!
//! Each statement is built by the same function the store runs it from, so the
//! plan read is the plan of the statement that runs.

use atelier_core::task::{AssetFilter, TaskFilter, TaskStatus};
use atelier_core::{CoreError, PromptId, UserId};
use sqlx::Row;

use crate::connect::{Backend, Database};
use crate::depth::Depth;
use crate::error::storage;
use crate::params::{Param, Statement};
use crate::{assets, prompts, queue, rate_limits, retention, tasks, uploads, usage};

/// One statement's plan and what is wrong with it.
#[derive(Debug, Clone)]
pub struct PlanCheck {
    pub name: String,
    /// A statement of the queue (claims and a worker's writes): its plan must not
    /// depend on statistics at all.
    pub queue: bool,
    pub plan: Vec<String>,
    pub problems: Vec<String>,
}

/// A statement to explain; `small_sort` names why a sort in it is bounded (it
/// orders one task's outputs or one page), when it has one.
struct Hot {
    name: String,
    queue: bool,
    statement: Statement,
    small_sort: Option<&'static str>,
}

fn hot(name: impl Into<String>, statement: Statement) -> Hot {
    Hot { name: name.into(), queue: false, statement, small_sort: None }
}

fn queue_hot(name: impl Into<String>, statement: Statement) -> Hot {
    Hot { queue: true, ..hot(name, statement) }
}

fn text(values: &[&str]) -> Vec<Param> {
    values.iter().map(|value| Param::Text((*value).to_owned())).collect()
}

/// Every statement on a hot path, with example values from the data set.
fn hot_statements(db: &Database, depth: &Depth) -> Vec<Hot> {
    let now = depth.spec.now;
    let user = depth.users.first().cloned().unwrap_or_else(UserId::new);
    let task = depth.completed_task.to_string();
    let day_ago = now - 86_400_000;
    let week_ago = now - 7 * 86_400_000;
    let claim = queue::claim_sql(db.backend);
    let lease = || Param::Text("lease".into());
    let mut list = vec![
        queue_hot(
            "claim",
            Statement::new(
                claim,
                vec![
                    lease(),
                    Param::Text("w".into()),
                    Param::Number(now),
                    Param::Number(now),
                    Param::Number(16),
                    Param::Text(String::new()),
                ],
            ),
        ),
        queue_hot(
            "claim: a remote worker's pool",
            Statement::new(
                claim,
                vec![
                    lease(),
                    Param::Text("w".into()),
                    Param::Number(now),
                    Param::Number(now),
                    Param::Number(1),
                    Param::Text("trellis/trellis-image-large".into()),
                ],
            ),
        ),
        queue_hot("settle waiting: release", Statement::new(queue::RELEASE_ORPHANED_WAITING, vec![Param::Number(now)])),
        queue_hot("settle waiting: fail", Statement::new(queue::FAIL_WAITING, vec![Param::Number(now)])),
        queue_hot(
            "release waiting tasks",
            Statement::new(queue::RELEASE_WAITING, vec![Param::Text(task.clone()), Param::Number(now)]),
        ),
        queue_hot(
            "heartbeat",
            Statement::new(queue::HEARTBEAT, vec![Param::Text(task.clone()), lease(), Param::Number(now)]),
        ),
        queue_hot(
            "complete",
            Statement::new(queue::COMPLETE, vec![Param::Text(task.clone()), lease(), Param::Number(now)]),
        ),
        queue_hot("reclaim: fail", Statement::new(queue::RECLAIM_FAIL, vec![Param::Number(now), Param::Number(3)])),
        queue_hot("reclaim: requeue", Statement::new(queue::RECLAIM_REQUEUE, vec![Param::Number(now)])),
        queue_hot("expire pending", Statement::new(queue::expire_pending_sql(db.backend), vec![Param::Number(now)])),
        queue_hot(
            "poll now",
            Statement::new(
                queue::POLL_NOW,
                vec![Param::Text("kie".into()), Param::Text("ext-1".into()), Param::Number(now)],
            ),
        ),
        Hot {
            name: "get task".into(),
            queue: false,
            statement: Statement::new(tasks::GET_TASK, text(&[&task])),
            small_sort: Some("one task's outputs and tags"),
        },
        Hot {
            name: "a page's outputs".into(),
            queue: false,
            statement: assets::outputs_statement(depth.newest_page.iter().map(ToString::to_string).collect()),
            small_sort: Some("a page of tasks' outputs"),
        },
        Hot {
            name: "a page's input copies".into(),
            queue: false,
            statement: uploads::input_copies_statement(&depth.newest_page),
            small_sort: Some("a page of tasks' input copies"),
        },
        Hot {
            name: "a page's tags".into(),
            queue: false,
            statement: assets::tags_statement(depth.newest_assets.clone()),
            small_sort: Some("a page of outputs' tags"),
        },
        hot("count queued", Statement::new(usage::COUNT_QUEUED, vec![])),
        hot("count started", Statement::new(usage::COUNT_STARTED, vec![])),
        hot(
            "quota: service today",
            Statement::new(usage::COUNT_CREATED_SERVICE, vec![Param::Text("kie".into()), Param::Number(day_ago)]),
        ),
        hot(
            "quota: model today",
            Statement::new(
                usage::COUNT_CREATED_MODEL,
                vec![Param::Text("kie".into()), Param::Text("veo3".into()), Param::Number(day_ago)],
            ),
        ),
        hot("user: queued", Statement::new(usage::owner_queued(db.backend), text(&[user.as_str()]))),
        hot("user: active", Statement::new(usage::owner_active(db.backend), text(&[user.as_str()]))),
        hot(
            "user: today",
            Statement::new(usage::OWNER_CREATED, vec![Param::Text(user.to_string()), Param::Number(day_ago)]),
        ),
        hot("in flight: one service", Statement::new(usage::COUNT_IN_FLIGHT, text(&["kie"]))),
        hot(
            "in flight: every service (providers report)",
            Statement::new(usage::in_flight_by_service(db.backend), vec![]),
        ),
        hot(
            "webhooks: tasks ended since the sweep's cursor",
            Statement::new(
                crate::webhooks::tasks_ended_sql(db.backend),
                vec![Param::Number(day_ago), Param::Text(String::new()), Param::Number(500)],
            ),
        ),
        queue_hot(
            "webhooks: claim due deliveries",
            Statement::new(
                crate::webhooks::claim_deliveries_sql(db.backend),
                vec![Param::Number(now + 60_000), Param::Text("lease".into()), Param::Number(now), Param::Number(16)],
            ),
        ),
        hot(
            "retention: ended tasks past their time",
            retention::ended_tasks_statement(db.backend, now - 90 * 86_400_000, None, RETENTION_BATCH),
        ),
        hot(
            "retention: ended tasks past their time, next page",
            retention::ended_tasks_statement(db.backend, now, Some((day_ago, depth.completed_task)), RETENTION_BATCH),
        ),
        hot(
            "retention: a live status's inputs",
            retention::task_inputs_statement(
                db.backend,
                TaskStatus::Pending,
                Some(depth.first_pending),
                RETENTION_BATCH,
            ),
        ),
        hot(
            "retention: inputs of tasks made since",
            retention::task_inputs_since_statement(now - 60_000, None, RETENTION_BATCH),
        ),
        hot("retention: a page's outputs", retention::outputs_of_statement(&depth.newest_page)),
        hot("retention: a page's tasks in live runs", retention::in_live_runs_statement(&depth.newest_page)),
        hot(
            "retention: uploads past their time",
            retention::uploads_before_statement(now - 30 * 86_400_000, None, RETENTION_BATCH),
        ),
        hot("rate limit: read a window", Statement::new(rate_limits::READ_WINDOW, text(&["requests/user"]))),
        hot(
            "rate limit: write a window",
            Statement::new(
                rate_limits::UPDATE_WINDOW,
                vec![Param::Text(now.to_string()), Param::Text("requests/user".into()), Param::Number(1)],
            ),
        ),
        hot("prompts: a user's roots", prompts::roots_statement(Some(&user), None, PAGE)),
        Hot {
            name: "prompts: a tree's tasks".into(),
            queue: false,
            statement: prompts::tree_tasks_statement(&PromptId(depth.prompt.clone()), Some(&user), 5),
            small_sort: Some("one tree's tasks"),
        },
    ];
    let page = |filter: TaskFilter| TaskFilter { limit: PAGE, ..filter };
    let mine = TaskFilter { owner: Some(user.clone()), ..TaskFilter::default() };
    let task_lists = [
        ("tasks: all (admin)", TaskFilter::default()),
        ("tasks: mine", mine.clone()),
        ("tasks: mine, next page", TaskFilter { before_id: Some(depth.first_pending), ..mine.clone() }),
        ("tasks: mine, failed", TaskFilter { statuses: vec![TaskStatus::Failed], ..mine.clone() }),
        (
            "tasks: mine, waiting",
            TaskFilter { statuses: vec![TaskStatus::Pending, TaskStatus::Retrying], ..mine.clone() },
        ),
        ("tasks: mine, one service", TaskFilter { service: Some("kie".into()), ..mine.clone() }),
        (
            "tasks: mine, one model",
            TaskFilter { service: Some("kie".into()), model: Some("veo3".into()), ..mine.clone() },
        ),
        ("tasks: mine, last week", TaskFilter { created_after: Some(week_ago), ..mine.clone() }),
        ("tasks: mine, tagged", TaskFilter { tag: Some(depth.tag.clone()), ..mine.clone() }),
        ("tasks: a prompt's", TaskFilter { prompt_id: Some(PromptId(depth.prompt.clone())), ..mine.clone() }),
        ("tasks: failed (admin)", TaskFilter { statuses: vec![TaskStatus::Failed], ..TaskFilter::default() }),
    ];
    for (name, filter) in task_lists {
        list.push(hot(name, tasks::list_statement(&page(filter)).0));
    }
    let gallery = |filter: AssetFilter| AssetFilter { limit: PAGE, ..filter };
    let my_outputs = AssetFilter { owner: Some(user.clone()), ..AssetFilter::default() };
    let asset_lists = [
        ("outputs: all (admin)", AssetFilter::default()),
        ("outputs: mine (history)", my_outputs.clone()),
        (
            "outputs: mine, next page",
            AssetFilter { before_id: Some(atelier_core::AssetId(depth.completed_asset.clone())), ..my_outputs.clone() },
        ),
        ("outputs: mine, tagged", AssetFilter { tag: Some(depth.tag.clone()), ..my_outputs.clone() }),
        (
            "outputs: mine, one model",
            AssetFilter { service: Some("kie".into()), model: Some("veo3".into()), ..my_outputs.clone() },
        ),
        ("outputs: mine, last week", AssetFilter { created_after: Some(week_ago), ..my_outputs.clone() }),
    ];
    for (name, filter) in asset_lists {
        list.push(hot(name, assets::list_statement(&gallery(filter)).0));
    }
    list
}

/// The batch the retention cleanup's statements are explained with (its default).
const RETENTION_BATCH: u32 = 500;

/// The page size the lists are explained with (the API's default).
pub const PAGE: u32 = 50;

/// Reads the plan of every hot statement (planned with its parameters' values, as
/// the server's connections plan every statement: see `connect.rs`).
pub async fn check_hot_statements(db: &Database, depth: &Depth) -> Result<Vec<PlanCheck>, CoreError> {
    let mut connection = db.writer.acquire().await.map_err(storage("explaining a statement"))?;
    let mut checks = Vec::new();
    for hot in hot_statements(db, depth) {
        let plan = explain(db.backend, &mut connection, hot.statement).await?;
        let problems = problems(db.backend, &plan, hot.small_sort);
        checks.push(PlanCheck { name: hot.name, queue: hot.queue, plan, problems });
    }
    Ok(checks)
}

async fn explain(
    backend: Backend,
    connection: &mut sqlx::AnyConnection,
    statement: Statement,
) -> Result<Vec<String>, CoreError> {
    let sql = match backend {
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {}", statement.sql),
        Backend::Postgres => format!("EXPLAIN {}", statement.sql),
    };
    let rows = Statement::new(sql, statement.params)
        .query()
        .fetch_all(&mut *connection)
        .await
        .map_err(storage("explaining a statement"))?;
    rows.iter()
        .map(|row| match backend {
            Backend::Sqlite => row.try_get::<String, _>("detail"),
            Backend::Postgres => row.try_get::<String, _>(0),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(storage("reading a plan"))
}

/// Tables whose full scan or sort grows with the history, and the aliases the
/// statements give them.
const DEEP: [&str; 6] = ["tasks", "assets", "asset_tags", "task_input_copies", "t", "a"];

/// What is wrong with a plan: a full scan of a deep table, or a sort (unless the
/// statement's sort is bounded, `small_sort`).
pub fn problems(backend: Backend, plan: &[String], small_sort: Option<&str>) -> Vec<String> {
    let mut found = Vec::new();
    for line in plan {
        let trimmed = line.trim_start().trim_start_matches("->").trim_start();
        let full_scan = match backend {
            // `SCAN t` reads the whole table; `SCAN t USING INDEX i` walks an index in
            // order and stops at the page's end; `SEARCH` reads a range.
            Backend::Sqlite => trimmed
                .strip_prefix("SCAN ")
                .is_some_and(|rest| DEEP.contains(&first_word(rest)) && !rest.contains("USING")),
            Backend::Postgres => trimmed
                .strip_prefix("Seq Scan on ")
                .or_else(|| trimmed.strip_prefix("Parallel Seq Scan on "))
                .is_some_and(|rest| DEEP.contains(&first_word(rest))),
        };
        if full_scan {
            found.push(format!("full scan: {trimmed}"));
        }
        let sort = match backend {
            // SQLite's plans carry no sizes: every sort counts.
            Backend::Sqlite => trimmed.starts_with("USE TEMP B-TREE"),
            // PostgreSQL's carry its estimate: a sort of a handful of rows found by
            // an index (one user's waiting tasks, one tag's outputs) does not grow
            // with the history.
            Backend::Postgres => {
                (trimmed.starts_with("Sort  (") || trimmed.starts_with("Incremental Sort  ("))
                    && estimated_rows(trimmed).is_none_or(|rows| rows > SMALL_SORT_ROWS)
            }
        };
        if sort && small_sort.is_none() {
            found.push(format!("sort: {trimmed}"));
        }
    }
    found
}

/// The most rows a PostgreSQL sort may be estimated to order.
const SMALL_SORT_ROWS: u64 = 1_000;

/// The `rows=` estimate of a PostgreSQL plan node.
fn estimated_rows(line: &str) -> Option<u64> {
    let rest = &line[line.find("rows=")? + 5..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(plan: &[&str]) -> Vec<String> {
        plan.iter().map(|line| (*line).to_owned()).collect()
    }

    #[test]
    fn sqlite_scans_and_sorts_are_found() {
        let bad = lines(&["SEARCH tasks USING INDEX tasks_status (status=?)", "USE TEMP B-TREE FOR ORDER BY"]);
        assert_eq!(problems(Backend::Sqlite, &bad, None), ["sort: USE TEMP B-TREE FOR ORDER BY"]);
        assert!(problems(Backend::Sqlite, &bad, Some("one task")).is_empty());
        assert_eq!(problems(Backend::Sqlite, &lines(&["SCAN a"]), None), ["full scan: SCAN a"]);
        let walk = lines(&["SCAN tasks USING INDEX sqlite_autoindex_tasks_1", "SCAN prompts"]);
        assert!(problems(Backend::Sqlite, &walk, None).is_empty(), "an ordered walk; a small table");
    }

    #[test]
    fn postgres_scans_and_sorts_are_found() {
        let bad = lines(&[
            "Limit  (cost=1.0..2.0 rows=51 width=8)",
            "  ->  Sort  (cost=1.0..2.0 rows=100000 width=8)",
            "        Sort Key: id DESC",
            "        ->  Seq Scan on tasks  (cost=0.00..1.00 rows=1000 width=8)",
        ]);
        let found = problems(Backend::Postgres, &bad, None);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("sort: Sort"), "{found:?}");
        assert!(found[1].starts_with("full scan: Seq Scan on tasks"), "{found:?}");
        let good = lines(&[
            "Limit",
            "  ->  Sort  (cost=8.44..8.44 rows=3 width=288)",
            "        Sort Key: id DESC",
            "  ->  Index Scan Backward using tasks_owner on tasks",
            "Seq Scan on queue_clock",
        ]);
        assert!(problems(Backend::Postgres, &good, None).is_empty());
    }
}
