//! `GET /api/v1/ws`: one socket for the tasks and pipeline runs a client follows,
//! with the SSE streams' rule: a snapshot first, then the changes.
//!
//! Client messages are JSON with a `type` and an optional `id` echoed in the
//! answer: `{"type":"subscribe","tasks":["<task id>"],"runs":["run_…"],
//! "all_tasks":true}` (every field optional; `all_tasks`: the caller's own tasks,
//! those under way now and those made later) and `unsubscribe` with the same fields.
//! The answer is `{"type":"ack","id","tasks","runs","all_tasks"}` (what the socket
//! follows now), and for ids that are unknown or not the caller's an
//! `{"type":"error","id","error":"not_found","details":{"tasks","runs"}}` naming
//! them; the socket stays open.
//!
//! Then for each task `{"type":"snapshot","task":TaskView}` and
//! `{"type":"update","task":TaskView}` on each change (the views `GET
//! /tasks/{id}/events` sends), and for each run `{"type":"snapshot","run":RunView}`
//! and the run's events as its own socket sends them. Missed notices (a lagging
//! receiver) are made good with fresh snapshots.

mod watch;

use atelier_core::account::Principal;
use atelier_core::events::TaskEvent;
use atelier_core::pipeline::RunEvent;
use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::socket::{self, Socket};
use crate::app::AppState;
use watch::Watch;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(socket_route))
}

/// Opens the events socket: subscribe to tasks and runs, receive a snapshot of each,
/// then its changes.
#[utoipa::path(get, path = "/ws", tag = "tasks",
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 401, description = "No valid key or session", body = ErrorBody),
        (status = 403, description = "A browser session from another origin", body = ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade request", body = ErrorBody)))]
pub async fn socket_route(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    socket::check_origin(&caller, &headers)?;
    let upgrade = socket::upgrade(upgrade, &state.config.websocket)?;
    Ok(upgrade.on_upgrade(move |socket| serve(socket, state, caller)))
}

enum Next {
    Client(Option<String>),
    Task(Result<TaskEvent, RecvError>),
    Run(Result<RunEvent, RecvError>),
    Recheck,
}

async fn serve(socket: WebSocket, state: AppState, caller: Principal) {
    let mut socket = Socket::open(socket, caller.user_id.as_str(), &state.config.websocket, state.shutdown.clone());
    // Subscribed before any snapshot is read, so no change between them is missed.
    let mut tasks: broadcast::Receiver<TaskEvent> = state.tasks.events().subscribe();
    let mut runs: broadcast::Receiver<RunEvent> = state.pipelines.engine().events().subscribe();
    let mut watch = Watch::new(state, caller);
    let mut recheck = tokio::time::interval(watch::RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = tokio::select! {
            message = socket.recv() => Next::Client(message),
            event = tasks.recv() => Next::Task(event),
            event = runs.recv() => Next::Run(event),
            _ = recheck.tick() => Next::Recheck,
        };
        let messages = match next {
            Next::Client(Some(text)) => watch.handle(&text).await,
            Next::Client(None) => break,
            Next::Task(Ok(event)) => watch.task_changed(event.task_id).await,
            Next::Run(Ok(event)) => watch.run_event(event),
            // Missed notices: look at everything followed again.
            Next::Task(Err(RecvError::Lagged(_))) => watch.recheck_tasks(true).await,
            Next::Run(Err(RecvError::Lagged(_))) => watch.recheck_runs().await,
            Next::Task(Err(RecvError::Closed)) | Next::Run(Err(RecvError::Closed)) => break,
            // Changes another process made without a notice (SQLite).
            Next::Recheck => watch.recheck_tasks(false).await,
        };
        for message in &messages {
            if !socket.send(message).await {
                break;
            }
        }
        if socket.ended().is_some() {
            break;
        }
        socket.set_waiting(watch.follows_anything());
    }
    socket.finish().await;
}
