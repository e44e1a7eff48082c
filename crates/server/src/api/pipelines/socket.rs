//! A run's WebSocket (seed 001 `WebSocketManager`): the same events as the SSE
//! stream (`snapshot`, `phase_complete`, `preview_change`, `progress`,
//! `waiting_input`, …), and the person's side on the same socket: feedback,
//! continue, stop, resume, cancel, branch, and changes in words.
//!
//! A client message is JSON with a `type` and an optional `id` echoed in the
//! answer: `{"type":"feedback","change":{change_type, element_id, change_data}}`,
//! `{"type":"continue"}` (or `stop`, `resume`, `cancel`),
//! `{"type":"branch","version_id":"ver_…"}`, `{"type":"propose","text":"…"}`,
//! `{"type":"apply_proposal","proposal_id":"…"}`. The answer is `{"type":"ack",
//! "id", "run", "version"?, "proposal"?}` or `{"type":"error", "id", "error",
//! "message", "details"}` with the API's error codes.

use atelier_core::RunId;
use atelier_core::account::Principal;
use atelier_core::pipeline::{Change, ChangeType, Control, RunEvent};
use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::feedback::ProposalView;
use super::{RunView, VersionView, parse_proposal_id, parse_run_id, parse_version_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::api::socket::{self, Socket};
use crate::app::AppState;

/// Opens the run's WebSocket: events out, feedback and controls in.
#[utoipa::path(get, path = "/pipelines/{id}/ws", tag = "pipelines",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 101, description = "Switching to the WebSocket protocol"), (status = 403, description = "A browser session from another origin", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 426, description = "Not a WebSocket upgrade request", body = ErrorBody)))]
pub async fn run_socket(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    AppPath(id): AppPath<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let id = parse_run_id(&id)?;
    state.pipelines.get(&caller, &id).await?;
    socket::check_origin(&caller, &headers)?;
    let upgrade = socket::upgrade(upgrade, &state.config.websocket)?;
    Ok(upgrade.on_upgrade(move |socket| serve(socket, state, caller, id)))
}

async fn serve(socket: WebSocket, state: AppState, caller: Principal, id: RunId) {
    let mut socket = Socket::open(socket, caller.user_id.as_str(), &state.config.websocket, state.shutdown.clone());
    let mut events: broadcast::Receiver<RunEvent> = state.pipelines.engine().events().subscribe();
    if let Ok(run) = state.pipelines.get(&caller, &id).await
        && socket.send(&json!({ "type": "snapshot", "run": RunView::new(&run, &state) })).await
    {
        socket.set_waiting(true);
        follow(&mut socket, &state, &caller, &id, &mut events).await;
    }
    socket.finish().await;
}

async fn follow(
    socket: &mut Socket,
    state: &AppState,
    caller: &Principal,
    id: &RunId,
    events: &mut broadcast::Receiver<RunEvent>,
) {
    enum Next {
        Event(Result<RunEvent, broadcast::error::RecvError>),
        Message(Option<String>),
    }
    loop {
        let next = tokio::select! {
            event = events.recv() => Next::Event(event),
            message = socket.recv() => Next::Message(message),
        };
        let answer = match next {
            Next::Event(Ok(event)) if event.run_id == *id => event.body,
            Next::Event(Ok(_)) => continue,
            // Missed events: send the run as it is.
            Next::Event(Err(broadcast::error::RecvError::Lagged(_))) => match state.pipelines.get(caller, id).await {
                Ok(run) => json!({ "type": "snapshot", "run": RunView::new(&run, state) }),
                Err(_) => continue,
            },
            Next::Event(Err(broadcast::error::RecvError::Closed)) | Next::Message(None) => return,
            Next::Message(Some(text)) => handle(state, caller, id, text.as_str()).await,
        };
        if !socket.send(&answer).await {
            return;
        }
    }
}

fn error_answer(request_id: &Value, error: ApiError) -> Value {
    json!({ "type": "error", "id": request_id, "error": error.code, "message": error.message, "details": error.details })
}

/// One client message, answered.
async fn handle(state: &AppState, caller: &Principal, run: &RunId, text: &str) -> Value {
    let message: Value = match serde_json::from_str(text) {
        Ok(message @ Value::Object(_)) => message,
        _ => {
            return error_answer(
                &Value::Null,
                ApiError::validation("a message is a JSON object with a type", json!({ "field": "type" })),
            );
        }
    };
    let request_id = message.get("id").cloned().unwrap_or(Value::Null);
    match act(state, caller, run, &message).await {
        Ok(mut answer) => {
            answer["type"] = json!("ack");
            answer["id"] = request_id;
            answer
        }
        Err(error) => error_answer(&request_id, error),
    }
}

async fn act(state: &AppState, caller: &Principal, run: &RunId, message: &Value) -> ApiResult<Value> {
    let pipelines = &state.pipelines;
    let text = |field: &str| {
        message
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::validation(format!("{field}: required (a string)"), json!({ "field": field })))
    };
    let control = |control| async move {
        let run = pipelines.control(caller, run, control).await?;
        Ok::<_, ApiError>(json!({ "run": RunView::new(&run, state) }))
    };
    match message.get("type").and_then(Value::as_str).unwrap_or_default() {
        "feedback" => {
            let change: Change = serde_json::from_value(message.get("change").cloned().unwrap_or(Value::Null))
                .map_err(|error| ApiError::validation(format!("change: {error}"), json!({ "field": "change" })))?;
            if change.change_type == ChangeType::NaturalLanguage {
                return Err(ApiError::validation(
                    "a change in words is a propose message",
                    json!({ "field": "change.change_type" }),
                ));
            }
            let (run, version) = pipelines.feedback(caller, run, change).await?;
            Ok(json!({ "run": RunView::new(&run, state), "version": VersionView::from(&version) }))
        }
        "continue" => control(Control::Continue).await,
        "stop" => control(Control::Stop).await,
        "resume" => control(Control::Resume).await,
        "cancel" => control(Control::Cancel).await,
        "branch" => {
            let version = parse_version_id(text("version_id")?)?;
            let run = pipelines.branch(caller, run, &version).await?;
            Ok(json!({ "run": RunView::new(&run, state) }))
        }
        "propose" => {
            let proposal = pipelines.propose(caller, run, text("text")?).await?;
            Ok(json!({ "proposal": ProposalView::from(proposal) }))
        }
        "apply_proposal" => {
            let (run, version) =
                pipelines.apply_proposal(caller, run, parse_proposal_id(text("proposal_id")?)?).await?;
            Ok(json!({ "run": RunView::new(&run, state), "version": VersionView::from(&version) }))
        }
        other => Err(ApiError::validation(
            format!(
                "type: {other:?} is not feedback, continue, stop, resume, cancel, branch, propose or apply_proposal"
            ),
            json!({ "field": "type" }),
        )),
    }
}
