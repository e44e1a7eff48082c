//! A run's live events (seed 001 `WebSocketManager`): `phase_complete`,
//! `preview_change`, `progress`, `waiting_input`, `status` and `phase_error`, each a JSON
//! object with `type` and `timestamp`. In-process; the store stays the source of
//! truth (a client that missed events reads the run).

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::ids::RunId;
use crate::time::{Millis, now_millis, to_datetime};

#[derive(Debug, Clone)]
pub struct RunEvent {
    pub run_id: RunId,
    pub body: Value,
}

#[derive(Clone)]
pub struct RunEvents {
    sender: broadcast::Sender<RunEvent>,
}

impl Default for RunEvents {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self { sender }
    }
}

/// An ISO 8601 time, as the seed's `datetime.now().isoformat()`.
pub fn timestamp(millis: Millis) -> String {
    to_datetime(millis).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl RunEvents {
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.sender.subscribe()
    }

    /// Publishes `{type, timestamp, ...fields}`.
    pub fn publish(&self, run_id: &RunId, kind: &str, fields: Value) {
        let mut body = json!({ "type": kind, "run_id": run_id, "timestamp": timestamp(now_millis()) });
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        let _ = self.sender.send(RunEvent { run_id: run_id.clone(), body });
    }
}
