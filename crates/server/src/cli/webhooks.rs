//! `atelier webhooks list|add|remove|deliveries|resend|test|secret`: webhook
//! subscriptions from the terminal, through the server's API.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::Client;
use super::output::Output;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Your webhooks.
    List,
    /// Subscribe a URL; prints the new webhook with its secret (shown only now).
    Add {
        url: String,
        /// An event to send (repeat it): task.created, task.started, task.progress,
        /// task.completed, task.failed, task.cancelled, pipeline.phase_complete,
        /// pipeline.waiting_input. Every event when none is given.
        #[arg(long = "event")]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a webhook and its deliveries.
    Remove { id: String },
    /// A webhook's deliveries, newest first (`default`: your tasks' own webhooks').
    Deliveries {
        id: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Send a delivery again, under the same webhook-id.
    Resend { delivery: String },
    /// Queue a webhook.test ping to a webhook.
    Test { id: String },
    /// The secret that signs your tasks' own webhooks (`webhook` on a task).
    Secret,
}

pub async fn run(command: WebhooksCommand, args: ClientArgs, output: Output) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args)?;
    let answer = match command {
        WebhooksCommand::List => client.get_json("/api/v1/webhooks").await?,
        WebhooksCommand::Add { url, events, description } => {
            let mut body = json!({ "url": url, "events": events });
            if let Some(description) = description {
                body["description"] = Value::String(description);
            }
            client.post_json("/api/v1/webhooks", &body).await?
        }
        WebhooksCommand::Remove { id } => {
            remove(&client, &args, &id).await?;
            json!({ "deleted": id })
        }
        WebhooksCommand::Deliveries { id, limit } => {
            client.get_json(&format!("/api/v1/webhooks/{}/deliveries?limit={limit}", segment(&id))).await?
        }
        WebhooksCommand::Resend { delivery } => {
            client.post_json(&format!("/api/v1/webhooks/deliveries/{}/resend", segment(&delivery)), &json!({})).await?
        }
        WebhooksCommand::Test { id } => {
            client.post_json(&format!("/api/v1/webhooks/{}/test", segment(&id)), &json!({})).await?
        }
        WebhooksCommand::Secret => client.get_json("/api/v1/webhooks/default/secret").await?,
    };
    output.print_json(&answer);
    Ok(ExitCode::SUCCESS)
}

/// An id as one path segment (an id with a `/` names no route of ours).
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// `DELETE /api/v1/webhooks/{id}`: the client has no DELETE of its own, so this
/// sends it with the key given (`--api-key`) or the local CLI key.
async fn remove(client: &Client, args: &ClientArgs, id: &str) -> anyhow::Result<()> {
    let key = match args.api_key.as_deref().map(str::trim).filter(|key| !key.is_empty()) {
        Some(key) => Some(key.to_owned()),
        None => std::fs::read_to_string(crate::config::auth::cli_key_path(&args.key_dir))
            .ok()
            .map(|key| key.trim().to_owned()),
    };
    let mut request = reqwest::Client::new().delete(client.url(&format!("/api/v1/webhooks/{}", segment(id))));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|error| anyhow::anyhow!("cannot reach {}: {error}", args.server))?;
    if response.status().is_success() {
        return Ok(());
    }
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::bail!(
        "{} ({}, HTTP {status})",
        body["message"].as_str().unwrap_or("refused"),
        body["error"].as_str().unwrap_or("error")
    )
}
