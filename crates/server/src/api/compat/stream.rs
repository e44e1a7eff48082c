//! Seed 004's `WebSocket /generate/stream`. The seed names the route only; its
//! messages take the shapes of the seed's REST answers:
//!
//! 1. the client's first message is `POST /generate`'s body, checked the same way
//!    (a refusal is `{"type":"error","error","message","details"}`, then a close:
//!    1008 for a refused request, 1013 for a limit to wait out, 1011 otherwise);
//! 2. `{"type":"accepted", …POST /generate's 201 body}`;
//! 3. `{"type":"progress","task_id","status","progress"}` on every change;
//! 4. `{"type":"image","task_id", …an image as GET /task/{id} lists it}` for each
//!    output once it is stored (a task's outputs are stored together as it completes);
//! 5. `{"type":"completed"|"failed"|"cancelled"|"expired", …the task as GET
//!    /task/{id} shows it}`, then a normal close.
//!
//! The task is durable: a client that leaves does not cancel it (read it with
//! `GET /task/{id}`); `{"type":"cancel"}` does.

use std::time::Duration;

use atelier_core::TaskId;
use atelier_core::account::Principal;
use atelier_core::events::{EventBus, TaskEvent};
use atelier_core::task::Task;
use axum::body::Body;
use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{FromRequest, State};
use axum::http::{HeaderMap, Request, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::GenerateRequest;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::api::socket::{self, Socket, close, error_message};
use crate::api::views::TaskView;
use crate::app::AppState;

/// How often the task is read again without a notice (changes made by another
/// process on SQLite send none).
const RECHECK: Duration = Duration::from_secs(1);

/// Seed 004's streamed generation: send `POST /generate`'s body as the first
/// message; receive `accepted`, `progress`, each `image`, then the task as it ended
/// (`completed`, `failed`, `cancelled`). Send `{"type":"cancel"}` to cancel; closing
/// the socket leaves the task running.
#[utoipa::path(get, path = "/generate/stream", tag = "seed 004",
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 401, description = "No valid key or session", body = ErrorBody),
        (status = 403, description = "A browser session from another origin", body = ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade request", body = ErrorBody)))]
pub async fn generate_stream(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    socket::check_origin(&caller, &headers)?;
    let upgrade = socket::upgrade(upgrade, &state.config.websocket)?;
    Ok(upgrade.on_upgrade(move |socket| serve(socket, state, caller, headers)))
}

async fn serve(socket: WebSocket, state: AppState, caller: Principal, headers: HeaderMap) {
    let mut socket = Socket::open(socket, caller.user_id.as_str(), &state.config.websocket, state.shutdown.clone());
    if let Some(request) = socket.recv().await {
        // Before the task exists, so that none of its changes is missed.
        let events = state.tasks.events().subscribe();
        match create(&state, &caller, headers, request).await {
            Ok(accepted) => follow(&mut socket, &state, &caller, events, accepted).await,
            Err(error) => {
                if socket.send(&error_message(&Value::Null, &error)).await {
                    socket.close(socket::close_code_for(&error), error.code).await;
                }
            }
        }
    }
    socket.finish().await;
}

/// The request through `POST /generate` itself: the same checks, errors and answer.
async fn create(state: &AppState, caller: &Principal, headers: HeaderMap, text: String) -> ApiResult<Value> {
    let request = Request::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(text))
        .map_err(|_| ApiError::internal())?;
    let parsed = AppJson::<GenerateRequest>::from_request(request, &()).await;
    let response = super::generate::generate(State(state.clone()), Caller(caller.clone()), headers, parsed).await?;
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.map_err(|_| ApiError::internal())?;
    serde_json::from_slice(&body).map_err(|_| ApiError::internal())
}

/// What the client sees of its task, until the task ends or the socket does.
struct Seen {
    version: i64,
    status: String,
    progress: u8,
    images: Vec<String>,
}

async fn follow(
    socket: &mut Socket,
    state: &AppState,
    caller: &Principal,
    mut events: broadcast::Receiver<TaskEvent>,
    accepted: Value,
) {
    let Some(id) = accepted["task_id"].as_str().and_then(|id| id.parse::<TaskId>().ok()) else {
        return;
    };
    let mut answer = json!({ "type": "accepted" });
    if let (Some(answer), Value::Object(fields)) = (answer.as_object_mut(), accepted) {
        answer.extend(fields);
    }
    if !socket.send(&answer).await {
        return;
    }
    socket.set_waiting(true);
    let mut seen = Seen { version: -1, status: String::new(), progress: 0, images: Vec::new() };
    let mut look = true;
    loop {
        if look {
            match state.tasks.get(caller, id).await {
                Ok(task) => match tell(socket, state, &task, &mut seen).await {
                    Told::More => {}
                    Told::Ended => {
                        socket.close(close::NORMAL, "the task ended").await;
                        return;
                    }
                    Told::Gone => return,
                },
                // Deleted meanwhile.
                Err(error) => {
                    let error = ApiError::from(error);
                    if socket.send(&error_message(&Value::Null, &error)).await {
                        socket.close(socket::close_code_for(&error), error.code).await;
                    }
                    return;
                }
            }
        }
        look = tokio::select! {
            message = socket.recv() => match message {
                Some(text) => {
                    let refused = act(state, caller, id, &text).await.err();
                    if let Some(error) = refused
                        && !socket.send(&error_message(&Value::Null, &error)).await
                    {
                        return;
                    }
                    false
                }
                None => return,
            },
            changed = tokio::time::timeout(RECHECK, EventBus::next_notice_for(&mut events, id)) => {
                !matches!(changed, Ok(false))
            }
        };
    }
}

/// The one message a client may send once the task is made.
async fn act(state: &AppState, caller: &Principal, id: TaskId, text: &str) -> ApiResult<()> {
    let message: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match message.get("type").and_then(Value::as_str) {
        Some("cancel") => {
            state.tasks.cancel(caller, id).await?;
            Ok(())
        }
        _ => Err(ApiError::validation(
            "once the task is made, the one message is {\"type\":\"cancel\"}",
            json!({ "field": "type" }),
        )),
    }
}

enum Told {
    More,
    Ended,
    Gone,
}

/// The task's news since the last look: its progress, its new images, its end.
async fn tell(socket: &mut Socket, state: &AppState, task: &Task, seen: &mut Seen) -> Told {
    if task.version == seen.version {
        return Told::More;
    }
    seen.version = task.version;
    let copies = state.tasks.input_copies(&[task]).await.unwrap_or_default();
    let view = TaskView::with_input_copies(task, &copies, atelier_core::time::now_millis());
    let mut view = serde_json::to_value(&view).unwrap_or_default();
    if (view["status"].as_str(), task.progress) != (Some(seen.status.as_str()), seen.progress) {
        seen.status = view["status"].as_str().unwrap_or_default().to_owned();
        seen.progress = task.progress;
        let progress = json!({ "type": "progress", "task_id": view["task_id"], "status": view["status"], "progress": view["progress"] });
        if !socket.send(&progress).await {
            return Told::Gone;
        }
    }
    for image in view["images"].as_array().into_iter().flatten() {
        let Some(image_id) = image["image_id"].as_str() else { continue };
        if seen.images.iter().any(|seen| seen == image_id) {
            continue;
        }
        seen.images.push(image_id.to_owned());
        let mut message = json!({ "type": "image", "task_id": view["task_id"] });
        if let (Some(message), Value::Object(fields)) = (message.as_object_mut(), image.clone()) {
            message.extend(fields);
        }
        if !socket.send(&message).await {
            return Told::Gone;
        }
    }
    if !task.status.is_terminal() {
        return Told::More;
    }
    view["type"] = json!(task.status.as_str());
    if socket.send(&view).await { Told::Ended } else { Told::Gone }
}
