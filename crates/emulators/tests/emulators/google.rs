//! The Gemini API emulator through HTTP: the API key (header and query),
//! Imagen's sizes, counts and encodings, a Veo operation's life and its
//! downloads (with the key, refused without it, or through a redirect),
//! Gemini's images (text-to-image and edits) and text (JSON valid against the
//! request's schema, checked here by a small validator written from JSON
//! Schema, not the emulator's code), every fault, and the stats.

use std::time::{Duration, Instant};

use atelier_emulators::google::{FaultPlan, GoogleEmulator, GoogleEmulatorConfig, parse_fault_rule};
use base64::Engine;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const KEY: &str = "test-key";
const IMAGEN: &str = "/v1beta/models/imagen-4.0-generate-001:predict";
const VEO: &str = "/v1beta/models/veo-3.0-generate-001:predictLongRunning";
const FLASH_IMAGE: &str = "/v1beta/models/gemini-2.5-flash-image:generateContent";
const FLASH: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

// ---- The emulator and a client. ----

struct Emulator {
    base: String,
    http: reqwest::Client,
}

/// How a request is sent.
#[derive(Clone, Copy)]
struct Send<'a> {
    /// The `x-goog-api-key` header.
    key: Option<&'a str>,
    /// An `X-Emulator-Fault` header.
    fault: Option<&'a str>,
}

const WITH_KEY: Send<'static> = Send { key: Some(KEY), fault: None };

async fn start(faults: &[&str], tweak: impl FnOnce(&mut GoogleEmulatorConfig)) -> Emulator {
    let mut plan = FaultPlan::none();
    for rule in faults {
        plan = plan.with(parse_fault_rule(rule).expect("rule"));
    }
    let mut config =
        GoogleEmulatorConfig { faults: plan, timeout_fault_duration: Duration::from_secs(5), ..Default::default() };
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(GoogleEmulator::new(config).serve(listener));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Emulator { base, http }
}

impl Emulator {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    fn with(&self, request: reqwest::RequestBuilder, send: Send<'_>) -> reqwest::RequestBuilder {
        let request = match send.key {
            Some(key) => request.header("x-goog-api-key", key),
            None => request,
        };
        match send.fault {
            Some(fault) => request.header("X-Emulator-Fault", fault),
            None => request,
        }
    }

    async fn post_raw(&self, path: &str, body: &Value, send: Send<'_>) -> reqwest::Result<reqwest::Response> {
        self.with(self.http.post(self.url(path)).json(body), send).send().await
    }

    async fn post_with(&self, path: &str, body: &Value, send: Send<'_>) -> (u16, Value) {
        json_of(self.post_raw(path, body, send).await.expect("answered")).await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_with(path, body, WITH_KEY).await
    }

    async fn get_raw(&self, path: &str, send: Send<'_>) -> reqwest::Response {
        self.with(self.http.get(self.url(path)), send).send().await.expect("answered")
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        json_of(self.get_raw(path, WITH_KEY).await).await
    }

    async fn stats(&self) -> Value {
        let response = self.http.get(format!("{}/__emulator/stats", self.base)).send().await.expect("stats");
        response.json().await.expect("json")
    }

    /// Creates a Veo operation; its name.
    async fn create_video(&self, body: &Value, fault: Option<&str>) -> String {
        let (status, answer) = self.post_with(VEO, body, Send { key: Some(KEY), fault }).await;
        assert_eq!(status, 200, "{answer}");
        answer["name"].as_str().expect("an operation name").to_owned()
    }
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

fn decode(b64: &Value, format: image::ImageFormat) -> image::DynamicImage {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64 string")).expect("base64");
    assert_eq!(image::guess_format(&bytes).expect("an image"), format);
    image::load_from_memory_with_format(&bytes, format).expect("decodes")
}

fn size_of(image: &image::DynamicImage) -> (u32, u32) {
    (image.width(), image.height())
}

/// A google.rpc.Status error with this code and status name.
fn assert_rpc_error(answer: &Value, code: u64, status: &str) {
    assert_eq!(answer["error"]["code"], code, "{answer}");
    assert_eq!(answer["error"]["status"], status, "{answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
}

fn imagen(parameters: Value) -> Value {
    json!({ "instances": [{ "prompt": "a red fox in the snow" }], "parameters": parameters })
}

fn text_request(text: &str) -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": text }] }] })
}

fn png_b64(width: u32, height: u32) -> String {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    base64::engine::general_purpose::STANDARD.encode(out.into_inner())
}

/// Polls an operation until `done`, at most `polls` times; the last answer and the polls it took.
async fn poll_until_done(emulator: &Emulator, name: &str, polls: usize) -> (Value, usize) {
    for n in 1..=polls {
        let (status, answer) = emulator.get(&format!("/v1beta/{name}")).await;
        assert_eq!(status, 200, "{answer}");
        if answer["done"] == true {
            return (answer, n);
        }
    }
    panic!("{name} was not done after {polls} polls");
}

// ---- A JSON Schema validator (the subset the tests' schemas use). ----

fn validate(schema: &Value, value: &Value, root: &Value, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else { return Ok(()) };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = root.pointer(reference.trim_start_matches('#')).ok_or(format!("{at}: bad $ref {reference}"))?;
        return validate(target, value, root, at);
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return Err(format!("{at}: {value} is not the const {expected}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array)
        && !branches.iter().any(|b| validate(b, value, root, at).is_ok())
    {
        return Err(format!("{at}: {value} matches no anyOf branch"));
    }
    for branch in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        validate(branch, value, root, at)?;
    }
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.to_ascii_lowercase()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty() && !types.iter().any(|t| t == kind || (t == "number" && kind == "integer")) {
        return Err(format!("{at}: {value} is a {kind}, not {types:?}"));
    }
    let number = |name: &str| schema.get(name).and_then(Value::as_f64);
    if let Some(n) = value.as_f64() {
        let fails = number("minimum").is_some_and(|m| n < m)
            || number("maximum").is_some_and(|m| n > m)
            || number("exclusiveMinimum").is_some_and(|m| n <= m)
            || number("exclusiveMaximum").is_some_and(|m| n >= m);
        if fails {
            return Err(format!("{at}: {n} is out of bounds"));
        }
    }
    let count = |name: &str| schema.get(name).and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
    if let Value::String(s) = value {
        let length = s.chars().count() as u64;
        if count("minLength").is_some_and(|m| length < m) || count("maxLength").is_some_and(|m| length > m) {
            return Err(format!("{at}: `{s}` has the wrong length"));
        }
    }
    if let Value::Array(items) = value {
        let n = items.len() as u64;
        if count("minItems").is_some_and(|m| n < m) || count("maxItems").is_some_and(|m| n > m) {
            return Err(format!("{at}: {n} items"));
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    return Err(format!("{at}: {item} is repeated"));
                }
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item_schema, item, root, &format!("{at}[{i}]"))?;
            }
        }
    }
    if let Value::Object(object) = value {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: `{name}` is required"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, item) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => validate(sub, item, root, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: `{name}` is not allowed"));
                }
                None => {}
            }
        }
    }
    Ok(())
}

// ---- Tests. ----

#[tokio::test]
async fn the_api_key_is_checked_in_the_header_or_the_query() {
    let emulator = start(&[], |_| {}).await;
    let body = imagen(json!({ "sampleCount": 1 }));
    for send in [Send { key: None, fault: None }, Send { key: Some("wrong"), fault: None }] {
        let (status, answer) = emulator.post_with(IMAGEN, &body, send).await;
        assert_eq!(status, 400, "{answer}");
        assert_rpc_error(&answer, 400, "INVALID_ARGUMENT");
        assert_eq!(answer["error"]["message"], "API key not valid. Please pass a valid API key.");
        assert_eq!(answer["error"]["details"][0]["reason"], "API_KEY_INVALID");
        assert_eq!(answer["error"]["details"][0]["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
        assert_eq!(answer["error"]["details"][0]["domain"], "googleapis.com");
    }
    let (status, answer) =
        emulator.post_with(&format!("{IMAGEN}?key={KEY}"), &body, Send { key: None, fault: None }).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = emulator.post_with(&format!("{IMAGEN}?key=nope"), &body, Send { key: None, fault: None }).await;
    assert_eq!(status, 400);

    // Stats need no key and count the refusals.
    let stats = emulator.stats().await;
    assert_eq!(stats["auth_failures"], 3);
    assert_eq!(stats["predict"], 4);
    assert_eq!(stats["by_model"]["imagen-4.0-generate-001"], 1);
}

#[tokio::test]
async fn imagen_answers_images_of_the_asked_size_count_and_type() {
    let emulator = start(&[], |_| {}).await;

    // Defaults: four 1:1 1K PNGs.
    let (status, answer) = emulator.post(IMAGEN, &json!({ "instances": [{ "prompt": "a red fox" }] })).await;
    assert_eq!(status, 200, "{answer}");
    let predictions = answer["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), 4);
    for prediction in predictions {
        assert_eq!(prediction["mimeType"], "image/png");
        assert_eq!(size_of(&decode(&prediction["bytesBase64Encoded"], image::ImageFormat::Png)), (1024, 1024));
    }
    assert_ne!(predictions[0], predictions[1], "each sample differs");

    for (parameters, count, size) in [
        (json!({ "sampleCount": 2, "aspectRatio": "16:9" }), 2, (1024, 576)),
        (json!({ "sampleCount": 1, "aspectRatio": "9:16", "personGeneration": "ALLOW_ALL" }), 1, (576, 1024)),
        (json!({ "sampleCount": 1, "aspectRatio": "4:3", "sampleImageSize": "2K" }), 1, (2048, 1536)),
        (json!({ "sampleCount": 1, "aspectRatio": "3:4", "imageSize": "1K" }), 1, (768, 1024)),
    ] {
        let (status, answer) = emulator.post(IMAGEN, &imagen(parameters.clone())).await;
        assert_eq!(status, 200, "{parameters}: {answer}");
        let predictions = answer["predictions"].as_array().expect("predictions");
        assert_eq!(predictions.len(), count, "{parameters}");
        assert_eq!(size_of(&decode(&predictions[0]["bytesBase64Encoded"], image::ImageFormat::Png)), size);
    }

    // JPEG on request, every accepted option, and the safety attributes.
    let (status, answer) = emulator
        .post(
            "/v1beta/models/imagen-4.0-ultra-generate-001:predict",
            &imagen(json!({
                "sampleCount": 1, "outputOptions": { "mimeType": "image/jpeg", "compressionQuality": 80 },
                "includeRaiReason": true, "includeSafetyAttributes": true, "safetySetting": "block_low_and_above",
                "language": "en", "guidanceScale": 7.5, "negativePrompt": "blurry",
            })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["predictions"][0]["mimeType"], "image/jpeg");
    let jpeg = decode(&answer["predictions"][0]["bytesBase64Encoded"], image::ImageFormat::Jpeg);
    assert_eq!(size_of(&jpeg), (1024, 1024));
    assert!(answer["predictions"][0]["safetyAttributes"].is_object(), "{answer}");
    assert_eq!(answer["positivePromptSafetyAttributes"]["contentType"], "Positive Prompt");

    // Deterministic under the seed.
    let body = imagen(json!({ "sampleCount": 1 }));
    let (_, first) = emulator.post(IMAGEN, &body).await;
    let (_, second) = emulator.post(IMAGEN, &body).await;
    assert_eq!(first, second);

    // Refusals: out of range, Vertex-only, the fast model's 2K, unknown models.
    for (path, body) in [
        (IMAGEN, imagen(json!({ "sampleCount": 5 }))),
        (IMAGEN, imagen(json!({ "aspectRatio": "2:1" }))),
        (IMAGEN, imagen(json!({ "seed": 42 }))),
        (IMAGEN, imagen(json!({ "outputOptions": { "mimeType": "image/webp" } }))),
        (IMAGEN, json!({ "instances": [] })),
        ("/v1beta/models/imagen-4.0-fast-generate-001:predict", imagen(json!({ "sampleImageSize": "2K" }))),
    ] {
        let (status, answer) = emulator.post(path, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_rpc_error(&answer, 400, "INVALID_ARGUMENT");
    }
    for path in ["/v1beta/models/imagen-9:predict", "/v1beta/models/gemini-2.5-flash:predict"] {
        let (status, answer) = emulator.post(path, &imagen(json!({}))).await;
        assert_eq!(status, 404, "{path}");
        assert_rpc_error(&answer, 404, "NOT_FOUND");
    }
    let (status, answer) = emulator.post("/v1beta/models/imagen-4.0-generate-001:countTokens", &json!({})).await;
    assert_eq!((status, &answer["error"]["status"]), (404, &json!("NOT_FOUND")));

    let stats = emulator.stats().await;
    assert_eq!(stats["images_generated"], 4 + 2 + 1 + 1 + 1 + 1 + 2);
    assert_eq!(stats["by_model"]["imagen-4.0-ultra-generate-001"], 1);
}

#[tokio::test]
async fn a_veo_operation_runs_then_its_video_downloads_with_the_key() {
    let emulator = start(&[], |_| {}).await;
    let name = emulator
        .create_video(
            &json!({
                "instances": [{
                    "prompt": "waves at dusk",
                    "image": { "bytesBase64Encoded": png_b64(64, 36), "mimeType": "image/png" },
                }],
                "parameters": {
                    "aspectRatio": "16:9", "durationSeconds": 8, "resolution": "1080p",
                    "personGeneration": "allow_adult", "negativePrompt": "rain", "enhancePrompt": true,
                    "sampleCount": 2,
                },
            }),
            None,
        )
        .await;
    let id = name.strip_prefix("models/veo-3.0-generate-001/operations/").expect("the operation's name");

    for _ in 0..2 {
        let (status, answer) = emulator.get(&format!("/v1beta/{name}")).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!((&answer["name"], &answer["done"]), (&json!(name), &json!(false)), "{answer}");
        assert!(answer["metadata"].is_object(), "{answer}");
        assert!(answer.get("response").is_none());
    }
    assert_eq!(emulator.stats().await["operation_states"][id], "running");
    // The bare operations path answers too.
    let (status, done) = emulator.get(&format!("/v1beta/operations/{id}")).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["done"], true, "{done}");
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
    );
    let samples = done["response"]["generateVideoResponse"]["generatedSamples"].as_array().expect("samples");
    assert_eq!(samples.len(), 2);
    let uri = samples[0]["video"]["uri"].as_str().expect("a video uri");
    assert!(
        uri.starts_with(&format!("{}/v1beta/files/", emulator.base)) && uri.ends_with(":download?alt=media"),
        "{uri}"
    );
    let (_, again) = emulator.get(&format!("/v1beta/{name}")).await;
    assert_eq!(again, done, "a finished operation stays finished");

    let response = emulator.get_raw(uri, WITH_KEY).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let video = response.bytes().await.expect("bytes");
    assert_eq!(&video[4..8], b"ftyp");
    let response = emulator.get_raw(&format!("{uri}&key={KEY}"), Send { key: None, fault: None }).await;
    assert_eq!(response.status(), 200, "the key may come in the query");

    for send in [Send { key: None, fault: None }, Send { key: Some("wrong"), fault: None }] {
        let (status, answer) = json_of(emulator.get_raw(uri, send).await).await;
        assert_eq!(status, 403, "{answer}");
        assert_rpc_error(&answer, 403, "PERMISSION_DENIED");
    }
    let no_alt = uri.trim_end_matches("?alt=media");
    assert_eq!(emulator.get_raw(no_alt, WITH_KEY).await.status(), 400);
    let (status, answer) = emulator.get("/v1beta/files/nothing:download?alt=media").await;
    assert_eq!(status, 404, "{answer}");

    // A portrait video is another fixture.
    let portrait = emulator
        .create_video(&json!({ "instances": [{ "prompt": "a tower" }], "parameters": { "aspectRatio": "9:16" } }), None)
        .await;
    let (done, _) = poll_until_done(&emulator, &portrait, 5).await;
    let uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"].as_str().expect("uri");
    let tall = emulator.get_raw(uri, WITH_KEY).await.bytes().await.expect("bytes");
    assert_ne!(tall, video);

    // Unknown operations, another model's path, and refused parameters.
    let (status, answer) = emulator.get("/v1beta/models/veo-3.0-generate-001/operations/nothing").await;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = emulator.get(&format!("/v1beta/models/veo-2.0-generate-001/operations/{id}")).await;
    assert_eq!(status, 404);
    for parameters in [
        json!({ "seed": 7 }),
        json!({ "fps": 24 }),
        json!({ "generateAudio": true }),
        json!({ "durationSeconds": 10 }),
        json!({ "resolution": "4k" }),
        json!({ "aspectRatio": "1:1" }),
    ] {
        let body = json!({ "instances": [{ "prompt": "x" }], "parameters": parameters });
        let (status, answer) = emulator.post(VEO, &body).await;
        assert_eq!(status, 400, "{parameters}: {answer}");
        assert_rpc_error(&answer, 400, "INVALID_ARGUMENT");
    }
    let (status, answer) = emulator
        .post(
            "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning",
            &json!({ "instances": [{ "prompt": "x" }], "parameters": { "resolution": "4k", "durationSeconds": 4 } }),
        )
        .await;
    assert_eq!(status, 200, "Veo 3.1 draws 4k: {answer}");

    let stats = emulator.stats().await;
    assert_eq!(stats["operation_states"][id], "succeeded");
    assert_eq!(stats["operations_created"], 3);
    assert_eq!(stats["predict_long_running"], 9);
    assert_eq!(stats["files"], 7);
    assert_eq!(stats["videos_downloaded"], 3);
    assert_eq!(stats["by_model"]["veo-3.1-fast-generate-preview"], 1);
}

#[tokio::test]
async fn downloads_may_redirect_to_a_keyless_url() {
    let emulator = start(&[], |config| {
        config.redirect_downloads = true;
        config.steps_to_finish = 0;
    })
    .await;
    let name = emulator.create_video(&json!({ "instances": [{ "prompt": "rain" }] }), None).await;
    let (done, polls) = poll_until_done(&emulator, &name, 1).await;
    assert_eq!(polls, 1, "done at the first poll with steps_to_finish 0");
    let uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"].as_str().expect("uri");

    let response = emulator.get_raw(uri, WITH_KEY).await;
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(location.starts_with(&emulator.base) && !location.contains(KEY), "{location}");
    let response = emulator.get_raw(&location, Send { key: None, fault: None }).await;
    assert_eq!(response.status(), 200, "the redirect target needs no key");
    assert_eq!(response.headers()["content-type"], "video/mp4");
    assert_eq!(&response.bytes().await.expect("bytes")[4..8], b"ftyp");

    let forged = format!("{}0", location);
    assert_eq!(emulator.get_raw(&forged, Send { key: None, fault: None }).await.status(), 403);
    assert_eq!(emulator.get_raw(uri, Send { key: None, fault: None }).await.status(), 403, "no key, no redirect");
}

#[tokio::test]
async fn gemini_draws_images_and_keeps_an_edits_size() {
    let emulator = start(&[], |_| {}).await;
    let (status, answer) = emulator.post(FLASH_IMAGE, &text_request("a lighthouse in a storm")).await;
    assert_eq!(status, 200, "{answer}");
    let candidate = &answer["candidates"][0];
    assert_eq!((&candidate["finishReason"], &candidate["index"]), (&json!("STOP"), &json!(0)));
    assert_eq!(candidate["content"]["role"], "model");
    let parts = candidate["content"]["parts"].as_array().expect("parts");
    assert_eq!(parts[0]["text"], "Here is your image");
    assert_eq!(parts[1]["inlineData"]["mimeType"], "image/png");
    assert_eq!(size_of(&decode(&parts[1]["inlineData"]["data"], image::ImageFormat::Png)), (1024, 1024));
    assert_eq!(answer["modelVersion"], "gemini-2.5-flash-image");
    assert!(answer["responseId"].as_str().is_some_and(|id| !id.is_empty()));
    let usage = &answer["usageMetadata"];
    assert_eq!(usage["candidatesTokenCount"].as_u64().map(|n| n >= 1290), Some(true), "{usage}");
    assert_eq!(
        usage["totalTokenCount"].as_u64(),
        Some(usage["promptTokenCount"].as_u64().unwrap_or(0) + usage["candidatesTokenCount"].as_u64().unwrap_or(0))
    );

    // IMAGE alone (any case), at an aspect ratio.
    let mut wide = text_request("a harbour");
    wide["generationConfig"] = json!({ "responseModalities": ["image"], "imageConfig": { "aspectRatio": "16:9" } });
    let (status, answer) = emulator.post(FLASH_IMAGE, &wide).await;
    assert_eq!(status, 200, "{answer}");
    let parts = answer["candidates"][0]["content"]["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 1);
    assert_eq!(size_of(&decode(&parts[0]["inlineData"]["data"], image::ImageFormat::Png)), (1344, 768));

    // An edit: the input's size, as snake_case proto names too.
    let edit = json!({
        "contents": [{ "role": "user", "parts": [
            { "text": "make the sky purple" },
            { "inline_data": { "mime_type": "image/png", "data": png_b64(320, 200) } },
        ] }],
        "generationConfig": { "responseModalities": ["TEXT", "IMAGE"], "temperature": 0.4 },
    });
    for path in [FLASH_IMAGE, "/v1beta/models/gemini-2.0-flash-preview-image-generation:generateContent"] {
        let (status, answer) = emulator.post(path, &edit).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let parts = answer["candidates"][0]["content"]["parts"].as_array().expect("parts");
        let image = parts.iter().find(|p| p.get("inlineData").is_some()).expect("an image part");
        assert_eq!(size_of(&decode(&image["inlineData"]["data"], image::ImageFormat::Png)), (320, 200));
        assert_eq!(answer["usageMetadata"]["promptTokensDetails"][1]["modality"], "IMAGE");
    }

    // Refusals: a broken input image, modalities the model lacks, unknown fields.
    let mut broken = edit.clone();
    broken["contents"][0]["parts"][1]["inline_data"]["data"] = json!("aGVsbG8gd29ybGQ=");
    let mut text_only_2_0 = text_request("x");
    text_only_2_0["generationConfig"] = json!({ "responseModalities": ["TEXT"] });
    for (path, body) in [
        (FLASH_IMAGE, broken),
        (FLASH_IMAGE, json!({ "contents": [] })),
        (FLASH_IMAGE, json!({ "contents": [{ "parts": [{ "text": "x" }] }], "generationConfig": { "bogus": 1 } })),
        ("/v1beta/models/gemini-2.0-flash-preview-image-generation:generateContent", text_only_2_0),
        (FLASH, wide),
    ] {
        let (status, answer) = emulator.post(path, &body).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_rpc_error(&answer, 400, "INVALID_ARGUMENT");
    }
    let (status, _) = emulator.post("/v1beta/models/gemini-9-ultra:generateContent", &text_request("x")).await;
    assert_eq!(status, 404);
    assert_eq!(emulator.stats().await["generate_content"], 10);
}

#[tokio::test]
async fn gemini_text_answers_json_valid_against_the_schema() {
    let emulator = start(&[], |_| {}).await;

    // Plain text: derived from the prompt, deterministic.
    let (status, first) = emulator.post(FLASH, &text_request("Name three colours.")).await;
    assert_eq!(status, 200, "{first}");
    let text = first["candidates"][0]["content"]["parts"][0]["text"].as_str().expect("text");
    assert!(text.contains("Name three colours."), "{text}");
    let (_, second) = emulator.post(FLASH, &text_request("Name three colours.")).await;
    assert_eq!(second["candidates"][0]["content"], first["candidates"][0]["content"]);

    // Gemini's OpenAPI-subset schema.
    let response_schema = json!({
        "type": "OBJECT",
        "properties": {
            "title": { "type": "STRING", "minLength": 3 },
            "genre": { "type": "STRING", "enum": ["shonen", "seinen", "shojo"] },
            "pages": { "type": "ARRAY", "minItems": 2, "items": {
                "type": "OBJECT",
                "properties": {
                    "number": { "type": "INTEGER", "minimum": 1 },
                    "panels": { "type": "ARRAY", "minItems": 1, "maxItems": 6, "items": { "type": "STRING" } },
                    "mood": { "type": "STRING", "nullable": true },
                },
                "required": ["number", "panels"],
                "propertyOrdering": ["number", "panels", "mood"],
            } },
            "rating": { "type": "NUMBER", "minimum": 0, "maximum": 5 },
            "finished": { "type": "BOOLEAN" },
        },
        "required": ["title", "genre", "pages", "rating", "finished"],
    });
    // Plain JSON Schema with $defs, a const, bounds, unique items and a nullable union.
    let json_schema = json!({
        "$defs": { "character": {
            "type": "object",
            "properties": {
                "name": { "type": "string", "maxLength": 12 },
                "age": { "type": "integer", "exclusiveMinimum": 0 },
            },
            "required": ["name", "age"],
            "additionalProperties": false,
        } },
        "type": "object",
        "properties": {
            "version": { "const": 2 },
            "cast": { "type": "array", "items": { "$ref": "#/$defs/character" }, "minItems": 2 },
            "tags": { "type": "array", "items": { "type": "string" }, "minItems": 3, "uniqueItems": true },
            "sequel": { "anyOf": [{ "type": "null" }, { "type": "string", "format": "date" }] },
        },
        "required": ["version", "cast", "tags", "sequel"],
        "additionalProperties": false,
    });
    for (key, schema) in [("responseSchema", response_schema), ("responseJsonSchema", json_schema)] {
        let mut body = text_request("Outline a manga chapter.");
        body["systemInstruction"] = json!({ "parts": [{ "text": "You are a story editor." }] });
        body["generationConfig"] =
            json!({ "responseMimeType": "application/json", key: schema.clone(), "temperature": 0.2 });
        let (status, answer) = emulator.post(FLASH, &body).await;
        assert_eq!(status, 200, "{key}: {answer}");
        assert_eq!(answer["candidates"][0]["finishReason"], "STOP");
        let text = answer["candidates"][0]["content"]["parts"][0]["text"].as_str().expect("text");
        let value: Value = serde_json::from_str(text).expect("the text is JSON");
        validate(&schema, &value, &schema, "$").unwrap_or_else(|e| panic!("{key}: {e}\n{value}"));
    }

    // An enum answer, and maxOutputTokens cutting a long one.
    let mut pick = text_request("Pick a genre.");
    pick["generationConfig"] = json!({
        "responseMimeType": "text/x.enum",
        "responseSchema": { "type": "STRING", "enum": ["horror", "comedy"] },
    });
    let (_, answer) = emulator.post(FLASH, &pick).await;
    assert_eq!(answer["candidates"][0]["content"]["parts"][0]["text"], "horror");
    let mut short = text_request(&"a very long prompt ".repeat(20));
    short["generation_config"] = json!({ "max_output_tokens": 5, "candidate_count": 2 });
    let (status, answer) = emulator.post("/v1beta/models/gemini-2.5-pro:generateContent", &short).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["candidates"].as_array().map(Vec::len), Some(2));
    assert_eq!(answer["candidates"][1]["finishReason"], "MAX_TOKENS");
    assert_eq!(answer["candidates"][1]["content"]["parts"][0]["text"].as_str().map(|t| t.chars().count()), Some(20));
}

#[tokio::test]
async fn status_faults_answer_google_errors() {
    let emulator = start(&[], |_| {}).await;
    let body = imagen(json!({ "sampleCount": 1 }));
    for (code, status) in [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ] {
        let fault = format!("status={code}");
        // Answered before the key is looked at.
        let response =
            emulator.post_raw(IMAGEN, &body, Send { key: None, fault: Some(&fault) }).await.expect("answered");
        assert!(response.headers().get("retry-after").is_none(), "{code}");
        let (http, answer) = json_of(response).await;
        assert_eq!(http, code, "{answer}");
        assert_rpc_error(&answer, u64::from(code), status);
        if code == 429 {
            assert_eq!(
                answer["error"]["details"],
                json!([{ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s" }])
            );
        } else {
            assert!(answer["error"].get("details").is_none(), "{answer}");
        }
    }
    let response = emulator
        .post_raw(FLASH, &text_request("x"), Send { key: Some(KEY), fault: Some("status=429,retry_after_seconds=7") })
        .await
        .expect("answered");
    assert_eq!(response.headers()["retry-after"], "7");
    let (_, answer) = json_of(response).await;
    assert_eq!(answer["error"]["details"][0]["retryDelay"], "7s");

    // A header that does not parse, and a code the protocol does not have.
    for fault in ["status=418", "explode"] {
        let (status, answer) = emulator.post_with(IMAGEN, &body, Send { key: Some(KEY), fault: Some(fault) }).await;
        assert_eq!(status, 400, "{fault}: {answer}");
    }

    // Planned: the first Veo create is rate limited, every second poll unavailable.
    let planned = start(&["veo:first=1:status=429", "operations:every=2:status=503"], |_| {}).await;
    let create = json!({ "instances": [{ "prompt": "x" }] });
    assert_eq!(planned.post(VEO, &create).await.0, 429);
    let name = planned.create_video(&create, None).await;
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(planned.get(&format!("/v1beta/{name}")).await.0);
        }
        statuses
    };
    assert_eq!(statuses, [200, 503, 200, 503]);
    assert_eq!(planned.stats().await["faults_injected"]["status"], 3);
}

#[tokio::test]
async fn safety_faults_filter_each_api_its_way() {
    let emulator = start(&["veo:always:safety"], |_| {}).await;
    let with = |fault| Send { key: Some(KEY), fault: Some(fault) };

    // Imagen: each prediction filtered, with its reason.
    let (status, answer) = emulator
        .post_with(IMAGEN, &imagen(json!({ "sampleCount": 3, "includeRaiReason": true })), with("safety"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let predictions = answer["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), 3);
    assert!(
        predictions
            .iter()
            .all(|p| p.get("bytesBase64Encoded").is_none()
                && p["raiFilteredReason"].as_str().is_some_and(|r| !r.is_empty())),
        "{answer}"
    );

    // Gemini: a blocked prompt, no candidates.
    let (status, answer) = emulator.post_with(FLASH_IMAGE, &text_request("x"), with("safety")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["promptFeedback"]["blockReason"], "SAFETY");
    assert!(answer.get("candidates").is_none(), "{answer}");
    assert!(answer["usageMetadata"]["promptTokenCount"].is_u64());

    // Gemini: a filtered output image (IMAGE_SAFETY), or text (SAFETY).
    for (path, fault, reason) in [
        (FLASH_IMAGE, "safety=output", "IMAGE_SAFETY"),
        (FLASH_IMAGE, "image_safety", "IMAGE_SAFETY"),
        (FLASH, "safety=output", "SAFETY"),
    ] {
        let (status, answer) = emulator.post_with(path, &text_request("x"), with(fault)).await;
        assert_eq!(status, 200, "{answer}");
        let candidate = &answer["candidates"][0];
        assert_eq!(candidate["finishReason"], reason, "{answer}");
        assert!(candidate.get("content").is_none(), "no image part: {answer}");
    }

    // Veo (planned on every create): done, filtered, no samples.
    let name = emulator.create_video(&json!({ "instances": [{ "prompt": "x" }] }), None).await;
    let (done, polls) = poll_until_done(&emulator, &name, 5).await;
    assert_eq!(polls, 3);
    let video_response = &done["response"]["generateVideoResponse"];
    assert_eq!(video_response["raiMediaFilteredCount"], 1, "{done}");
    assert!(video_response["raiMediaFilteredReasons"][0].as_str().is_some_and(|r| !r.is_empty()));
    assert!(video_response.get("generatedSamples").is_none(), "{done}");
    assert!(done.get("error").is_none());

    let stats = emulator.stats().await;
    assert_eq!(stats["faults_injected"]["safety"], 6);
    assert_eq!(stats["images_generated"], 0);
    let id = name.rsplit('/').next().expect("id");
    assert_eq!(stats["operation_states"][id], "filtered");
}

#[tokio::test]
async fn task_faults_fail_or_hold_operations_and_synchronous_calls() {
    let emulator = start(&[], |config| config.timeout_fault_duration = Duration::from_millis(400)).await;
    let with = |fault| Send { key: Some(KEY), fault: Some(fault) };
    let create = json!({ "instances": [{ "prompt": "x" }] });

    // Veo: generation_failed on the create ends the operation with an error.
    let failing = emulator.create_video(&create, Some("generation_failed")).await;
    let (done, _) = poll_until_done(&emulator, &failing, 5).await;
    assert_eq!(done["error"]["code"], 13, "{done}");
    assert!(done["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(done.get("response").is_none(), "{done}");

    // never_finish on a poll keeps it running.
    let stuck = emulator.create_video(&create, None).await;
    let (status, answer) = json_of(emulator.get_raw(&format!("/v1beta/{stuck}"), with("never_finish")).await).await;
    assert_eq!((status, &answer["done"]), (200, &json!(false)));
    for _ in 0..6 {
        assert_eq!(emulator.get(&format!("/v1beta/{stuck}")).await.1["done"], false);
    }

    // Imagen: every image filtered, no reason; Gemini: OTHER, no content.
    let (status, answer) =
        emulator.post_with(IMAGEN, &imagen(json!({ "sampleCount": 1 })), with("generation_failed")).await;
    assert_eq!((status, &answer), (200, &json!({})));
    let (status, answer) = emulator.post_with(FLASH_IMAGE, &text_request("x"), with("generation_failed")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["candidates"][0]["finishReason"], "OTHER");
    assert!(answer["candidates"][0].get("content").is_none());

    // never_finish on a synchronous call is held as timeout.
    let started = Instant::now();
    let (status, _) = emulator.post_with(IMAGEN, &imagen(json!({ "sampleCount": 1 })), with("never_finish")).await;
    assert!(status == 200 && started.elapsed() >= Duration::from_millis(400));

    let stats = emulator.stats().await;
    let states = &stats["operation_states"];
    assert_eq!(states[failing.rsplit('/').next().expect("id")], "failed");
    assert_eq!(states[stuck.rsplit('/').next().expect("id")], "running");
}

#[tokio::test]
async fn transport_faults_delay_break_or_drop_answers() {
    let emulator = start(&["files:always:latency=300"], |config| {
        config.timeout_fault_duration = Duration::from_millis(300);
        config.steps_to_finish = 0;
    })
    .await;
    let with = |fault| Send { key: Some(KEY), fault: Some(fault) };
    let body = imagen(json!({ "sampleCount": 1 }));

    let started = Instant::now();
    assert_eq!(emulator.post_with(IMAGEN, &body, with("latency=250")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let started = Instant::now();
    assert_eq!(emulator.post_with(FLASH, &text_request("x"), with("timeout")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let response = emulator.post_raw(IMAGEN, &body, with("malformed")).await.expect("answered");
    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err(), "cut short");

    assert!(emulator.post_raw(IMAGEN, &body, with("reset")).await.is_err(), "dropped");

    // The planned latency on downloads.
    let name = emulator.create_video(&json!({ "instances": [{ "prompt": "x" }] }), None).await;
    let (done, _) = poll_until_done(&emulator, &name, 1).await;
    let uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"].as_str().expect("uri");
    let started = Instant::now();
    assert_eq!(emulator.get_raw(uri, WITH_KEY).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let stats = emulator.stats().await;
    let injected = &stats["faults_injected"];
    assert_eq!((injected["latency"].as_u64(), injected["timeout"].as_u64()), (Some(2), Some(1)));
    assert_eq!((injected["malformed"].as_u64(), injected["reset"].as_u64()), (Some(1), Some(1)));
    assert_eq!(
        (stats["predict"].as_u64(), stats["generate_content"].as_u64(), stats["operations"].as_u64()),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!((stats["files"].as_u64(), stats["other"].as_u64()), (Some(1), Some(0)));
    assert_eq!(stats["calls"], 7);
}
