//! `atelier manga story.txt [--feedback]`: a story becomes a manga on a running
//! server (seed 001's seven phases), with a progress bar per phase. With
//! `--feedback` the run waits after each phase: the preview is saved, and a
//! person edits an element, asks for a change in words (shown as a diff before it
//! is applied), branches from an earlier version, stops, or goes on. The result
//! (the document, each phase's preview, and the book: `manga.pdf`, `manga.cbz`
//! and each page as a PNG) is written to `--output`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::ClientArgs;
use super::client::Client;
use super::output::Output;

#[derive(Debug, Args)]
pub struct MangaArgs {
    /// The story: a UTF-8 text file of 5,000 to 50,000 characters.
    pub story: PathBuf,
    /// Wait after each phase for your feedback, on this terminal.
    #[arg(long)]
    pub feedback: bool,
    /// With --feedback: how long each wait lasts before the run goes on by itself.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u32,
    /// The phases' text model (default: the server's, local/planner offline).
    #[arg(long)]
    pub text_model: Option<String>,
    /// The image model of character sheets and panels (default: the server's,
    /// local/placeholder offline).
    #[arg(long)]
    pub image_model: Option<String>,
    /// Stop after this phase (1 to 7).
    #[arg(long)]
    pub last_phase: Option<u32>,
    /// Where to write manga.json and the previews (created if missing).
    #[arg(short = 'o', long = "out", value_name = "DIR", default_value = "manga-out")]
    pub out: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
}

const HELP: &str = "  [Enter] go on · e PATH VALUE  edit an element (e concept.title \"Night Train\") · \
                    say TEXT  a change in words · b VERSION  branch · s  stop here · q  cancel";

pub async fn run(args: MangaArgs, output: Output) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.story).with_context(|| format!("reading {}", args.story.display()))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let client = Client::new(&args.client)?;
    let mut body = json!({
        "text": text,
        "feedback_mode": { "enabled": args.feedback, "timeout_seconds": args.timeout.max(1) },
    });
    for (key, value) in [("text_model", &args.text_model), ("image_model", &args.image_model)] {
        if let Some(value) = value {
            body[key] = json!(value);
        }
    }
    if let Some(last) = args.last_phase {
        body["last_phase"] = json!(last);
    }
    let run = client.post_json("/api/v1/pipelines", &body).await?;
    let id = run["id"].as_str().context("the server answered without a run id")?.to_owned();
    eprintln!("run {id}");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:28} [{bar:30}] {pos:>3}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut answered_wait = None;
    loop {
        let run = client.get_json(&format!("/api/v1/pipelines/{id}")).await?;
        let status = run["status"].as_str().unwrap_or_default().to_owned();
        let phase = run["phase"].as_u64().unwrap_or(0);
        let title = run["phases"]
            .as_array()
            .and_then(|phases| phases.iter().find(|p| p["number"].as_u64() == Some(phase)))
            .and_then(|p| p["title"].as_str())
            .unwrap_or_default()
            .to_owned();
        bar.set_message(format!("phase {phase}: {title}"));
        bar.set_position(run["progress"].as_u64().unwrap_or(0));
        match status.as_str() {
            "completed" => {
                bar.finish_with_message("done");
                let files = finish(&client, &id, &run, &args.out).await?;
                output.print(&json!({ "run": id, "files": files }), |_| files.join("\n"));
                return Ok(ExitCode::SUCCESS);
            }
            "failed" | "cancelled" => {
                bar.abandon();
                let message = run["error"]["message"].as_str().unwrap_or("no error message");
                bail!("run {id} {status}: {message}");
            }
            "waiting_input" if args.feedback => {
                let head = run["head_version_id"].as_str().unwrap_or_default().to_owned();
                if answered_wait.as_deref() != Some(head.as_str()) {
                    bar.suspend(|| ());
                    let preview = save_preview(&client, &id, &head, &args.out, phase).await?;
                    eprintln!("\nphase {phase} ({title}) is ready: {}", preview.display());
                    eprintln!("{HELP}");
                    answered_wait = Some(head.clone());
                    if !converse(&client, &id, &mut stdin).await? {
                        eprintln!("stopped: resume with `curl -X POST …/api/v1/pipelines/{id}/resume`");
                        if output.is_json() {
                            output.print_json(
                                &json!({ "run": id, "files": [preview.display().to_string()], "stopped": true }),
                            );
                        }
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Reads commands until one moves the run on; false when the person stopped it.
async fn converse(
    client: &Client,
    id: &str,
    stdin: &mut tokio::io::Lines<BufReader<tokio::io::Stdin>>,
) -> anyhow::Result<bool> {
    loop {
        eprint!("> ");
        let Some(line) = stdin.next_line().await.context("reading the terminal")? else {
            // No more input: go on as after Enter.
            let _ = client.post_json(&format!("/api/v1/pipelines/{id}/continue"), &json!({})).await;
            return Ok(true);
        };
        let line = line.trim();
        let (command, rest) = line.split_once(' ').map(|(c, r)| (c, r.trim())).unwrap_or((line, ""));
        let outcome = match command {
            "" | "c" | "continue" => {
                client.post_json(&format!("/api/v1/pipelines/{id}/continue"), &json!({})).await?;
                return Ok(true);
            }
            "q" | "cancel" => {
                client.post_json(&format!("/api/v1/pipelines/{id}/cancel"), &json!({})).await?;
                bail!("run {id} cancelled");
            }
            "s" | "stop" => {
                client.post_json(&format!("/api/v1/pipelines/{id}/stop"), &json!({})).await?;
                return Ok(false);
            }
            "e" | "edit" => edit(client, id, rest).await,
            "say" => say(client, id, rest).await,
            "b" | "branch" => client
                .post_json(&format!("/api/v1/pipelines/{id}/branch"), &json!({ "version_id": rest }))
                .await
                .map(|run| format!("now at phase {} of version {rest}", run["phase"])),
            _ => Ok(HELP.to_owned()),
        };
        match outcome {
            Ok(said) => eprintln!("{said}"),
            Err(error) => eprintln!("refused: {error:#}"),
        }
    }
}

async fn edit(client: &Client, id: &str, rest: &str) -> anyhow::Result<String> {
    let (path, value) = rest.split_once(' ').context("e PATH VALUE")?;
    let value = serde_json::from_str(value.trim()).unwrap_or_else(|_| json!(value.trim()));
    let change = json!({ "change_type": "text_edit", "element_id": path, "change_data": { "new_value": value } });
    let answer = client.post_json(&format!("/api/v1/pipelines/{id}/feedback"), &change).await?;
    Ok(answer["version"]["changes"][0]["summary"].as_str().unwrap_or("changed").to_owned())
}

async fn say(client: &Client, id: &str, text: &str) -> anyhow::Result<String> {
    let proposal = client.post_json(&format!("/api/v1/pipelines/{id}/proposals"), &json!({ "text": text })).await?;
    let proposal_id = proposal["id"].as_str().context("no proposal id")?.to_owned();
    let answered = loop {
        let answered = client.get_json(&format!("/api/v1/pipelines/{id}/proposals/{proposal_id}")).await?;
        match answered["status"].as_str() {
            Some("completed") => break answered,
            Some("failed" | "cancelled" | "expired") => {
                bail!("{}", answered["error"].as_str().unwrap_or("the proposal failed"))
            }
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    };
    let changes = answered["diff"].as_array().map_or(0, Vec::len);
    eprintln!("proposed: {} ({changes} changes)", answered["summary"].as_str().unwrap_or_default());
    for missed in answered["not_understood"].as_array().into_iter().flatten() {
        eprintln!("not understood: {}", missed.as_str().unwrap_or_default());
    }
    if changes == 0 {
        return Ok("nothing to apply".into());
    }
    client.post_json(&format!("/api/v1/pipelines/{id}/proposals/{proposal_id}/apply"), &json!({})).await?;
    Ok("applied".into())
}

async fn save_preview(client: &Client, id: &str, version: &str, dir: &Path, phase: u64) -> anyhow::Result<PathBuf> {
    let svg = client.download(&format!("/api/v1/pipelines/{id}/versions/{version}/preview")).await?;
    let path = dir.join(format!("phase-{phase}.svg"));
    std::fs::write(&path, &svg).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Writes the result out; the paths written, the document first.
async fn finish(client: &Client, id: &str, run: &Value, dir: &Path) -> anyhow::Result<Vec<String>> {
    let seed = client.get_json(&format!("/api/v1/manga/{id}")).await?;
    for result in seed["phase_results"].as_array().into_iter().flatten() {
        let phase = result["phase"].as_u64().unwrap_or(0);
        let url = result["preview_url"].as_str().context("a phase without a preview")?;
        let path = dir.join(format!("phase-{phase}.svg"));
        std::fs::write(&path, client.download(url).await?).with_context(|| format!("writing {}", path.display()))?;
    }
    let head = run["head_version_id"].as_str().context("a finished run without a version")?;
    let version = client.get_json(&format!("/api/v1/pipelines/{id}/versions/{head}")).await?;
    let path = dir.join("manga.json");
    let document = serde_json::to_vec_pretty(&version["document"]).context("encoding the document")?;
    std::fs::write(&path, document).with_context(|| format!("writing {}", path.display()))?;
    let mut files = vec![path.display().to_string()];
    // The book, when the run went as far as phase 7.
    let book = &seed["manga_result"]["book"];
    for (key, name) in [("pdf", "manga.pdf"), ("cbz", "manga.cbz")] {
        if let Some(url) = book[key].as_str() {
            let path = dir.join(name);
            std::fs::write(&path, client.download(url).await?)
                .with_context(|| format!("writing {}", path.display()))?;
            files.push(path.display().to_string());
        }
    }
    for (index, url) in book["pages"].as_array().into_iter().flatten().filter_map(Value::as_str).enumerate() {
        let path = dir.join(format!("page-{:03}.png", index + 1));
        std::fs::write(&path, client.download(url).await?).with_context(|| format!("writing {}", path.display()))?;
        files.push(path.display().to_string());
    }
    let problems = book["report"]["problems"].as_array().map_or(0, Vec::len);
    if book.is_object() {
        eprintln!("quality check: {problems} problem(s) to look at (manga.json, report.problems)");
    }
    Ok(files)
}
