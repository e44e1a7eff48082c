use std::convert::Infallible;
use std::time::Duration;

use atelier_core::TaskId;
use atelier_core::account::Principal;
use atelier_core::events::EventBus;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use super::parse_task_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::api::views::TaskView;
use crate::app::AppState;

/// Server-Sent Events: a `snapshot` of the task on connect, an `update` on every
/// change, and the stream ends after the task ends.
#[utoipa::path(get, path = "/tasks/{id}/events", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, description = "text/event-stream of task snapshots", content_type = "text/event-stream"), (status = 404, body = ErrorBody)))]
pub async fn task_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let id = parse_task_id(&id)?;
    // Subscribe before the first read, so no change between them is missed.
    let receiver = state.tasks.events().subscribe();
    let first = state.tasks.get(&caller, id).await?;
    let stream = futures::stream::unfold(Some((state, receiver, first.version, Some(first))), move |progress| {
        next_event(id, caller.clone(), progress)
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

type Progress = Option<(
    AppState,
    tokio::sync::broadcast::Receiver<atelier_core::events::TaskEvent>,
    i64,
    Option<atelier_core::task::Task>,
)>;

async fn next_event(
    id: TaskId,
    caller: Principal,
    progress: Progress,
) -> Option<(Result<Event, Infallible>, Progress)> {
    let (state, mut receiver, last_version, snapshot) = progress?;
    if let Some(task) = snapshot {
        let done = task.status.is_terminal();
        let event = to_event("snapshot", &task, &state).await;
        return Some((Ok(event), (!done).then_some((state, receiver, last_version, None))));
    }
    loop {
        // A notice for this task, or a look every second for changes made in
        // another process without notices (SQLite).
        let wait = EventBus::next_notice_for(&mut receiver, id);
        let mut shutdown = state.shutdown.clone();
        tokio::select! {
            changed = tokio::time::timeout(Duration::from_secs(1), wait) => {
                if let Ok(false) = changed {
                    return None;
                }
            }
            // The server is shutting down: end the stream; clients reconnect.
            _ = shutdown.wait_for(|stop| *stop) => return None,
        }
        let task = match state.tasks.get(&caller, id).await {
            Ok(task) => task,
            // Deleted meanwhile, or the store is down: end the stream.
            Err(_) => return None,
        };
        if task.version != last_version {
            let done = task.status.is_terminal();
            let event = to_event("update", &task, &state).await;
            let version = task.version;
            return Some((Ok(event), (!done).then_some((state, receiver, version, None))));
        }
    }
}

/// The task's view as an event, with its input copies (a failure to read them
/// leaves them out rather than ending the stream).
async fn to_event(name: &str, task: &atelier_core::task::Task, state: &AppState) -> Event {
    let copies = state.tasks.input_copies(&[task]).await.unwrap_or_default();
    let view = TaskView::with_input_copies(task, &copies, atelier_core::time::now_millis());
    Event::default()
        .event(name)
        .id(task.version.to_string())
        .json_data(&view)
        .unwrap_or_else(|_| Event::default().event(name))
}
