//! `atelier tasks list|show|watch|cancel|retry`

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use super::ClientArgs;
use super::client::Client;
use super::output::{CliError, Output};
use super::watch::{self, Show};

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// The newest tasks.
    List {
        /// Only these statuses (comma-separated).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One task, as JSON; with --watch, followed to its end first.
    Show {
        id: String,
        /// Follow the task's progress until it ends (as `tasks watch`).
        #[arg(long)]
        watch: bool,
    },
    /// Follow a task's progress until it ends (exit 3 when it did not complete).
    Watch { id: String },
    /// Cancel a task.
    Cancel { id: String },
    /// Run an ended task again as a new task.
    Retry { id: String },
}

pub async fn run(command: TasksCommand, args: ClientArgs, output: Output) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args)?;
    match command {
        TasksCommand::List { status, limit } => {
            let mut path = format!("/api/v1/tasks?limit={limit}");
            if let Some(status) = status {
                path.push_str(&format!("&status={status}"));
            }
            output.print(&client.get_json(&path).await?, table);
        }
        TasksCommand::Show { id, watch: false } => {
            output.print_json(&client.get_json(&format!("/api/v1/tasks/{id}")).await?)
        }
        TasksCommand::Show { id, watch: true } => return watch_task(&client, &id, output, true).await,
        TasksCommand::Watch { id } => return watch_task(&client, &id, output, false).await,
        TasksCommand::Cancel { id } => {
            output.print_json(&client.post_json(&format!("/api/v1/tasks/{id}/cancel"), &Value::Null).await?)
        }
        TasksCommand::Retry { id } => {
            output.print_json(&client.post_json(&format!("/api/v1/tasks/{id}/retry"), &Value::Null).await?)
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows a task to its end; its last view on stdout (whole for `show`, one line
/// for `watch` in text), and an error when it did not complete.
async fn watch_task(client: &Client, id: &str, output: Output, whole: bool) -> anyhow::Result<ExitCode> {
    let task = watch::follow(client, id, Show::Always).await?;
    if let Some(ended) = CliError::from_ended_task(&task) {
        return Err(ended.into());
    }
    if whole {
        output.print_json(&task);
    } else {
        output.print(&task, |task| format!("{} {}", text(task, "task_id"), text(task, "status")));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(page: &Value) -> String {
    let mut lines = vec![format!("{:<38} {:<11} {:>4}  {:<20} CREATED", "TASK", "STATUS", "%", "MODEL")];
    for task in page["tasks"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{:<38} {:<11} {:>4}  {:<20} {}",
            text(task, "task_id"),
            text(task, "status"),
            task["progress"].as_u64().unwrap_or(0),
            format!("{}/{}", text(task, "service"), text(task, "model")),
            text(task, "created_at"),
        ));
    }
    lines.join("\n")
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}
