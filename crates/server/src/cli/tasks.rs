//! `atelier tasks list|show|cancel|retry`

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use super::ClientArgs;
use super::client::Client;

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
    /// One task, as JSON.
    Show { id: String },
    /// Cancel a task.
    Cancel { id: String },
    /// Run an ended task again as a new task.
    Retry { id: String },
}

pub async fn run(command: TasksCommand, args: ClientArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args)?;
    match command {
        TasksCommand::List { status, limit } => {
            let mut path = format!("/api/v1/tasks?limit={limit}");
            if let Some(status) = status {
                path.push_str(&format!("&status={status}"));
            }
            let page = client.get_json(&path).await?;
            println!("{:<38} {:<11} {:>4}  {:<20} CREATED", "TASK", "STATUS", "%", "MODEL");
            for task in page["tasks"].as_array().into_iter().flatten() {
                println!(
                    "{:<38} {:<11} {:>4}  {:<20} {}",
                    text(task, "task_id"),
                    text(task, "status"),
                    task["progress"].as_u64().unwrap_or(0),
                    format!("{}/{}", text(task, "service"), text(task, "model")),
                    text(task, "created_at"),
                );
            }
        }
        TasksCommand::Show { id } => print_json(&client.get_json(&format!("/api/v1/tasks/{id}")).await?),
        TasksCommand::Cancel { id } => {
            print_json(&client.post_json(&format!("/api/v1/tasks/{id}/cancel"), &Value::Null).await?)
        }
        TasksCommand::Retry { id } => {
            print_json(&client.post_json(&format!("/api/v1/tasks/{id}/retry"), &Value::Null).await?)
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}
