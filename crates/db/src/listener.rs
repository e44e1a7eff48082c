//! PostgreSQL notices: a trigger announces every task change on `atelier_tasks`;
//! this listener turns them into in-process events, so that a worker in another
//! process wakes at once and event streams follow changes made elsewhere.

use std::time::Duration;

use atelier_core::events::{EventBus, TaskEvent};
use atelier_core::task::TaskStatus;
use sqlx::postgres::PgListener;

use crate::connect::{Backend, Database};

/// Spawns the listener on PostgreSQL; does nothing on SQLite (one process per file,
/// whose changes are announced in-process already).
pub fn listen_for_changes(db: &Database, events: EventBus) {
    if db.backend() != Backend::Postgres {
        return;
    }
    let url = db.url().to_owned();
    tokio::spawn(async move {
        loop {
            match listen(&url, &events).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "lost the PostgreSQL notice connection; reconnecting");
                    // Changes missed meanwhile are caught by the workers' idle poll.
                    events.wake_workers();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

async fn listen(url: &str, events: &EventBus) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen("atelier_tasks").await?;
    loop {
        let notification = listener.recv().await?;
        let Some((id, status)) = notification.payload().split_once(' ') else { continue };
        let (Ok(task_id), Ok(status)) = (id.parse(), status.parse::<TaskStatus>()) else { continue };
        events.publish(TaskEvent { task_id, status });
    }
}
