//! The Stability AI v2beta emulator through HTTP: Core's image bytes and
//! headers (sizes per aspect ratio, formats), the JSON answer, SD3's
//! image-to-image (the input's size), Ultra's `strength`, the validation
//! errors naming their fields, the key, every fault, and the stats.

use std::io::Cursor;
use std::time::Duration;

use atelier_emulators::stability::{FaultPlan, StabilityEmulator, StabilityEmulatorConfig, parse_fault_rule};
use base64::Engine;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tokio::net::TcpListener;

const KEY: &str = "test-key";

struct Emulator {
    base: String,
    http: reqwest::Client,
}

async fn start(faults: &[&str]) -> Emulator {
    let mut plan = FaultPlan::none();
    for rule in faults {
        plan = plan.with(parse_fault_rule(rule).expect("rule"));
    }
    let config =
        StabilityEmulatorConfig { faults: plan, timeout_fault_duration: Duration::from_secs(5), ..Default::default() };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(StabilityEmulator::new(config).serve(listener));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    Emulator { base, http }
}

fn form(fields: &[(&str, &str)]) -> Form {
    fields.iter().fold(Form::new(), |form, (name, value)| form.text(name.to_string(), value.to_string()))
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([10, 20, 30]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

fn with_image(form: Form, width: u32, height: u32) -> Form {
    form.part("image", Part::bytes(png(width, height)).file_name("in.png").mime_str("image/png").expect("mime"))
}

impl Emulator {
    async fn post(&self, engine: &str, form: Form, headers: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}/v2beta/stable-image/generate/{engine}", self.base);
        let mut request = self.http.post(url).bearer_auth(KEY).multipart(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("answered")
    }

    async fn stats(&self) -> Value {
        let response = self.http.get(format!("{}/__emulator/stats", self.base)).send().await.expect("stats");
        response.json().await.expect("json")
    }
}

async fn error_of(response: reqwest::Response, status: u16, name: &str) -> Vec<String> {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("json error");
    assert_eq!(body["name"], name, "{body}");
    let id = body["id"].as_str().expect("id");
    assert!(!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()), "{body}");
    body["errors"].as_array().expect("errors").iter().map(|e| e.as_str().expect("string").to_owned()).collect()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn core_answers_image_bytes_with_headers() {
    let emulator = start(&[]).await;
    let cases = [
        ("1:1", "png", 1024, 1024, image::ImageFormat::Png, "image/png"),
        ("16:9", "jpeg", 1344, 768, image::ImageFormat::Jpeg, "image/jpeg"),
        ("9:21", "webp", 640, 1536, image::ImageFormat::WebP, "image/webp"),
    ];
    for (ratio, format, width, height, image_format, mime) in cases {
        let fields = [("prompt", "a fox"), ("aspect_ratio", ratio), ("output_format", format), ("seed", "42")];
        let response = emulator.post("core", form(&fields), &[("accept", "image/*")]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "content-type"), mime);
        assert_eq!(header(&response, "finish-reason"), "SUCCESS");
        assert_eq!(header(&response, "seed"), "42");
        assert_eq!(header(&response, "x-request-id").len(), 32);
        let bytes = response.bytes().await.expect("bytes");
        let decoded = image::load_from_memory_with_format(&bytes, image_format).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (width, height), "{ratio}");
    }
    // The default ratio and format, the same bytes for the same seed, a random seed when absent.
    let a = emulator.post("core", form(&[("prompt", "a fox"), ("seed", "7")]), &[]).await;
    assert_eq!(header(&a, "content-type"), "image/png");
    let a = a.bytes().await.expect("bytes");
    let b = emulator.post("core", form(&[("prompt", "a fox"), ("seed", "7")]), &[]).await.bytes().await.expect("bytes");
    assert_eq!(a, b);
    let decoded = image::load_from_memory(&a).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (1024, 1024));
    let random = emulator.post("core", form(&[("prompt", "a fox"), ("seed", "0")]), &[]).await;
    let seed: u64 = header(&random, "seed").parse().expect("a seed");
    assert!((1..=4_294_967_294).contains(&seed));

    let stats = emulator.stats().await;
    assert_eq!(stats["core"], 6);
    assert_eq!(stats["images_generated"], 6);
}

#[tokio::test]
async fn json_accept_answers_base64() {
    let emulator = start(&[]).await;
    let fields = [("prompt", "a fox"), ("aspect_ratio", "3:2"), ("seed", "9"), ("style_preset", "anime")];
    let response = emulator.post("ultra", form(&fields), &[("accept", "application/json")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/json; type=image/png");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["finish_reason"], "SUCCESS");
    assert_eq!(body["seed"], 9);
    let bytes = base64::engine::general_purpose::STANDARD.decode(body["image"].as_str().expect("image")).expect("b64");
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).expect("png");
    assert_eq!((decoded.width(), decoded.height()), (1216, 832));

    let refused = emulator.post("core", form(&[("prompt", "a fox")]), &[("accept", "text/html")]).await;
    assert!(error_of(refused, 400, "bad_request").await[0].starts_with("accept:"));
}

#[tokio::test]
async fn sd3_image_to_image_keeps_the_input_size() {
    let emulator = start(&[]).await;
    let fields = [("prompt", "a fox"), ("mode", "image-to-image"), ("strength", "0.6"), ("aspect_ratio", "16:9")];
    let response = emulator.post("sd3", with_image(form(&fields), 320, 200), &[]).await;
    assert_eq!(response.status(), 200);
    let decoded = image::load_from_memory(&response.bytes().await.expect("bytes")).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (320, 200));

    let fields = [("prompt", "a fox"), ("model", "sd3.5-medium"), ("output_format", "jpeg"), ("cfg_scale", "5")];
    let response = emulator.post("sd3", form(&fields), &[]).await;
    assert_eq!(header(&response, "content-type"), "image/jpeg");

    let missing = emulator.post("sd3", form(&[("prompt", "a fox"), ("mode", "image-to-image")]), &[]).await;
    let errors = error_of(missing, 400, "bad_request").await;
    assert!(errors.iter().any(|e| e.starts_with("image:")), "{errors:?}");
    let webp = emulator.post("sd3", form(&[("prompt", "a fox"), ("output_format", "webp")]), &[]).await;
    assert!(error_of(webp, 400, "bad_request").await[0].starts_with("output_format:"));

    let stats = emulator.stats().await;
    assert_eq!(stats["by_model"]["sd3.5-large"], 1);
    assert_eq!(stats["by_model"]["sd3.5-medium"], 1);
    assert_eq!(stats["sd3"], 4);
}

#[tokio::test]
async fn ultra_needs_a_strength_with_an_image() {
    let emulator = start(&[]).await;
    let without = emulator.post("ultra", with_image(form(&[("prompt", "a fox")]), 256, 256), &[]).await;
    let errors = error_of(without, 400, "bad_request").await;
    assert!(errors.iter().any(|e| e.starts_with("strength:")), "{errors:?}");
    let out_of_range =
        emulator.post("ultra", with_image(form(&[("prompt", "a fox"), ("strength", "1.5")]), 256, 256), &[]).await;
    assert!(error_of(out_of_range, 400, "bad_request").await[0].starts_with("strength:"));
    let fine =
        emulator.post("ultra", with_image(form(&[("prompt", "a fox"), ("strength", "0.3")]), 256, 256), &[]).await;
    assert_eq!(fine.status(), 200);
}

#[tokio::test]
async fn validation_errors_name_their_fields() {
    let emulator = start(&[]).await;
    let fields = [
        ("negative_prompt", "x"),
        ("aspect_ratio", "7:3"),
        ("seed", "4294967295"),
        ("style_preset", "watercolor"),
        ("output_format", "gif"),
        ("unknown_field", "ignored"),
    ];
    let errors = error_of(emulator.post("core", form(&fields), &[]).await, 400, "bad_request").await;
    for field in ["prompt:", "aspect_ratio:", "seed:", "style_preset:", "output_format:"] {
        assert!(errors.iter().any(|e| e.starts_with(field)), "{field} in {errors:?}");
    }
    assert_eq!(errors.len(), 5, "{errors:?}");
    let long = "a".repeat(10_001);
    let errors = error_of(emulator.post("core", form(&[("prompt", &long)]), &[]).await, 400, "bad_request").await;
    assert!(errors[0].starts_with("prompt:"));

    // A JSON body is refused for its content-type.
    let url = format!("{}/v2beta/stable-image/generate/core", emulator.base);
    let json = emulator.http.post(url).bearer_auth(KEY).json(&serde_json::json!({ "prompt": "a fox" })).send();
    let errors = error_of(json.await.expect("answered"), 400, "bad_request").await;
    assert!(errors[0].starts_with("content-type:"), "{errors:?}");
    // An unknown engine is a 404.
    let unknown = emulator.post("sdxl", form(&[("prompt", "a fox")]), &[]).await;
    error_of(unknown, 404, "not_found").await;
}

#[tokio::test]
async fn the_key_is_required() {
    let emulator = start(&[]).await;
    let url = format!("{}/v2beta/stable-image/generate/core", emulator.base);
    let missing = emulator.http.post(&url).multipart(form(&[("prompt", "a fox")])).send().await.expect("answered");
    assert_eq!(error_of(missing, 401, "unauthorized").await, ["authorization: invalid or missing API key"]);
    let wrong = emulator.http.post(&url).bearer_auth("nope").multipart(form(&[("prompt", "a fox")])).send();
    error_of(wrong.await.expect("answered"), 401, "unauthorized").await;
    assert_eq!(emulator.stats().await["auth_failures"], 2);
}

#[tokio::test]
async fn status_faults_answer_the_error_shape() {
    let emulator = start(&[]).await;
    let cases = [
        (400, "bad_request"),
        (401, "unauthorized"),
        (402, "payment_required"),
        (403, "content_moderation"),
        (413, "payload_too_large"),
        (422, "invalid_language"),
        (429, "rate_limit_exceeded"),
        (500, "internal_error"),
        (503, "service_unavailable"),
    ];
    for (code, name) in cases {
        let fault = format!("status={code}");
        let response = emulator.post("core", form(&[("prompt", "a fox")]), &[("X-Emulator-Fault", &fault)]).await;
        assert!(response.headers().get("retry-after").is_none());
        assert_eq!(error_of(response, code, name).await.len(), 1);
    }
    let fault = ("X-Emulator-Fault", "status=429,retry_after_seconds=3");
    let response = emulator.post("core", form(&[("prompt", "a fox")]), &[fault]).await;
    assert_eq!(header(&response, "retry-after"), "3");
    assert_eq!(emulator.stats().await["faults_injected"]["status"], 10);
}

#[tokio::test]
async fn safety_and_generation_failed_faults() {
    let emulator = start(&["sd3:first=1:safety", "core:first=1:generation_failed"]).await;
    let moderated = emulator.post("sd3", form(&[("prompt", "a fox")]), &[]).await;
    let errors = error_of(moderated, 403, "content_moderation").await;
    assert!(errors[0].starts_with("Your request was flagged by our content moderation system"));

    let filtered = emulator.post("core", form(&[("prompt", "a fox"), ("aspect_ratio", "2:3")]), &[]).await;
    assert_eq!(filtered.status(), 200);
    assert_eq!(header(&filtered, "finish-reason"), "CONTENT_FILTERED");
    let decoded = image::load_from_memory(&filtered.bytes().await.expect("bytes")).expect("decodes").to_rgb8();
    assert_eq!(decoded.dimensions(), (832, 1216));
    assert!(decoded.pixels().all(|p| p.0 == [128, 128, 128]));

    let fault = ("X-Emulator-Fault", "generation_failed");
    let json = emulator.post("ultra", form(&[("prompt", "a fox")]), &[fault, ("accept", "application/json")]).await;
    let body: Value = json.json().await.expect("json");
    assert_eq!(body["finish_reason"], "CONTENT_FILTERED");
    // A faulted request is still checked first.
    let invalid = emulator.post("core", form(&[("aspect_ratio", "1:1")]), &[("X-Emulator-Fault", "safety")]).await;
    error_of(invalid, 400, "bad_request").await;

    let stats = emulator.stats().await;
    assert_eq!(stats["content_filtered"], 2);
    assert_eq!(stats["faults_injected"]["safety"], 2);
}

#[tokio::test]
async fn transport_faults() {
    let emulator = start(&["core:first=1:reset"]).await;
    let url = format!("{}/v2beta/stable-image/generate/core", emulator.base);
    let reset = emulator.http.post(&url).bearer_auth(KEY).multipart(form(&[("prompt", "a fox")])).send().await;
    assert!(reset.is_err(), "the connection is dropped");

    let malformed = emulator.post("core", form(&[("prompt", "a fox")]), &[("X-Emulator-Fault", "malformed")]).await;
    assert_eq!(malformed.status(), 200);
    assert!(serde_json::from_slice::<Value>(&malformed.bytes().await.expect("bytes")).is_err());

    let started = std::time::Instant::now();
    let slow = emulator.post("core", form(&[("prompt", "a fox")]), &[("X-Emulator-Fault", "latency=300")]).await;
    assert_eq!(slow.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let short = reqwest::Client::builder().timeout(Duration::from_millis(1500)).build().expect("client");
    let held = short
        .post(&url)
        .bearer_auth(KEY)
        .header("X-Emulator-Fault", "timeout")
        .multipart(form(&[("prompt", "a fox")]))
        .send()
        .await;
    assert!(held.is_err_and(|e| e.is_timeout()));

    let bad = emulator.post("core", form(&[("prompt", "a fox")]), &[("X-Emulator-Fault", "explode")]).await;
    error_of(bad, 400, "bad_request").await;
}
