//! A task followed to its end: its Server-Sent Events (`snapshot`, then an
//! `update` on every change), falling back to polling when the stream cannot be
//! had or breaks. Progress goes to stderr: a bar on a terminal, else (stdout or
//! stderr piped) a plain line per change (`generate --watch`, `tasks watch`) or
//! nothing (`generate --wait`).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::client::Client;

/// How long one event stream stays open before it is opened again.
const STREAM_LIMIT: Duration = Duration::from_secs(600);
const POLL_EVERY: Duration = Duration::from_millis(300);
/// Broken streams after which only polling is used.
const STREAM_TRIES: u32 = 3;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// A bar on a terminal (stdout and stderr), else nothing.
    BarOnly,
    /// A bar on a terminal (stdout and stderr), else a line per change on stderr.
    Always,
}

/// Follows task `id` until it ends and returns its last view (whatever its status).
pub async fn follow(client: &Client, id: &str, show: Show) -> anyhow::Result<Value> {
    let mut progress = Progress::new(show);
    let mut broken = 0;
    loop {
        if broken < STREAM_TRIES {
            match stream(client, id, &mut progress).await {
                Ok(Some(task)) => return Ok(progress.finish(task)),
                // The stream ended early (a restart, the time limit): look, then again.
                Ok(None) => {}
                Err(error) => {
                    broken += 1;
                    tracing::debug!(%error, "the task's event stream broke; polling");
                }
            }
        }
        let task = client.get_json(&format!("/api/v1/tasks/{id}")).await?;
        progress.show(&task);
        if is_ended(&task) {
            return Ok(progress.finish(task));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Reads one event stream; the task's view once it has ended, `None` when the
/// stream closed before.
async fn stream(client: &Client, id: &str, progress: &mut Progress) -> anyhow::Result<Option<Value>> {
    let response = client.event_stream(&format!("/api/v1/tasks/{id}/events"), STREAM_LIMIT).await?;
    let mut chunks = response.bytes_stream();
    let mut parser = SseParser::default();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.context("reading the task's events")?;
        for event in parser.push(&chunk) {
            if !matches!(event.name.as_str(), "snapshot" | "update") {
                continue;
            }
            let task: Value = serde_json::from_str(&event.data).context("an event that is not a task")?;
            progress.show(&task);
            if is_ended(&task) {
                return Ok(Some(task));
            }
        }
    }
    Ok(None)
}

pub fn is_ended(task: &Value) -> bool {
    matches!(task["status"].as_str(), Some("completed" | "failed" | "cancelled" | "expired"))
}

enum Progress {
    Bar(ProgressBar),
    Lines { last: Option<(String, u64)> },
    Quiet,
}

impl Progress {
    fn new(show: Show) -> Self {
        // A bar only for a person at a terminal: piped output (`| jq`) gets lines.
        if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(100);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {pos:>3}% {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            return Self::Bar(bar);
        }
        match show {
            Show::Always => Self::Lines { last: None },
            Show::BarOnly => Self::Quiet,
        }
    }

    fn show(&mut self, task: &Value) {
        let status = task["status"].as_str().unwrap_or("unknown").to_owned();
        let percent = task["progress"].as_u64().unwrap_or(0);
        match self {
            Self::Bar(bar) => {
                bar.set_position(percent);
                bar.set_message(status);
            }
            Self::Lines { last } => {
                let now = Some((status, percent));
                if *last != now {
                    if let Some((status, percent)) = &now {
                        eprintln!("task {} {status} {percent}%", task["task_id"].as_str().unwrap_or_default());
                    }
                    *last = now;
                }
            }
            Self::Quiet => {}
        }
    }

    fn finish(&mut self, task: Value) -> Value {
        self.show(&task);
        let status = task["status"].as_str().unwrap_or("unknown");
        match self {
            Self::Bar(bar) if status == "completed" => bar.finish(),
            Self::Bar(bar) => bar.abandon(),
            Self::Lines { .. } => eprintln!("task {} ended {status}", task["task_id"].as_str().unwrap_or_default()),
            Self::Quiet => {}
        }
        task
    }
}

/// One Server-Sent Event: its name (`message` when unnamed) and its data lines.
#[derive(Debug, PartialEq, Eq)]
struct SseEvent {
    name: String,
    data: String,
}

/// Cuts a byte stream into events (the WHATWG rules this server's events need:
/// `event:` and `data:` fields, comments, CRLF or LF, an empty line ends an event).
#[derive(Default)]
struct SseParser {
    pending: Vec<u8>,
    name: Option<String>,
    data: Vec<String>,
}

impl SseParser {
    fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    let name = self.name.take().unwrap_or_else(|| "message".to_owned());
                    events.push(SseEvent { name, data: self.data.join("\n") });
                }
                self.name = None;
                self.data.clear();
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.name = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::{SseEvent, SseParser};

    #[test]
    fn events_are_cut_at_empty_lines_across_chunks() {
        let mut parser = SseParser::default();
        assert!(parser.push(b": keep-alive\n\nevent: snap").is_empty());
        let events = parser.push(b"shot\r\nid: 3\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nevent: update\ndata: {}\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent { name: "snapshot".into(), data: "{\"a\":\n1}".into() },
                SseEvent { name: "update".into(), data: "{}".into() },
            ]
        );
    }
}
