//! `--output text|json`: what a client command prints. Text is for people; JSON is
//! for scripts (`| jq`): on success exactly one JSON document on stdout (the API's
//! answer, or a summary for a command of several steps), with progress and notes on
//! stderr; on failure nothing on stdout and one `{"error", "message", "details"}`
//! document on stderr. Exit codes: 0 success, 1 a failure (refused, unreachable, a
//! file not written), 2 a usage error (clap's), 3 a task that ended other than
//! `completed`.

use std::process::ExitCode;

use serde_json::{Value, json};

/// The exit code of a task that ended `failed`, `cancelled` or `expired`.
pub const TASK_DID_NOT_COMPLETE: u8 = 3;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document on stdout; errors as JSON on stderr.
    Json,
}

impl Output {
    pub fn is_json(self) -> bool {
        self == Self::Json
    }

    /// Prints an answer: the JSON document, or for text what `text` makes of it.
    pub fn print(self, value: &Value, text: impl FnOnce(&Value) -> String) {
        match self {
            Self::Json => println!("{}", json_text(value)),
            Self::Text => println!("{}", text(value)),
        }
    }

    /// Prints an answer that reads as JSON either way (the text of `tasks show`).
    pub fn print_json(self, value: &Value) {
        self.print(value, |value| serde_json::to_string_pretty(value).unwrap_or_default());
    }

    /// Reports a failed command on stderr and chooses its exit code.
    pub fn fail(self, error: &anyhow::Error) -> ExitCode {
        // A context is found by `downcast_ref`, a cause further down by the chain.
        let failure = error
            .downcast_ref::<CliError>()
            .or_else(|| error.chain().find_map(|cause| cause.downcast_ref::<CliError>()));
        let code = if matches!(failure, Some(CliError::TaskEnded { .. })) { TASK_DID_NOT_COMPLETE } else { 1 };
        match self {
            Self::Text => eprintln!("error: {error:#}"),
            Self::Json => eprintln!("{}", json_text(&error_document(error, failure))),
        }
        ExitCode::from(code)
    }
}

/// Failures a script may tell apart by their `error` code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with an error: its own code, message and details.
    #[error("{message} ({code}, HTTP {status})")]
    Api { status: u16, code: String, message: String, details: Value },
    #[error("cannot reach the server at {base} (is `atelier serve` running? set --server)")]
    Unreachable { base: String },
    /// The task ended, but not `completed`; `task` is its last view.
    #[error("task {id} ended {status}: {message}")]
    TaskEnded { id: String, status: String, message: String, task: Box<Value> },
}

impl CliError {
    /// The error a task's final view means, when it did not complete.
    pub fn from_ended_task(task: &Value) -> Option<Self> {
        let status = task["status"].as_str().unwrap_or("unknown");
        (status != "completed").then(|| Self::TaskEnded {
            id: task["task_id"].as_str().unwrap_or_default().to_owned(),
            status: status.to_owned(),
            message: task["error"]["message"].as_str().unwrap_or("no error message").to_owned(),
            task: Box::new(task.clone()),
        })
    }
}

fn error_document(error: &anyhow::Error, failure: Option<&CliError>) -> Value {
    let message = format!("{error:#}");
    match failure {
        Some(CliError::Api { status, code, details, .. }) => {
            json!({ "error": code, "message": message, "details": { "http_status": status, "server": details } })
        }
        Some(CliError::Unreachable { base }) => {
            json!({ "error": "unreachable", "message": message, "details": { "server": base } })
        }
        Some(CliError::TaskEnded { status, task, .. }) => {
            json!({ "error": format!("task_{status}"), "message": message, "details": { "task": task } })
        }
        None => json!({ "error": "cli_error", "message": message, "details": {} }),
    }
}

fn json_text(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{CliError, error_document};

    #[test]
    fn a_servers_refusal_keeps_its_code_and_details() {
        let error = anyhow::Error::new(CliError::Api {
            status: 422,
            code: "validation_error".into(),
            message: "prompt is required".into(),
            details: json!({ "field": "prompt" }),
        });
        let failure = error.downcast_ref::<CliError>();
        let document = error_document(&error, failure);
        assert_eq!(document["error"], "validation_error");
        assert_eq!(document["details"]["http_status"], 422);
        assert_eq!(document["details"]["server"]["field"], "prompt");
    }

    #[test]
    fn only_a_task_that_did_not_complete_is_an_error() {
        assert!(CliError::from_ended_task(&json!({ "status": "completed" })).is_none());
        let ended =
            CliError::from_ended_task(&json!({ "task_id": "t", "status": "failed", "error": { "message": "no" } }));
        assert_eq!(ended.map(|e| e.to_string()).as_deref(), Some("task t ended failed: no"));
    }
}
