use std::convert::Infallible;
use std::time::Duration;

use atelier_core::RunId;
use atelier_core::account::Principal;
use atelier_core::pipeline::RunEvent;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast;

use super::{RunView, parse_run_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// Server-Sent Events of a run: a `snapshot` of the run on connect, then the
/// seed's `phase_complete` (`phase, preview_url, version_id, timestamp`),
/// `preview_change` (`element_id, change_data, timestamp`), `progress`,
/// `waiting_input` (with its `deadline`), `phase_started`, `branch`, `status` and
/// `phase_error`, each named by its `type`; a `snapshot` again when the run changed
/// elsewhere. The stream ends after the run ends.
#[utoipa::path(get, path = "/pipelines/{id}/events", tag = "pipelines",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, description = "text/event-stream of run events", content_type = "text/event-stream"), (status = 404, body = ErrorBody)))]
pub async fn run_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let id = parse_run_id(&id)?;
    let receiver = state.pipelines.engine().events().subscribe();
    let first = state.pipelines.get(&caller, &id).await?;
    let start = Watch { state, caller, id, receiver, revision: first.revision, snapshot: true, ended: false };
    let stream = futures::stream::unfold(Some(start), next_event);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Watch {
    state: AppState,
    caller: Principal,
    id: RunId,
    receiver: broadcast::Receiver<RunEvent>,
    revision: i64,
    snapshot: bool,
    ended: bool,
}

fn snapshot(state: &AppState, run: &atelier_core::pipeline::Run) -> Event {
    Event::default()
        .event("snapshot")
        .json_data(RunView::new(run, state))
        .unwrap_or_else(|_| Event::default().event("snapshot"))
}

async fn next_event(progress: Option<Watch>) -> Option<(Result<Event, Infallible>, Option<Watch>)> {
    let mut stream = progress?;
    if stream.ended {
        return None;
    }
    if stream.snapshot {
        stream.snapshot = false;
        let run = stream.state.pipelines.get(&stream.caller, &stream.id).await.ok()?;
        stream.revision = run.revision;
        stream.ended = run.status.is_terminal();
        return Some((Ok(snapshot(&stream.state, &run)), Some(stream)));
    }
    loop {
        let received = {
            let mut shutdown = stream.state.shutdown.clone();
            tokio::select! {
                received = tokio::time::timeout(Duration::from_secs(2), stream.receiver.recv()) => received,
                // The server is shutting down: end the stream; clients reconnect.
                _ = shutdown.wait_for(|stop| *stop) => return None,
            }
        };
        match received {
            Ok(Ok(event)) if event.run_id == stream.id => {
                let kind = event.body.get("type").and_then(|kind| kind.as_str()).unwrap_or("event").to_owned();
                let ends = kind == "status"
                    && event
                        .body
                        .get("status")
                        .and_then(|status| status.as_str())
                        .is_some_and(|status| matches!(status, "completed" | "failed" | "cancelled"));
                let sse = Event::default().event(kind).json_data(&event.body).unwrap_or_default();
                if ends {
                    stream.snapshot = true;
                }
                return Some((Ok(sse), Some(stream)));
            }
            Ok(Ok(_)) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            // Missed events, or a quiet while: look at the run itself.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) | Err(_) => {
                let run = stream.state.pipelines.get(&stream.caller, &stream.id).await.ok()?;
                if run.revision != stream.revision {
                    stream.revision = run.revision;
                    stream.ended = run.status.is_terminal();
                    return Some((Ok(snapshot(&stream.state, &run)), Some(stream)));
                }
            }
        }
    }
}
