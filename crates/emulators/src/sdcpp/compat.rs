//! The compatibility API families, synchronous from the client's side (the
//! providers' protocol notes, 5.2; confirmed in `examples/server/routes_openai.cpp`
//! and `routes_sdapi.cpp` @ 97d29908):
//!
//! - OpenAI's: `POST /v1/images/generations` (JSON `prompt`, `n`, `size`
//!   `"WxH"`, `output_format` png|jpeg|webp, `output_compression`) and
//!   `POST /v1/images/edits` (multipart `prompt`, `image[]` or `image`,
//!   `mask`, `n`, `size`, `output_format` png|jpeg, `output_compression`), both
//!   answering `{created, output_format, data:[{b64_json}]}`; `GET /v1/models`.
//! - The WebUI's: `POST /sdapi/v1/txt2img` and `img2img` answering
//!   `{images:[<base64 PNG>], parameters:<the body>, info:"<JSON>"}`, and the
//!   discovery `GET`s (`loras`, `upscalers`, `latent-upscale-modes`,
//!   `samplers`, `schedulers`, `sd-models`, `options`).
//!
//! Like the server: a field of the wrong JSON type makes the handler throw
//! (500 `{"error":"server_error","message":"[json.exception.type_error.302] …"}`),
//! as does a body that is not JSON; an empty body answers 400 "empty body", an
//! empty prompt 400 "prompt required", parameters that do not resolve 400
//! "invalid params"; `n` and `batch_size` are clamped to 1–8; a `size` that
//! does not parse keeps 512×512; an init image, mask or extra image that does
//! not decode is skipped; the edits size takes the first image's when unset;
//! `<sd_cpp_extra_args>{…}</sd_cpp_extra_args>` in a prompt applies native
//! fields; seeds default to 42 (OpenAI) or a random one (`sdapi`, -1).
//!
//! The `sdapi` `info` is the JSON text the server writes (`prompt`, `seed`,
//! `cfg_scale`, `width`, `height`, `steps`, `sampler_name`,
//! `extra_generation_params`, `sd_model_name`, `version`, `infotexts`,
//! `all_prompts`, `all_negative_prompts`, `all_seeds`…); the protocol notes say
//! `info: ""` after the server's api.md, its code fills it. Unconfirmed, the
//! emulator's choices: the infotexts' wording; models live under `/models`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::engine::{self, Running, Sampled, Waiting};
use super::errors::{self, Refusal};
use super::params::{self, Gen, Output, Resolved};
use super::{SdCppState, jobs};
use crate::faults::{Fault, TaskFault};
use crate::input_image;
use crate::render::Encoding;
use crate::serve::ConnectionKill;

/// The most a request body may weigh.
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Where the model is said to live.
pub(super) const MODELS_DIR: &str = "/models";

/// A file name without its extension.
pub(super) fn stem(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => base,
    }
}

/// nlohmann's name for a JSON value's type.
pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(expected: &str, value: &Value) -> Refusal {
    errors::server_error(&format!(
        "[json.exception.type_error.302] type must be {expected}, but is {}",
        json_type(value)
    ))
}

/// `j.value(name, default)` for a string: absent is the default, another type throws.
fn string_or(body: &Map<String, Value>, name: &str, default: &str) -> Result<String, Refusal> {
    match body.get(name) {
        None => Ok(default.to_owned()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_error("string", other)),
    }
}

/// `j.value(name, default)` for a number (integers truncate a float).
fn number_or(body: &Map<String, Value>, name: &str, default: f64) -> Result<f64, Refusal> {
    match body.get(name) {
        None => Ok(default),
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(default)),
        Some(other) => Err(type_error("number", other)),
    }
}

fn int_or(body: &Map<String, Value>, name: &str, default: i64) -> Result<i64, Refusal> {
    number_or(body, name, default as f64).map(|n| n.trunc() as i64)
}

/// The output options of a JSON body; the inner `Err` is the server's 400 message.
pub(super) fn output_options(
    body: &Map<String, Value>,
    format_key: &str,
    compression_key: &str,
    allow_webp: bool,
) -> Result<Result<Output, String>, Refusal> {
    let format = string_or(body, format_key, "png")?;
    let compression = int_or(body, compression_key, 100)?;
    Ok(params::output(&format, compression, allow_webp))
}

/// `std::stoi`: the leading integer of `text`, if any.
fn stoi(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let sign = usize::from(text.starts_with(['-', '+']));
    let digits = text[sign..].chars().take_while(char::is_ascii_digit).count();
    if digits == 0 { None } else { text[..sign + digits].parse().ok() }
}

/// Reads `size` (`"WxH"`) into `width`/`height`, each kept when it does not parse.
fn read_size(size: &str, width: &mut i64, height: &mut i64) {
    if let Some((w, h)) = size.split_once('x') {
        let Some(w) = stoi(w) else { return };
        *width = w;
        if let Some(h) = stoi(h) {
            *height = h;
        }
    }
}

/// The connection of a generation lost to a restart: dropped unanswered (the
/// guards go first), or, through a bare router, a 500.
async fn lost<G>(kill: Option<ConnectionKill>, guards: G) -> Response {
    drop(guards);
    match kill {
        Some(kill) => kill.drop_connection().await,
        None => {
            errors::server_error("emulator: the server restarted (dropping the connection needs SdCppEmulator::serve)")
        }
    }
}

/// Generates while the client waits: waits for the model, samples, draws.
async fn generate(
    state: &Arc<SdCppState>,
    spec: &Resolved,
    encoding: Encoding,
    fault: Option<Fault>,
    kill: Option<ConnectionKill>,
) -> Result<Vec<String>, Response> {
    let mut epoch = state.epoch.subscribe();
    let waiting = Waiting::new(state);
    let model = tokio::select! {
        guard = state.model.lock() => guard,
        () = engine::restarted(&mut epoch) => return Err(lost(kill, waiting).await),
    };
    drop(waiting);
    let running = Running::new(state);
    state.inner().stats.sync_generations += 1;
    match engine::sample(state, spec.steps, &mut epoch, || Some(fault.clone())).await {
        Sampled::Finished => {
            let images = engine::draw(state, spec, encoding).await;
            drop((running, model));
            images.map_err(|message| errors::server_error(&message))
        }
        Sampled::Failed(message) => Err(errors::error(500, &message)),
        Sampled::Lost => Err(lost(kill, (running, model)).await),
    }
}

/// The task fault a synchronous generation acts on (`never_finish` became `timeout`).
fn sync_fault(request: &Request) -> Option<Fault> {
    TaskFault::of(request).filter(|f| matches!(f, Fault::GenerationFailed | Fault::Oom | Fault::Restart))
}

/// A body as JSON: 400 when empty, the server's 500 when not JSON.
async fn json_value(request: Request) -> Result<Value, Refusal> {
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| errors::bad_request::<Refusal>("request body too large"))?;
    if bytes.is_empty() {
        return Err(errors::bad_request("empty body"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| errors::server_error(&format!("[json.exception.parse_error.101] parse error: {e}")))
}

fn object(value: &Value) -> Result<&Map<String, Value>, Refusal> {
    value.as_object().ok_or_else(|| {
        errors::server_error(&format!("[json.exception.type_error.306] cannot use value() with {}", json_type(value)))
    })
}

/// Applies the prompt's extra args, then resolves ("invalid params" when it does not).
fn finish(state: &SdCppState, mut spec: Gen) -> Result<Resolved, Refusal> {
    params::apply_extra_args(&mut spec).map_err(|()| errors::bad_request::<Refusal>("invalid sd_cpp_extra_args"))?;
    spec.resolve(&state.config.model_name, || state.random_seed()).map_err(|()| errors::bad_request("invalid params"))
}

/// `{created, output_format, data:[{b64_json}]}`.
fn openai_answer(output: Output, images: Vec<String>) -> Response {
    let data: Vec<Value> = images.into_iter().map(|b64| json!({ "b64_json": b64 })).collect();
    Json(json!({ "created": chrono::Utc::now().timestamp(), "data": data, "output_format": output.format }))
        .into_response()
}

/// `POST /v1/images/generations`.
pub(super) async fn generations(State(state): State<Arc<SdCppState>>, request: Request) -> Response {
    let fault = sync_fault(&request);
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let prepared = async {
        let body = json_value(request).await?;
        let body = object(&body)?;
        let prompt = string_or(body, "prompt", "")?;
        let n = int_or(body, "n", 1)?.max(1);
        let size = string_or(body, "size", "")?;
        let output = output_options(body, "output_format", "output_compression", true)?;
        let mut spec = Gen { batch_count: n, ..Gen::default() };
        let (mut width, mut height) = (512, 512);
        read_size(&size, &mut width, &mut height);
        if prompt.is_empty() {
            return Err(errors::bad_request::<Refusal>("prompt required"));
        }
        let output = output.map_err(|message| errors::bad_request::<Refusal>(&message))?;
        spec.prompt = prompt;
        (spec.width, spec.height) = (width, height);
        Ok((finish(&state, spec)?, output))
    };
    let (spec, output) = match prepared.await {
        Ok(prepared) => prepared,
        Err(refusal) => return refusal.into_response(),
    };
    match generate(&state, &spec, output.encoding, fault, kill).await {
        Ok(images) => openai_answer(output, images),
        Err(response) => response,
    }
}

/// One multipart form, read whole.
#[derive(Default)]
struct Form {
    fields: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>)>,
}

impl Form {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn files<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.files.iter().filter(move |(n, _)| n == name).map(|(_, data)| data.as_slice())
    }
}

async fn read_form(request: Request) -> Result<Form, Refusal> {
    let not_multipart = || errors::bad_request::<Refusal>("Content-Type must be multipart/form-data");
    let mut multipart = Multipart::from_request(request, &()).await.map_err(|_| not_multipart())?;
    let mut form = Form::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(form),
            Err(e) => return Err(errors::bad_request(&format!("invalid multipart body: {e}"))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field.file_name().is_some() || matches!(name.as_str(), "image[]" | "image" | "mask");
        let data =
            field.bytes().await.map_err(|e| errors::bad_request::<Refusal>(&format!("invalid multipart body: {e}")))?;
        if is_file {
            form.files.push((name, data.to_vec()));
        } else {
            form.fields.push((name, String::from_utf8_lossy(&data).into_owned()));
        }
    }
}

/// `POST /v1/images/edits`.
pub(super) async fn edits(State(state): State<Arc<SdCppState>>, request: Request) -> Response {
    let fault = sync_fault(&request);
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let prepared = async {
        let form = read_form(request).await?;
        let prompt = form.field("prompt").unwrap_or_default().to_owned();
        if prompt.is_empty() {
            return Err(errors::bad_request::<Refusal>("prompt required"));
        }
        let mut images: Vec<&[u8]> = form.files("image[]").collect();
        if images.is_empty() {
            images.extend(form.files("image").take(1));
        }
        if images.is_empty() {
            return Err(errors::bad_request("at least one image[] required"));
        }
        let n = form.field("n").and_then(stoi).unwrap_or(1);
        let (mut width, mut height) = (-1, -1);
        read_size(form.field("size").unwrap_or_default(), &mut width, &mut height);
        let format = form.field("output_format").unwrap_or("png");
        let compression = form.field("output_compression").and_then(stoi).unwrap_or(100);
        let output = params::output(format, compression, false).map_err(|m| errors::bad_request::<Refusal>(&m))?;
        let refs: Vec<_> = images.iter().filter_map(|bytes| input_image::from_bytes(bytes).ok()).collect();
        let mask = form.files("mask").next().and_then(|bytes| input_image::from_bytes(bytes).ok());
        let spec =
            Gen { prompt, width, height, batch_count: n, init: refs.first().copied(), refs, mask, ..Gen::default() };
        Ok((finish(&state, spec)?, output))
    };
    let (spec, output) = match prepared.await {
        Ok(prepared) => prepared,
        Err(refusal) => return refusal.into_response(),
    };
    match generate(&state, &spec, output.encoding, fault, kill).await {
        Ok(images) => openai_answer(output, images),
        Err(response) => response,
    }
}

/// `GET /v1/models`.
pub(super) async fn models() -> Response {
    Json(json!({ "data": [{ "id": "sd-cpp-local", "object": "model", "owned_by": "local" }] })).into_response()
}

/// `POST /sdapi/v1/txt2img`.
pub(super) async fn txt2img(State(state): State<Arc<SdCppState>>, request: Request) -> Response {
    sdapi(state, false, request).await
}

/// `POST /sdapi/v1/img2img`.
pub(super) async fn img2img(State(state): State<Arc<SdCppState>>, request: Request) -> Response {
    sdapi(state, true, request).await
}

/// Reads an `sdapi` body into generation parameters.
fn sdapi_gen(body: &Map<String, Value>, img2img: bool) -> Result<Gen, Refusal> {
    let prompt = string_or(body, "prompt", "")?;
    let negative_prompt = string_or(body, "negative_prompt", "")?;
    let width = int_or(body, "width", 512)?;
    let height = int_or(body, "height", 512)?;
    let steps = int_or(body, "steps", params::DEFAULT_STEPS)?;
    let cfg_scale = number_or(body, "cfg_scale", 7.0)?;
    let seed = int_or(body, "seed", -1)?;
    let batch_size = int_or(body, "batch_size", 1)?;
    let clip_skip = int_or(body, "clip_skip", -1)?;
    let sampler_name = string_or(body, "sampler_name", "")?;
    let scheduler = string_or(body, "scheduler", "")?;
    if width <= 0 || height <= 0 {
        return Err(errors::bad_request("width and height must be positive"));
    }
    if prompt.is_empty() {
        return Err(errors::bad_request::<Refusal>("prompt required"));
    }
    let mut spec = Gen {
        prompt,
        negative_prompt,
        seed,
        steps,
        batch_count: batch_size,
        txt_cfg: cfg_scale,
        width: int_or(body, "width", -1)?,
        height: int_or(body, "height", -1)?,
        ..Gen::default()
    };
    params::apply_extra_args(&mut spec).map_err(|()| errors::bad_request::<Refusal>("invalid sd_cpp_extra_args"))?;
    if clip_skip > 0 {
        spec.clip_skip = clip_skip;
    }
    if let Some(method) = params::webui_sampler(&sampler_name) {
        spec.sample_method = Some(method);
    }
    if let Some(found) = params::scheduler(&scheduler) {
        spec.scheduler = Some(found);
    }
    if img2img {
        let first = body.get("init_images").and_then(Value::as_array).and_then(|images| images.first());
        if let Some(text) = first.and_then(Value::as_str) {
            spec.init = input_image::from_text(text).ok();
        }
        if let Some(text) = body.get("mask").and_then(Value::as_str) {
            spec.mask = input_image::from_text(text).ok();
        }
        let denoising = number_or(body, "denoising_strength", -1.0)?;
        if denoising >= 0.0 {
            spec.strength = denoising.min(1.0);
        }
    }
    if let Some(extra) = body.get("extra_images").and_then(Value::as_array) {
        spec.refs.extend(extra.iter().filter_map(Value::as_str).filter_map(|text| input_image::from_text(text).ok()));
    }
    Ok(spec)
}

/// One image's infotext (the emulator's wording).
fn infotext(state: &SdCppState, spec: &Resolved, seed: i64) -> String {
    let mut text = spec.prompt.clone();
    if !spec.negative_prompt.is_empty() {
        text.push_str(&format!("\nNegative prompt: {}", spec.negative_prompt));
    }
    text.push_str(&format!(
        "\nSteps: {}, CFG scale: {}, Seed: {seed}, Size: {}x{}, Model: {}, Sampler: {}, Scheduler: {}, Version: \
         stable-diffusion.cpp",
        spec.steps,
        spec.txt_cfg,
        spec.width,
        spec.height,
        stem(&state.config.model_name),
        spec.sample_method,
        spec.scheduler,
    ));
    text
}

/// The `sdapi` `info` JSON text.
fn info(state: &SdCppState, spec: &Resolved, count: usize) -> String {
    let seeds: Vec<i64> = (0..count as i64).map(|i| spec.seed.wrapping_add(i)).collect();
    let mut info = json!({
        "prompt": spec.prompt,
        "seed": spec.seed,
        "cfg_scale": spec.txt_cfg,
        "width": spec.width,
        "height": spec.height,
        "steps": spec.steps,
        "sampler_name": spec.sample_method,
        "extra_generation_params": { "Schedule type": spec.scheduler },
        "sd_model_name": state.config.model_name,
        "version": "stable-diffusion.cpp",
        "infotexts": seeds.iter().map(|s| infotext(state, spec, *s)).collect::<Vec<_>>(),
        "all_prompts": vec![spec.prompt.as_str(); count],
        "all_negative_prompts": vec![spec.negative_prompt.as_str(); count],
        "all_seeds": seeds,
    });
    if !spec.negative_prompt.is_empty() {
        info["negative_prompt"] = json!(spec.negative_prompt);
    }
    if spec.clip_skip != -1 {
        info["clip_skip"] = json!(spec.clip_skip);
    }
    if spec.img2img {
        info["denoising_strength"] = json!(spec.strength);
    }
    info.to_string()
}

async fn sdapi(state: Arc<SdCppState>, img2img: bool, request: Request) -> Response {
    let fault = sync_fault(&request);
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let prepared = async {
        let body = json_value(request).await?;
        let spec = sdapi_gen(object(&body)?, img2img)?;
        let spec = spec.resolve(&state.config.model_name, || state.random_seed());
        let spec = spec.map_err(|()| errors::bad_request::<Refusal>("invalid params"))?;
        Ok::<_, Refusal>((body, spec))
    };
    let (body, spec) = match prepared.await {
        Ok(prepared) => prepared,
        Err(refusal) => return refusal.into_response(),
    };
    match generate(&state, &spec, Encoding::Png, fault, kill).await {
        Ok(images) => {
            let info = info(&state, &spec, images.len());
            Json(json!({ "images": images, "parameters": body, "info": info })).into_response()
        }
        Err(response) => response,
    }
}

/// `GET /sdapi/v1/loras`: none.
pub(super) async fn loras() -> Response {
    Json(json!([])).into_response()
}

/// `GET /sdapi/v1/upscalers`: the built-in ones.
pub(super) async fn upscalers() -> Response {
    let builtin: Vec<Value> = ["None", "Lanczos", "Nearest"]
        .iter()
        .map(|name| json!({ "name": name, "model_name": null, "model_path": null, "model_url": null, "scale": 4 }))
        .collect();
    Json(builtin).into_response()
}

/// `GET /sdapi/v1/latent-upscale-modes`.
pub(super) async fn latent_upscale_modes() -> Response {
    let modes: Vec<Value> = jobs::BUILTIN_UPSCALERS
        .iter()
        .filter(|name| name.starts_with("Latent"))
        .map(|name| json!({ "name": name }))
        .collect();
    Json(modes).into_response()
}

/// `GET /sdapi/v1/samplers`: `default` and the native names.
pub(super) async fn samplers() -> Response {
    let samplers: Vec<Value> = std::iter::once("default")
        .chain(params::SAMPLE_METHODS)
        .map(|name| json!({ "name": name, "aliases": [name], "options": {} }))
        .collect();
    Json(samplers).into_response()
}

/// `GET /sdapi/v1/schedulers`: `default`, the native names, and `normal` after `discrete`.
pub(super) async fn schedulers() -> Response {
    let mut names = vec!["default"];
    for scheduler in params::SCHEDULERS {
        names.push(scheduler);
        if scheduler == "discrete" {
            names.push("normal");
        }
    }
    Json(names.iter().map(|name| json!({ "name": name, "label": name })).collect::<Vec<_>>()).into_response()
}

/// `GET /sdapi/v1/sd-models`: the one model, with the server's placeholder hashes.
pub(super) async fn sd_models(State(state): State<Arc<SdCppState>>) -> Response {
    let name = &state.config.model_name;
    let file = name.rsplit('/').next().unwrap_or(name);
    Json(json!([{
        "title": stem(name),
        "model_name": stem(name),
        "filename": file,
        "hash": "8888888888",
        "sha256": "8".repeat(64),
        "config": null,
    }]))
    .into_response()
}

/// `GET /sdapi/v1/options`.
pub(super) async fn options(State(state): State<Arc<SdCppState>>) -> Response {
    Json(json!({ "samples_format": "png", "sd_model_checkpoint": stem(&state.config.model_name) })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_stoi_does() {
        let (mut w, mut h) = (512, 512);
        read_size("1024x768", &mut w, &mut h);
        assert_eq!((w, h), (1024, 768));
        read_size("640xtall", &mut w, &mut h);
        assert_eq!((w, h), (640, 768));
        read_size("big", &mut w, &mut h);
        assert_eq!((w, h), (640, 768));
        assert_eq!(stoi(" 12px"), Some(12));
        assert_eq!(stoi("-3"), Some(-3));
        assert_eq!(stoi("x"), None);
        assert_eq!(stem("sd_xl_base_1.0.safetensors"), "sd_xl_base_1.0");
    }
}
