//! `atelier generate "a red fox at dawn" --model local/placeholder --set seed=42 --wait -o fox.png`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};

use super::ClientArgs;
use super::client::Client;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The prompt (or, for local/qr, the text to encode).
    pub prompt: String,
    /// `service/model`; the server's default model when absent.
    #[arg(long)]
    pub model: Option<String>,
    /// An input field, `key=value` (the value read as JSON when it parses, else as text).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Wait for the task to end, with a progress bar.
    #[arg(long)]
    pub wait: bool,
    /// Where to write the output (with --wait); several outputs get -1, -2 … suffixes.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    let mut input = Map::new();
    let field = positional_field(args.model.as_deref());
    // A slideshow's pictures are a list: the positional one starts it (`--set
    // images=[…]` gives them all).
    let positional = match field {
        "images" => Value::Array(vec![Value::String(args.prompt.clone())]),
        _ => Value::String(args.prompt.clone()),
    };
    input.insert(field.into(), positional);
    for pair in &args.set {
        let (key, value) = pair.split_once('=').with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        input.insert(key.trim().to_owned(), value);
    }
    let mut body = serde_json::json!({ "input": input });
    if let Some(model) = &args.model {
        body["model"] = Value::String(model.clone());
    }
    let task = client.post_json("/api/v1/tasks", &body).await?;
    let id = task["task_id"].as_str().context("the server answered without a task id")?.to_owned();
    if !args.wait {
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let task = wait_with_progress(&client, &id).await?;
    let status = task["status"].as_str().unwrap_or("unknown");
    if status != "completed" {
        let message = task["error"]["message"].as_str().unwrap_or("no error message");
        bail!("task {id} ended {status}: {message}");
    }
    let images = task["images"].as_array().cloned().unwrap_or_default();
    for (index, image) in images.iter().enumerate() {
        let url = image["url"].as_str().context("an output without a URL")?;
        let bytes = client.download(url).await?;
        let path = output_path(args.output.as_deref(), image, index, images.len());
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The input field the positional argument fills: the text of a QR code or of
/// speech, the picture of an image-to-3D model (an upload id, an output id, a URL),
/// the pictures of a slideshow, else the prompt.
fn positional_field(model: Option<&str>) -> &'static str {
    let name = model.unwrap_or_default().rsplit('/').next().unwrap_or_default();
    match name {
        "qr" | "speech" | "tts" => "text",
        "slideshow" => "images",
        "relief" | "trellis-image-large" => "image",
        _ => "prompt",
    }
}

pub async fn wait_with_progress(client: &Client, id: &str) -> anyhow::Result<Value> {
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {pos:>3}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    loop {
        let task = client.get_json(&format!("/api/v1/tasks/{id}")).await?;
        let status = task["status"].as_str().unwrap_or("unknown").to_owned();
        bar.set_position(task["progress"].as_u64().unwrap_or(0));
        bar.set_message(status.clone());
        if matches!(status.as_str(), "completed" | "failed" | "cancelled" | "expired") {
            bar.finish();
            return Ok(task);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn output_path(requested: Option<&Path>, image: &Value, index: usize, count: usize) -> PathBuf {
    let extension = match image["mime_type"].as_str() {
        Some("image/svg+xml") => "svg",
        Some("image/webp") => "webp",
        Some("image/jpeg") => "jpg",
        _ => "png",
    };
    let default_name = format!("{}.{extension}", image["image_id"].as_str().unwrap_or("output"));
    let path = requested.map_or_else(|| PathBuf::from(default_name), Path::to_path_buf);
    if count <= 1 {
        return path;
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("output").to_owned();
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or(extension).to_owned();
    path.with_file_name(format!("{stem}-{}.{ext}", index + 1))
}

#[cfg(test)]
mod tests {
    use super::positional_field;

    #[test]
    fn the_positional_argument_fills_the_models_main_field() {
        assert_eq!(positional_field(Some("local/qr")), "text");
        assert_eq!(positional_field(Some("local/relief")), "image");
        assert_eq!(positional_field(Some("trellis/trellis-image-large")), "image");
        assert_eq!(positional_field(Some("local/speech")), "text");
        assert_eq!(positional_field(Some("local/slideshow")), "images");
        assert_eq!(positional_field(None), "prompt");
    }
}
