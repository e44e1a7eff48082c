//! `atelier generate MODEL [PROMPT]`: a task for any model (image, video, speech,
//! 3D, text), and with `--wait` or `--watch` its outputs saved, each named by its
//! MIME type (`.png`, `.mp4`, `.wav`, `.glb`…); a text model's answer is printed
//! unless `-o` names a file. The positional argument fills the field the model's
//! input schema asks for first (`prompt`; `text` for speech and QR codes; `image`
//! for image-to-3D; `images`, a list, for a slideshow).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use super::ClientArgs;
use super::client::Client;
use super::output::{CliError, Output};
use super::watch::{self, Show};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// `service/model` (or any name the server knows it by), then the prompt; with
    /// --model, or for the server's default model, the prompt alone.
    #[arg(value_name = "MODEL")]
    pub first: Option<String>,
    /// The prompt, or what the model takes instead: the text to speak or encode, an
    /// image (an upload id, an output id, a URL) for image-to-3D and slideshows.
    #[arg(value_name = "PROMPT")]
    pub second: Option<String>,
    /// `service/model`, when not given first.
    #[arg(long)]
    pub model: Option<String>,
    /// An input field, `key=value` (the value read as JSON when it parses, else as text).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Wait for the task to end and save its outputs (a progress bar on a terminal).
    #[arg(long)]
    pub wait: bool,
    /// As --wait, reporting progress on stderr: a bar on a terminal, else a line per change.
    #[arg(long)]
    pub watch: bool,
    /// Where to save the output (with --wait): the extension comes from the output's
    /// type when the path has none; several outputs get -1, -2 … suffixes.
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: GenerateArgs, output: Output) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    // The catalog says which field the positional argument fills; without it (an
    // old server), the model's name does.
    let catalog = client.get_json("/api/v1/models").await.ok();
    let (model, prompt) = model_and_prompt(&args, catalog.as_ref())?;
    let spec = catalog.as_ref().and_then(|catalog| find_model(catalog, model.as_deref()));
    let mut input = Map::new();
    if let Some(prompt) = prompt {
        let (field, is_list) = match spec {
            Some(spec) => positional_field(&spec["input_schema"]),
            None => positional_field_by_name(model.as_deref()),
        };
        let value = Value::String(prompt);
        input.insert(field, if is_list { Value::Array(vec![value]) } else { value });
    }
    for pair in &args.set {
        let (key, value) = pair.split_once('=').with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        input.insert(key.trim().to_owned(), value);
    }
    let mut body = json!({ "input": input });
    if let Some(model) = &model {
        body["model"] = Value::String(model.clone());
    }
    let created = client.post_json("/api/v1/tasks", &body).await?;
    let id = created["task_id"].as_str().context("the server answered without a task id")?.to_owned();
    if !args.wait && !args.watch {
        output.print(&created, |_| id.clone());
        return Ok(ExitCode::SUCCESS);
    }
    let show = if args.watch { Show::Always } else { Show::BarOnly };
    let task = watch::follow(&client, &id, show).await?;
    if let Some(ended) = CliError::from_ended_task(&task) {
        return Err(ended.into());
    }
    let is_text_model = spec.is_some_and(|spec| spec["modality"] == "text");
    let outputs = task["images"].as_array().cloned().unwrap_or_default();
    let mut files = Vec::new();
    let mut answer = None;
    for (index, file) in outputs.iter().enumerate() {
        let url = file["url"].as_str().context("an output without a URL")?;
        let mime = file["mime_type"].as_str().unwrap_or_default();
        let bytes = client.download(url).await?;
        // A text model's answer is read, not filed, unless a file was asked for.
        if args.out.is_none() && (is_text_model || is_text(mime)) && answer.is_none() {
            answer = Some(String::from_utf8_lossy(&bytes).into_owned());
            continue;
        }
        let path = output_path(args.out.as_deref(), file, index, outputs.len());
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        files.push(json!({
            "path": path.display().to_string(),
            "image_id": file["image_id"],
            "mime_type": mime,
            "role": file["role"],
            "bytes": bytes.len(),
        }));
    }
    let mut summary = json!({ "task": task, "files": files });
    if let Some(answer) = &answer {
        summary["text"] = Value::String(answer.clone());
    }
    output.print(&summary, |summary| {
        let mut lines: Vec<String> = answer.iter().map(|text| text.trim_end().to_owned()).collect();
        lines.extend(
            summary["files"].as_array().into_iter().flatten().filter_map(|f| f["path"].as_str()).map(str::to_owned),
        );
        lines.join("\n")
    });
    Ok(ExitCode::SUCCESS)
}

/// The model and the prompt from the positional arguments: `MODEL PROMPT`; a lone
/// argument is the model when the server knows a model by that name (else, or with
/// `--model`, the prompt).
fn model_and_prompt(args: &GenerateArgs, catalog: Option<&Value>) -> anyhow::Result<(Option<String>, Option<String>)> {
    match (&args.model, args.first.clone(), args.second.clone()) {
        (Some(_), Some(_), Some(_)) => bail!("with --model, give the prompt alone"),
        (Some(model), prompt, None) => Ok((Some(model.clone()), prompt)),
        (None, Some(model), Some(prompt)) => Ok((Some(model), Some(prompt))),
        (None, Some(lone), None) => {
            let is_model = match catalog {
                Some(catalog) => find_model(catalog, Some(&lone)).is_some(),
                None => looks_like_model(&lone),
            };
            Ok(if is_model { (Some(lone), None) } else { (None, Some(lone)) })
        }
        (_, None, _) => bail!("name a model and a prompt: atelier generate local/placeholder \"a red fox\""),
    }
}

/// The catalog's entry for a model (by `service/model`, canonical name or alias),
/// or the default model's when none is named.
fn find_model<'a>(catalog: &'a Value, model: Option<&str>) -> Option<&'a Value> {
    let wanted = model.or_else(|| catalog["default_model"].as_str())?.to_ascii_lowercase();
    let models = catalog["models"].as_array()?;
    let named = |spec: &&Value, key: &str| spec[key].as_str().is_some_and(|name| name.eq_ignore_ascii_case(&wanted));
    models
        .iter()
        .find(|spec| named(spec, "id"))
        .or_else(|| {
            models.iter().find(|spec| {
                spec["aliases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|alias| alias.as_str().is_some_and(|alias| alias.eq_ignore_ascii_case(&wanted)))
            })
        })
        .or_else(|| models.iter().find(|spec| named(spec, "model") && spec["usable"] == true))
        .or_else(|| models.iter().find(|spec| named(spec, "model")))
}

fn looks_like_model(text: &str) -> bool {
    let mut parts = text.split('/');
    let is_name = |part: &str| {
        !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    };
    matches!((parts.next(), parts.next(), parts.next()), (Some(service), Some(model), None) if is_name(service) && is_name(model))
}

/// The field (and whether it is a list) the positional argument fills: the first of
/// the usual main fields the schema requires, else the first it has.
fn positional_field(schema: &Value) -> (String, bool) {
    const MAIN: [&str; 5] = ["prompt", "text", "input", "image", "images"];
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let properties = schema["properties"].as_object();
    let has = |name: &str| properties.is_some_and(|p| p.contains_key(name));
    let field = MAIN
        .iter()
        .find(|name| required.contains(name))
        .or_else(|| ["text", "input", "prompt", "image", "images"].iter().find(|name| has(name)))
        .copied()
        .unwrap_or("prompt");
    let is_list = properties.and_then(|p| p.get(field)).is_some_and(|p| p["type"] == "array");
    (field.to_owned(), is_list)
}

/// The same choice from the model's name alone (a server without a catalog).
fn positional_field_by_name(model: Option<&str>) -> (String, bool) {
    let name = model.unwrap_or_default().rsplit('/').next().unwrap_or_default();
    let (field, is_list) = match name {
        "qr" | "speech" => ("text", false),
        "tts-1" | "tts-1-hd" | "gpt-4o-mini-tts" => ("input", false),
        "slideshow" => ("images", true),
        "relief" | "trellis-image-large" => ("image", false),
        _ => ("prompt", false),
    };
    (field.to_owned(), is_list)
}

fn is_text(mime: &str) -> bool {
    let essence = mime.split(';').next().unwrap_or_default().trim();
    essence.starts_with("text/") || essence == "application/json"
}

/// A file name's extension for a MIME type: the usual one for media this server
/// makes, else the first `mime_guess` knows, else `bin`.
pub fn extension(mime: &str) -> String {
    let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let usual = match essence.as_str() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/svg+xml" => "svg",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/wav" | "audio/wave" | "audio/x-wav" | "audio/vnd.wave" => "wav",
        "audio/ogg" => "ogg",
        "audio/opus" => "opus",
        "audio/flac" | "audio/x-flac" => "flac",
        "audio/aac" => "aac",
        "model/gltf-binary" => "glb",
        "model/gltf+json" => "gltf",
        "model/stl" => "stl",
        "model/obj" => "obj",
        "application/zip" => "zip",
        "application/pdf" => "pdf",
        "application/json" => "json",
        "text/plain" => "txt",
        "text/markdown" => "md",
        _ => "",
    };
    if !usual.is_empty() {
        return usual.to_owned();
    }
    mime_guess::get_mime_extensions_str(&essence)
        .and_then(|extensions| extensions.first())
        .map_or_else(|| "bin".to_owned(), |extension| (*extension).to_owned())
}

/// Where output `index` of `count` goes: `-o` as given for a single output with an
/// extension; else its stem (or the output's id), `-N` when several, and the
/// extension of the output's type.
fn output_path(requested: Option<&Path>, file: &Value, index: usize, count: usize) -> PathBuf {
    let extension = extension(file["mime_type"].as_str().unwrap_or_default());
    let Some(requested) = requested else {
        let name = file["image_id"].as_str().unwrap_or("output");
        let numbered = if count > 1 { format!("{name}-{}", index + 1) } else { name.to_owned() };
        return PathBuf::from(format!("{numbered}.{extension}"));
    };
    if count <= 1 && requested.extension().is_some() {
        return requested.to_path_buf();
    }
    let stem = requested.file_stem().and_then(|s| s.to_str()).unwrap_or("output");
    let numbered = if count > 1 { format!("{stem}-{}", index + 1) } else { stem.to_owned() };
    requested.with_file_name(format!("{numbered}.{extension}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::{extension, looks_like_model, output_path, positional_field, positional_field_by_name};

    #[test]
    fn the_positional_argument_fills_the_field_the_schema_requires() {
        let speech = json!({ "required": ["text"], "properties": { "text": { "type": "string" } } });
        assert_eq!(positional_field(&speech), ("text".into(), false));
        let slideshow = json!({ "required": ["images"], "properties": { "images": { "type": "array" } } });
        assert_eq!(positional_field(&slideshow), ("images".into(), true));
        let img2img = json!({ "required": ["image", "prompt"], "properties": { "image": {}, "prompt": {} } });
        assert_eq!(positional_field(&img2img), ("prompt".into(), false));
        let tts = json!({ "properties": { "input": {}, "prompt": {}, "voice": {} } });
        assert_eq!(positional_field(&tts), ("input".into(), false));
        assert_eq!(positional_field(&json!({})), ("prompt".into(), false));
        assert_eq!(positional_field_by_name(Some("local/relief")), ("image".into(), false));
        assert_eq!(positional_field_by_name(Some("local/slideshow")), ("images".into(), true));
    }

    #[test]
    fn a_lone_argument_is_a_model_only_when_it_reads_as_one() {
        assert!(looks_like_model("local/speech") && looks_like_model("volcengine/general_v2.0"));
        assert!(
            !looks_like_model("a red fox")
                && !looks_like_model("https://example.com")
                && !looks_like_model("AC/DC now")
        );
    }

    #[test]
    fn outputs_are_named_by_their_type() {
        for (mime, ext) in [
            ("image/png", "png"),
            ("video/mp4", "mp4"),
            ("audio/mpeg", "mp3"),
            ("audio/wav", "wav"),
            ("model/gltf-binary", "glb"),
            ("application/zip", "zip"),
            ("model/stl", "stl"),
            ("application/json", "json"),
            ("text/plain; charset=utf-8", "txt"),
            ("image/bmp", "bmp"),
            ("x-unknown/never", "bin"),
        ] {
            assert_eq!(extension(mime), ext, "{mime}");
        }
        let glb = json!({ "image_id": "img_1", "mime_type": "model/gltf-binary" });
        assert_eq!(output_path(Some(Path::new("out/chair")), &glb, 0, 1), Path::new("out/chair.glb"));
        assert_eq!(output_path(Some(Path::new("chair.glb")), &glb, 0, 3), Path::new("chair-1.glb"));
        let stl = json!({ "image_id": "img_2", "mime_type": "model/stl" });
        assert_eq!(output_path(Some(Path::new("chair.glb")), &stl, 1, 3), Path::new("chair-2.stl"));
        assert_eq!(output_path(None, &stl, 0, 1), Path::new("img_2.stl"));
        assert_eq!(output_path(Some(Path::new("fox.jpeg")), &glb, 0, 1), Path::new("fox.jpeg"));
    }
}
