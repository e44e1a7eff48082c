//! The OpenAI emulator through HTTP, in both flavours: auth, the error shape,
//! each API (chat completions and the models list too), and injected faults.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::{Duration, Instant};

use atelier_emulators::openai::{Flavour, OpenAiEmulator, OpenAiEmulatorConfig, parse_fault_rule};
use base64::Engine;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const KEY: &str = "test-key";

struct Emulator {
    base: String,
    flavour: Flavour,
    http: reqwest::Client,
}

async fn start(flavour: Flavour, faults: &[&str]) -> Emulator {
    let mut plan = atelier_emulators::openai::FaultPlan::none();
    for rule in faults {
        plan = plan.with(parse_fault_rule(rule).expect("rule"));
    }
    let config = OpenAiEmulatorConfig {
        flavour,
        faults: plan,
        deployments: BTreeMap::from([
            ("images-prod".to_owned(), "gpt-image-1".to_owned()),
            ("chat-prod".to_owned(), "gpt-4.1-mini".to_owned()),
        ]),
        poll_after_ms: 25,
        timeout_fault_duration: Duration::from_secs(5),
        ..OpenAiEmulatorConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(OpenAiEmulator::new(config).serve(listener));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    Emulator { base, flavour, http }
}

impl Emulator {
    /// The URL of an API path (`images/generations`) for `model`, in this flavour.
    fn url(&self, path: &str, model: &str) -> String {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let url = match self.flavour {
            Flavour::OpenAi => format!("{}/v1/{path}?{query}", self.base),
            Flavour::Azure if path.starts_with("videos") => {
                format!("{}/openai/{path}?api-version=2025-04-01-preview&{query}", self.base)
            }
            Flavour::Azure => {
                format!("{}/openai/deployments/{model}/{path}?api-version=2025-04-01-preview&{query}", self.base)
            }
        };
        url.trim_end_matches(['?', '&']).to_owned()
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.flavour {
            Flavour::OpenAi => request.bearer_auth(KEY),
            Flavour::Azure => request.header("api-key", KEY),
        }
    }

    async fn post(&self, path: &str, model: &str, body: Value) -> reqwest::Response {
        self.auth(self.http.post(self.url(path, model)).json(&body)).send().await.expect("answered")
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__emulator/stats", self.base))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("error JSON");
    (status, body["error"].clone())
}

const BOTH: [Flavour; 2] = [Flavour::OpenAi, Flavour::Azure];

#[tokio::test]
async fn auth_is_per_flavour() {
    for flavour in BOTH {
        let emulator = start(flavour, &[]).await;
        let url = emulator.url("images/generations", "gpt-image-1");
        let body = json!({ "model": "gpt-image-1", "prompt": "x", "size": "1024x1024" });
        for wrong in [
            emulator.http.post(&url),
            emulator.http.post(&url).bearer_auth("nope"),
            emulator.http.post(&url).header("api-key", "nope"),
        ] {
            let (status, error) = error_of(wrong.json(&body).send().await.expect("answered")).await;
            assert_eq!(status, 401, "{flavour:?}");
            assert_eq!(error["code"], "invalid_api_key");
            assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        assert_eq!(emulator.stats().await["unauthorized"], 3);
    }
    // Azure needs an api-version.
    let azure = start(Flavour::Azure, &[]).await;
    let response = azure
        .http
        .post(format!("{}/openai/deployments/gpt-image-1/images/generations", azure.base))
        .header("api-key", KEY)
        .json(&json!({ "prompt": "x" }))
        .send()
        .await
        .expect("answered");
    let (status, error) = error_of(response).await;
    assert_eq!((status, error["param"].as_str()), (400, Some("api-version")));
}

#[tokio::test]
async fn generations_make_real_images_of_the_asked_size_and_format() {
    for flavour in BOTH {
        let emulator = start(flavour, &[]).await;
        let cases = [
            (
                json!({ "prompt": "fox", "size": "1024x1536", "output_format": "jpeg", "quality": "low" }),
                image::ImageFormat::Jpeg,
                false,
            ),
            (
                json!({ "prompt": "fox", "size": "1024x1024", "output_format": "webp", "background": "transparent" }),
                image::ImageFormat::WebP,
                true,
            ),
            (
                json!({ "prompt": "fox", "size": "1024x1024", "background": "transparent" }),
                image::ImageFormat::Png,
                true,
            ),
        ];
        for (mut body, format, alpha) in cases {
            body["model"] = json!("gpt-image-1");
            let response = emulator.post("images/generations", "images-prod", body.clone()).await;
            assert_eq!(response.status(), 200, "{flavour:?} {body}");
            let answer: Value = response.json().await.expect("json");
            assert!(answer["usage"]["total_tokens"].as_u64().is_some(), "{answer}");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(answer["data"][0]["b64_json"].as_str().expect("b64_json"))
                .expect("base64");
            assert_eq!(image::guess_format(&bytes).expect("format"), format);
            let decoded = image::load_from_memory(&bytes).expect("decodes");
            let expected: Vec<u32> =
                body["size"].as_str().expect("size").split('x').map(|n| n.parse().expect("n")).collect();
            assert_eq!(vec![decoded.width(), decoded.height()], expected);
            assert_eq!(decoded.color().has_alpha(), alpha, "{body}");
        }
        if flavour == Flavour::Azure {
            assert_eq!(emulator.stats().await["deployments"]["images-prod"], 3);
        }
    }
}

#[tokio::test]
async fn dall_e_answers_urls_by_default_and_names_the_bad_param() {
    let emulator = start(Flavour::OpenAi, &[]).await;
    let answer: Value = emulator
        .post("images/generations", "", json!({ "model": "dall-e-3", "prompt": "a fox", "size": "1792x1024" }))
        .await
        .json()
        .await
        .expect("json");
    assert!(answer["data"][0]["revised_prompt"].as_str().is_some());
    let url = answer["data"][0]["url"].as_str().expect("url");
    let png = emulator.http.get(url).send().await.expect("download").bytes().await.expect("bytes");
    let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("png");
    assert_eq!((decoded.width(), decoded.height()), (1792, 1024));

    for (body, param) in [
        (json!({ "model": "dall-e-3", "prompt": "x", "n": 2 }), "n"),
        (json!({ "model": "dall-e-2", "prompt": "x", "size": "1024x1536" }), "size"),
        (json!({ "model": "gpt-image-1", "prompt": "x", "response_format": "b64_json" }), "response_format"),
        (
            json!({ "model": "gpt-image-1", "prompt": "x", "output_format": "jpeg", "background": "transparent" }),
            "background",
        ),
        (json!({ "model": "dall-e-2" }), "prompt"),
    ] {
        let (status, error) = error_of(emulator.post("images/generations", "", body.clone()).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["param"], param, "{body}");
    }
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::RgbaImage::from_pixel(width, height, image::Rgba([10, 20, 30, 255]))
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

fn file(bytes: Vec<u8>) -> Part {
    Part::bytes(bytes).file_name("in.png").mime_str("image/png").expect("mime")
}

#[tokio::test]
async fn edits_take_images_and_a_mask_of_the_same_size() {
    for flavour in BOTH {
        let emulator = start(flavour, &[]).await;
        let edit = |form: Form| {
            emulator.auth(emulator.http.post(emulator.url("images/edits", "gpt-image-1")).multipart(form)).send()
        };
        let form = Form::new()
            .text("model", "gpt-image-1")
            .text("prompt", "add a hat")
            .part("image[]", file(png(64, 64)))
            .part("image[]", file(png(32, 32)))
            .part("mask", file(png(64, 64)));
        let response = edit(form).await.expect("answered");
        assert_eq!(response.status(), 200, "{flavour:?}");
        let answer: Value = response.json().await.expect("json");
        assert!(answer["data"][0]["b64_json"].as_str().is_some());

        let mismatched = Form::new()
            .text("model", "gpt-image-1")
            .text("prompt", "add a hat")
            .part("image", file(png(64, 64)))
            .part("mask", file(png(32, 32)));
        let (status, error) = error_of(edit(mismatched).await.expect("answered")).await;
        assert_eq!((status, error["param"].as_str()), (400, Some("mask")));
        let no_image = Form::new().text("model", "gpt-image-1").text("prompt", "add a hat");
        let (status, error) = error_of(edit(no_image).await.expect("answered")).await;
        assert_eq!((status, error["param"].as_str()), (400, Some("image")));
        assert_eq!(emulator.stats().await["images_edits"], 3);
    }
}

#[tokio::test]
async fn speech_answers_each_format() {
    for flavour in BOTH {
        let emulator = start(flavour, &[]).await;
        for (format, magic) in
            [("mp3", &b""[..]), ("opus", b"OggS"), ("flac", b"fLaC"), ("wav", b"RIFF"), ("aac", b""), ("pcm", b"")]
        {
            let body = json!({ "model": "tts-1", "input": "hello", "voice": "alloy", "response_format": format });
            let response = emulator.post("audio/speech", "tts-1", body).await;
            assert_eq!(response.status(), 200, "{flavour:?} {format}");
            let bytes = response.bytes().await.expect("bytes");
            assert!(bytes.len() > 1000 && bytes.starts_with(magic), "{format}");
            if format == "pcm" {
                assert_eq!(bytes.len(), 48_000, "1 s of 24 kHz 16-bit mono");
            }
        }
        let bad = json!({ "model": "tts-1", "input": "hello", "voice": "alloy", "instructions": "whisper" });
        let (status, error) = error_of(emulator.post("audio/speech", "tts-1", bad).await).await;
        assert_eq!((status, error["param"].as_str()), (400, Some("instructions")));
    }
}

#[tokio::test]
async fn videos_progress_then_complete_then_download() {
    for flavour in BOTH {
        let emulator = start(flavour, &[]).await;
        let form =
            Form::new().text("prompt", "waves").text("model", "sora-2").text("seconds", "4").text("size", "1280x720");
        let created =
            emulator.auth(emulator.http.post(emulator.url("videos", "")).multipart(form)).send().await.expect("create");
        assert_eq!(created.status(), 200);
        assert_eq!(created.headers()["openai-poll-after-ms"], "25");
        let video: Value = created.json().await.expect("json");
        assert_eq!((video["status"].as_str(), video["object"].as_str()), (Some("queued"), Some("video")));
        let id = video["id"].as_str().expect("id").to_owned();
        let get = |path: String| emulator.auth(emulator.http.get(emulator.url(&path, ""))).send();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let polled: Value = get(format!("videos/{id}")).await.expect("poll").json().await.expect("json");
            seen.push((
                polled["status"].as_str().unwrap_or_default().to_owned(),
                polled["progress"].as_u64().unwrap_or(0),
            ));
        }
        assert_eq!(seen[0].0, "in_progress");
        assert!(seen[0].1 > 0 && seen[0].1 < 100);
        assert_eq!(seen[2], ("completed".to_owned(), 100));
        let mp4 = get(format!("videos/{id}/content")).await.expect("content").bytes().await.expect("bytes");
        assert_eq!(&mp4[4..8], b"ftyp");
        let thumbnail = get(format!("videos/{id}/content?variant=thumbnail")).await.expect("thumbnail");
        assert_eq!(thumbnail.headers()["content-type"], "image/webp");
        let list: Value = get("videos?limit=10".into()).await.expect("list").json().await.expect("json");
        assert_eq!((list["object"].as_str(), list["data"][0]["id"].as_str()), (Some("list"), Some(id.as_str())));
        let deleted: Value = emulator
            .auth(emulator.http.delete(emulator.url(&format!("videos/{id}"), "")))
            .send()
            .await
            .expect("delete")
            .json()
            .await
            .expect("json");
        assert_eq!(deleted, json!({ "id": id, "deleted": true, "object": "video.deleted" }));
        let (status, _) = error_of(get(format!("videos/{id}")).await.expect("gone")).await;
        assert_eq!(status, 404);
        let stats = emulator.stats().await;
        assert_eq!((stats["videos_create"].as_u64(), stats["videos_retrieve"].as_u64()), (Some(1), Some(4)));
    }
}

#[tokio::test]
async fn faults_answer_in_openais_shape() {
    let emulator = start(Flavour::OpenAi, &["images.generations:first=1:status=429,retry_after_seconds=7"]).await;
    let body = json!({ "model": "gpt-image-1", "prompt": "x", "size": "1024x1024", "quality": "low" });
    let limited = emulator.post("images/generations", "", body.clone()).await;
    assert_eq!(limited.headers()["retry-after"], "7");
    let (status, error) = error_of(limited).await;
    assert_eq!((status, error["code"].as_str()), (429, Some("rate_limit_exceeded")));
    assert_eq!(emulator.post("images/generations", "", body.clone()).await.status(), 200);

    let with_header = |fault: &str| {
        emulator
            .http
            .post(emulator.url("images/generations", ""))
            .bearer_auth(KEY)
            .header("X-Emulator-Fault", fault)
            .json(&body)
            .send()
    };
    let (status, error) = error_of(with_header("generation_failed").await.expect("answered")).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("moderation_blocked")));
    let malformed = with_header("malformed").await.expect("answered");
    assert_eq!(malformed.status(), 200);
    assert!(malformed.json::<Value>().await.is_err());
    assert!(with_header("reset").await.is_err(), "the connection is dropped");
    let started = Instant::now();
    let slow = with_header("latency=300").await.expect("answered");
    assert_eq!(slow.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let stats = emulator.stats().await;
    assert_eq!(stats["images_generations"], 6);
    assert_eq!(stats["faults_injected"]["status"], 1);
}

#[tokio::test]
async fn a_failing_video_ends_failed_and_a_stuck_one_never_ends() {
    let emulator =
        start(Flavour::OpenAi, &["videos.create:first=1:generation_failed", "videos.create:first=2:never_finish"])
            .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let form = Form::new().text("prompt", "waves");
        let video: Value = emulator
            .auth(emulator.http.post(emulator.url("videos", "")).multipart(form))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        ids.push(video["id"].as_str().expect("id").to_owned());
    }
    let mut last = Vec::new();
    for id in &ids {
        let mut polled = Value::Null;
        for _ in 0..6 {
            polled = emulator
                .auth(emulator.http.get(emulator.url(&format!("videos/{id}"), "")))
                .send()
                .await
                .expect("poll")
                .json()
                .await
                .expect("json");
        }
        last.push(polled);
    }
    assert_eq!(last[0]["status"], "failed");
    assert!(last[0]["error"]["code"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(last[1]["status"], "in_progress");
}

/// A chat completions body for `model` (ignored on Azure, where the deployment names it).
fn chat(model: &str, text: &str, extra: Value) -> Value {
    let mut body = json!({
        "model": model,
        "messages": [
            { "role": "system", "content": "You write manga scripts." },
            { "role": "user", "content": [{ "type": "text", "text": text }] },
        ],
    });
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        body[key] = value;
    }
    body
}

/// Checks `value` against the subset of JSON Schema the tests' schemas use:
/// `type`, `properties`, `required`, `additionalProperties: false`, `items`,
/// `minItems`, `enum`, `minimum`.
fn conforms(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let matches = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("null") => value.is_null(),
        _ => true,
    };
    if !matches {
        return Err(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    if let Some(minimum) = schema["minimum"].as_f64()
        && value.as_f64().is_some_and(|v| v < minimum)
    {
        return Err(format!("{at}: {value} is below {minimum}"));
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                return Err(format!("{at}: the required `{name}` is missing"));
            }
        }
        for (name, item) in object {
            match schema["properties"].get(name) {
                Some(sub) => conforms(item, sub, &format!("{at}.{name}"))?,
                None if schema["additionalProperties"] == json!(false) => {
                    return Err(format!("{at}: `{name}` is not a property"));
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema["minItems"].as_u64()
            && (items.len() as u64) < min
        {
            return Err(format!("{at}: {} items, fewer than {min}", items.len()));
        }
        for (i, item) in items.iter().enumerate() {
            conforms(item, &schema["items"], &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn chat_answers_json_that_conforms_to_the_schema() {
    let schema = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["title", "mood", "panels", "draft"],
        "properties": {
            "title": { "type": "string" },
            "mood": { "type": "string", "enum": ["calm", "tense"] },
            "draft": { "type": "boolean" },
            "panels": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["index", "caption"],
                    "properties": {
                        "index": { "type": "integer", "minimum": 1 },
                        "caption": { "type": ["string", "null"] },
                    },
                },
            },
        },
    });
    for flavour in BOTH {
        let emulator = start(flavour, &[]).await;
        let body = chat(
            "gpt-4.1-mini",
            "Plan a page.",
            json!({
                "temperature": 0.2,
                "max_completion_tokens": 2000,
                "seed": 7,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": { "name": "page_plan", "strict": true, "schema": schema },
                },
            }),
        );
        let response = emulator.post("chat/completions", "chat-prod", body).await;
        assert_eq!(response.status(), 200, "{flavour:?}");
        assert!(response.headers().contains_key("x-request-id"));
        let answer: Value = response.json().await.expect("json");
        assert!(answer["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-")), "{answer}");
        assert_eq!(answer["object"], "chat.completion");
        assert_eq!(answer["model"], "gpt-4.1-mini");
        assert_eq!(answer["system_fingerprint"], "fp_emulator");
        assert!(answer["created"].as_i64().is_some_and(|t| t > 1_700_000_000));
        let choice = &answer["choices"][0];
        assert_eq!((choice["index"].as_u64(), choice["finish_reason"].as_str()), (Some(0), Some("stop")));
        assert_eq!(
            (choice["message"]["role"].as_str(), &choice["message"]["refusal"]),
            (Some("assistant"), &Value::Null)
        );
        assert_eq!(choice["logprobs"], Value::Null);
        let content: Value =
            serde_json::from_str(choice["message"]["content"].as_str().expect("content")).expect("JSON content");
        conforms(&content, &schema, "$").expect("conforms");
        assert_eq!(content["panels"].as_array().map(Vec::len), Some(2));
        let usage = &answer["usage"];
        let (prompt, completion) = (
            usage["prompt_tokens"].as_u64().expect("prompt"),
            usage["completion_tokens"].as_u64().expect("completion"),
        );
        assert!(prompt >= 1 && completion >= 1);
        assert_eq!(usage["total_tokens"].as_u64(), Some(prompt + completion));
        if flavour == Flavour::Azure {
            assert_eq!(choice["content_filter_results"]["hate"]["filtered"], false);
            assert_eq!(emulator.stats().await["deployments"]["chat-prod"], 1);
        }

        // Strict mode holds the schema to OpenAI's rules; a schema the emulator cannot build is refused too.
        let open = json!({ "type": "object", "properties": { "a": { "type": "string" } }, "required": ["a"] });
        let unbuildable = json!({ "type": "array", "minItems": 5000 });
        for (json_schema, message) in [
            (json!({ "name": "open", "strict": true, "schema": open }), "additionalProperties"),
            (json!({ "name": "huge", "schema": unbuildable }), "minItems"),
        ] {
            let format = json!({ "response_format": { "type": "json_schema", "json_schema": json_schema } });
            let (status, error) =
                error_of(emulator.post("chat/completions", "chat-prod", chat("gpt-4.1-mini", "x", format)).await).await;
            assert_eq!((status, error["type"].as_str()), (400, Some("invalid_request_error")));
            assert_eq!(error["param"], "response_format");
            assert!(error["message"].as_str().is_some_and(|m| m.contains(message)), "{error}");
        }
    }
}

#[tokio::test]
async fn chat_answers_text_and_json_objects_and_cuts_at_max_tokens() {
    let emulator = start(Flavour::OpenAi, &[]).await;
    let content_of = |answer: &Value| answer["choices"][0]["message"]["content"].as_str().expect("content").to_owned();

    let text = chat("gpt-4o-mini", "Name three cats.", json!({}));
    let first: Value = emulator.post("chat/completions", "", text.clone()).await.json().await.expect("json");
    let again: Value = emulator.post("chat/completions", "", text).await.json().await.expect("json");
    assert!(content_of(&first).contains("Name three cats."), "{first}");
    assert_eq!(content_of(&first), content_of(&again), "deterministic");
    assert_eq!(first["choices"][0]["finish_reason"], "stop");
    let characters = "You write manga scripts.Name three cats.".chars().count() as u64;
    assert_eq!(first["usage"]["prompt_tokens"].as_u64(), Some(characters.div_ceil(4)));
    assert_eq!(
        first["usage"]["completion_tokens"].as_u64(),
        Some((content_of(&first).chars().count() as u64).div_ceil(4))
    );

    let json_object = chat("gpt-4o-mini", "Answer in JSON.", json!({ "response_format": { "type": "json_object" } }));
    let answer: Value = emulator.post("chat/completions", "", json_object).await.json().await.expect("json");
    let object: Value = serde_json::from_str(&content_of(&answer)).expect("JSON object");
    assert!(object["response"].as_str().is_some_and(|r| r.contains("Answer in JSON.")), "{object}");
    // OpenAI asks that the messages say "json" in JSON mode.
    let unasked = chat("gpt-4o-mini", "Answer.", json!({ "response_format": { "type": "json_object" } }));
    let (status, error) = error_of(emulator.post("chat/completions", "", unasked).await).await;
    assert_eq!((status, error["param"].as_str()), (400, Some("messages")));

    let short = chat("gpt-4o-mini", "Tell me a long story.", json!({ "max_tokens": 3 }));
    let answer: Value = emulator.post("chat/completions", "", short).await.json().await.expect("json");
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    assert_eq!(content_of(&answer).chars().count(), 12);
    assert_eq!(answer["usage"]["completion_tokens"], 3);
    assert_eq!(emulator.stats().await["chat_completions"], 5);
}

#[tokio::test]
async fn chat_refuses_bad_requests_in_openais_shape() {
    let emulator = start(Flavour::OpenAi, &[]).await;
    let (status, error) =
        error_of(emulator.post("chat/completions", "", chat("gpt-4o-mini", "x", json!({ "foo": 1 }))).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        error,
        json!({
            "message": "Unrecognized request argument supplied: foo",
            "type": "invalid_request_error",
            "param": null,
            "code": null,
        })
    );

    let (status, error) =
        error_of(emulator.post("chat/completions", "", json!({ "model": "gpt-4o-mini" })).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        (error["param"].as_str(), error["code"].as_str()),
        (Some("messages"), Some("missing_required_parameter"))
    );

    let (status, error) = error_of(emulator.post("chat/completions", "", chat("gpt-9", "x", json!({}))).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        error,
        json!({
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": null,
            "code": "model_not_found",
        })
    );

    for (extra, param) in [
        (json!({ "temperature": 3 }), "temperature"),
        (json!({ "n": 2 }), "n"),
        (json!({ "stream": true }), "stream"),
        (json!({ "max_tokens": 0 }), "max_tokens"),
        (
            json!({ "response_format": { "type": "json_schema", "json_schema": { "name": "bad name!" } } }),
            "response_format.json_schema.name",
        ),
        (json!({ "messages": [{ "role": "narrator", "content": "x" }] }), "messages[0].role"),
    ] {
        let (status, error) =
            error_of(emulator.post("chat/completions", "", chat("gpt-4o-mini", "x", extra.clone())).await).await;
        assert_eq!((status, error["param"].as_str()), (400, Some(param)), "{extra}");
        assert_eq!(error["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn chat_faults_rate_limit_refuse_and_break_the_json() {
    let emulator = start(Flavour::OpenAi, &["chat.completions:first=1:status=429,retry_after_seconds=3"]).await;
    let body = chat("gpt-4o-mini", "x", json!({}));
    let limited = emulator.post("chat/completions", "", body.clone()).await;
    assert_eq!(limited.headers()["retry-after"], "3");
    let (status, error) = error_of(limited).await;
    assert_eq!((status, error["code"].as_str()), (429, Some("rate_limit_exceeded")));
    assert_eq!(emulator.post("chat/completions", "", body.clone()).await.status(), 200);

    let with_header = |fault: &str, body: &Value| {
        emulator
            .http
            .post(emulator.url("chat/completions", ""))
            .bearer_auth(KEY)
            .header("X-Emulator-Fault", fault)
            .json(body)
            .send()
    };
    let refused = with_header("generation_failed", &body).await.expect("answered");
    assert_eq!(refused.status(), 200);
    let refused: Value = refused.json().await.expect("json");
    let choice = &refused["choices"][0];
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(choice["message"]["refusal"], "I'm sorry, I can't help with that.");
    assert_eq!(choice["finish_reason"], "stop");
    // A refusal comes after the request is checked.
    let (status, _) =
        error_of(with_header("generation_failed", &json!({ "model": "gpt-4o-mini" })).await.expect("answered")).await;
    assert_eq!(status, 400);

    let malformed = with_header("malformed", &body).await.expect("answered");
    assert_eq!(malformed.status(), 200);
    let text = malformed.text().await.expect("text");
    assert!(text.starts_with("{\"id\":\"chatcmpl-") && serde_json::from_str::<Value>(&text).is_err(), "{text}");
    let stats = emulator.stats().await;
    assert_eq!(stats["chat_completions"], 5);
    assert_eq!(
        (stats["faults_injected"]["status"].as_u64(), stats["faults_injected"]["generation_failed"].as_u64()),
        (Some(1), Some(2))
    );
}

#[tokio::test]
async fn azure_chat_goes_through_a_deployment() {
    let emulator = start(Flavour::Azure, &[]).await;
    // The deployment names the model; the body's `model` is ignored.
    let response = emulator.post("chat/completions", "chat-prod", chat("whatever", "hello", json!({}))).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["model"], "gpt-4.1-mini");
    assert_eq!(answer["prompt_filter_results"][0]["prompt_index"], 0);
    // A deployment named as a chat model needs no entry.
    let response = emulator.post("chat/completions", "gpt-4o-mini", chat("", "hello", json!({}))).await;
    assert_eq!(response.status(), 200);

    let (status, error) =
        error_of(emulator.post("chat/completions", "images-prod", chat("", "x", json!({}))).await).await;
    assert_eq!((status, error["code"].as_str()), (404, Some("DeploymentNotFound")));
    let url = format!("{}/openai/deployments/chat-prod/chat/completions", emulator.base);
    let no_version =
        emulator.http.post(&url).header("api-key", KEY).json(&chat("", "x", json!({}))).send().await.expect("answered");
    let (status, error) = error_of(no_version).await;
    assert_eq!((status, error["param"].as_str()), (400, Some("api-version")));
    let no_key = emulator
        .http
        .post(format!("{url}?api-version=2024-10-21"))
        .json(&chat("", "x", json!({})))
        .send()
        .await
        .expect("answered");
    assert_eq!(no_key.status(), 401);
    let stats = emulator.stats().await;
    assert_eq!(stats["chat_completions"], 5, "every call counts, refused ones too");
    assert_eq!(stats["deployments"]["chat-prod"], 1, "only the calls that pass auth reach a deployment");
}

#[tokio::test]
async fn models_lists_the_chat_models() {
    let emulator = start(Flavour::OpenAi, &[]).await;
    let list = |path: &str| emulator.http.get(format!("{}/v1/{path}", emulator.base)).bearer_auth(KEY).send();
    let answer: Value = list("models").await.expect("answered").json().await.expect("json");
    assert_eq!(answer["object"], "list");
    let data = answer["data"].as_array().expect("data");
    let ids: Vec<&str> = data.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids[..2], ["gpt-4o-mini", "gpt-4.1-mini"]);
    assert!(ids.contains(&"gpt-image-1") && ids.contains(&"tts-1"), "{ids:?}");
    for model in data {
        assert_eq!((model["object"].as_str(), model["owned_by"].as_str()), (Some("model"), Some("openai")));
        assert!(model["created"].as_i64().is_some());
    }
    let one: Value = list("models/gpt-4o-mini").await.expect("answered").json().await.expect("json");
    assert_eq!(one["id"], "gpt-4o-mini");
    let (status, error) = error_of(list("models/gpt-9").await.expect("answered")).await;
    assert_eq!((status, error["code"].as_str()), (404, Some("model_not_found")));
    assert_eq!(emulator.http.get(format!("{}/v1/models", emulator.base)).send().await.expect("answered").status(), 401);
    assert_eq!(emulator.stats().await["models"], 4);

    // The configured chat models are the ones served and listed.
    let config = OpenAiEmulatorConfig { chat_models: vec!["local-llm".to_owned()], ..OpenAiEmulatorConfig::default() };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(OpenAiEmulator::new(config).serve(listener));
    let http = reqwest::Client::new();
    let answer: Value = http
        .get(format!("{base}/v1/models"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["data"][0]["id"], "local-llm");
    let chat_url = format!("{base}/v1/chat/completions");
    let served =
        http.post(&chat_url).bearer_auth(KEY).json(&chat("local-llm", "x", json!({}))).send().await.expect("answered");
    assert_eq!(served.status(), 200);
    let gone = http
        .post(&chat_url)
        .bearer_auth(KEY)
        .json(&chat("gpt-4o-mini", "x", json!({})))
        .send()
        .await
        .expect("answered");
    assert_eq!(gone.status(), 404);
}
