//! The stable-diffusion.cpp `sd-server` emulator through HTTP: the OpenAI
//! family (generations in PNG, JPEG and WebP, edits keeping the image's size),
//! the WebUI family (txt2img, img2img, discovery), the native async jobs
//! (queued → generating → completed, the queue limit, cancel, 404 and 410),
//! the capabilities, every fault (`oom` and `restart` included), and the stats.

use std::time::{Duration, Instant};

use atelier_emulators::sdcpp::{FaultPlan, SdCppEmulator, SdCppEmulatorConfig, parse_fault_rule};
use base64::Engine;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const GENERATIONS: &str = "/v1/images/generations";
const EDITS: &str = "/v1/images/edits";
const TXT2IMG: &str = "/sdapi/v1/txt2img";
const IMG2IMG: &str = "/sdapi/v1/img2img";
const IMG_GEN: &str = "/sdcpp/v1/img_gen";

// ---- The emulator and a client. ----

struct Emulator {
    base: String,
    http: reqwest::Client,
}

async fn start(faults: &[&str], tweak: impl FnOnce(&mut SdCppEmulatorConfig)) -> Emulator {
    let mut plan = FaultPlan::none();
    for rule in faults {
        plan = plan.with(parse_fault_rule(rule).expect("rule"));
    }
    let mut config =
        SdCppEmulatorConfig { faults: plan, timeout_fault_duration: Duration::from_secs(5), ..Default::default() };
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(SdCppEmulator::new(config).serve(listener));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    Emulator { base, http }
}

impl Emulator {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_raw(&self, path: &str, body: &Value, fault: Option<&str>) -> reqwest::Result<reqwest::Response> {
        let request = self.http.post(self.url(path)).json(body);
        match fault {
            Some(fault) => request.header("X-Emulator-Fault", fault),
            None => request,
        }
        .send()
        .await
    }

    async fn post_with(&self, path: &str, body: &Value, fault: Option<&str>) -> (u16, Value) {
        json_of(self.post_raw(path, body, fault).await.expect("answered")).await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_with(path, body, None).await
    }

    async fn get_with(&self, path: &str, fault: Option<&str>) -> (u16, Value) {
        let request = self.http.get(self.url(path));
        let request = match fault {
            Some(fault) => request.header("X-Emulator-Fault", fault),
            None => request,
        };
        json_of(request.send().await.expect("answered")).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, None).await
    }

    async fn stats(&self) -> Value {
        self.get("/__emulator/stats").await.1
    }

    /// Submits a native job; its id.
    async fn submit(&self, body: &Value, fault: Option<&str>) -> String {
        let (status, answer) = self.post_with(IMG_GEN, body, fault).await;
        assert_eq!(status, 202, "{answer}");
        answer["id"].as_str().expect("an id").to_owned()
    }

    async fn job(&self, id: &str) -> (u16, Value) {
        self.get(&format!("/sdcpp/v1/jobs/{id}")).await
    }

    /// Polls a job until `until` holds, at most 300 times.
    async fn job_until(&self, id: &str, until: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..300 {
            let (status, job) = self.job(id).await;
            assert_eq!(status, 200, "{job}");
            if until(&job) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {id} never got there");
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

fn png_bytes(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 40]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

fn png_b64(width: u32, height: u32) -> String {
    base64::engine::general_purpose::STANDARD.encode(png_bytes(width, height))
}

/// The `data[]` images of an OpenAI-style answer, decoded in `format`, and their sizes.
fn data_sizes(answer: &Value, format: image::ImageFormat) -> Vec<(u32, u32)> {
    let data = answer["data"].as_array().expect("data");
    data.iter().map(|d| decode(&d["b64_json"], format)).map(|i| (i.width(), i.height())).collect()
}

fn job_body(steps: u32) -> Value {
    json!({ "prompt": "a red fox", "width": 128, "height": 96, "sample_params": { "sample_steps": steps } })
}

// ---- The tests. ----

#[tokio::test]
async fn openai_generations_answer_images_of_the_asked_size_and_format() {
    let emulator = start(&[], |_| {}).await;
    let (status, answer) = emulator.post(GENERATIONS, &json!({ "prompt": "a fox", "n": 2, "size": "320x192" })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output_format"], "png");
    assert!(answer["created"].is_i64());
    assert_eq!(data_sizes(&answer, image::ImageFormat::Png), [(320, 192), (320, 192)]);
    assert_ne!(answer["data"][0]["b64_json"], answer["data"][1]["b64_json"]);

    for (format, expected) in [("jpeg", image::ImageFormat::Jpeg), ("WEBP", image::ImageFormat::WebP)] {
        let body = json!({ "prompt": "a fox", "size": "96x64", "output_format": format, "output_compression": 70 });
        let (status, answer) = emulator.post(GENERATIONS, &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["output_format"], format.to_ascii_lowercase());
        assert_eq!(data_sizes(&answer, expected), [(96, 64)]);
    }
    // Defaults: 512×512, one image; n is clamped to 8; the default seed (42) repeats images.
    let (_, one) = emulator.post(GENERATIONS, &json!({ "prompt": "same" })).await;
    assert_eq!(data_sizes(&one, image::ImageFormat::Png), [(512, 512)]);
    let (_, again) = emulator.post(GENERATIONS, &json!({ "prompt": "same" })).await;
    assert_eq!(one["data"], again["data"]);
    let (_, many) = emulator.post(GENERATIONS, &json!({ "prompt": "x", "n": 20, "size": "64x64" })).await;
    assert_eq!(many["data"].as_array().map(Vec::len), Some(8));

    // Refusals: `{"error": …}`.
    for (body, code, message) in [
        (json!({ "prompt": "" }), 400, "prompt required"),
        (
            json!({ "prompt": "x", "output_format": "gif" }),
            400,
            "invalid output_format, must be one of [png, jpeg, webp]",
        ),
        (json!({ "prompt": "x", "size": "8192x8192" }), 400, "invalid params"),
        (json!({ "prompt": "x <sd_cpp_extra_args>[</sd_cpp_extra_args>" }), 400, "invalid sd_cpp_extra_args"),
        (json!({ "prompt": 5 }), 500, "server_error"),
    ] {
        let (status, answer) = emulator.post(GENERATIONS, &body).await;
        assert_eq!((status, answer["error"].as_str()), (code, Some(message)), "{body}: {answer}");
    }
    let response = emulator.http.post(emulator.url(GENERATIONS)).send().await.expect("sent");
    assert_eq!(json_of(response).await, (400, json!({ "error": "empty body" })));

    // Extra args set native fields.
    let body =
        json!({ "prompt": "x <sd_cpp_extra_args>{\"width\":80,\"height\":72,\"batch_count\":2}</sd_cpp_extra_args>" });
    let (status, answer) = emulator.post(GENERATIONS, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(data_sizes(&answer, image::ImageFormat::Png), [(80, 72), (80, 72)]);

    assert_eq!(
        emulator.get("/v1/models").await,
        (200, json!({ "data": [{ "id": "sd-cpp-local", "object": "model", "owned_by": "local" }] }))
    );
    let stats = emulator.stats().await;
    assert_eq!(stats["generations"], 13);
    assert_eq!(stats["images_generated"], 16);
}

#[tokio::test]
async fn edits_take_the_first_images_size() {
    let emulator = start(&[], |_| {}).await;
    let form = || {
        reqwest::multipart::Form::new()
            .text("prompt", "make it blue")
            .part("image[]", reqwest::multipart::Part::bytes(png_bytes(200, 136)).file_name("a.png"))
            .part("image[]", reqwest::multipart::Part::bytes(png_bytes(64, 64)).file_name("b.png"))
            .part("mask", reqwest::multipart::Part::bytes(png_bytes(200, 136)).file_name("mask.png"))
    };
    let send = |form: reqwest::multipart::Form| emulator.http.post(emulator.url(EDITS)).multipart(form).send();

    let (status, answer) = json_of(send(form().text("n", "2")).await.expect("answered")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(data_sizes(&answer, image::ImageFormat::Png), [(200, 136), (200, 136)]);
    let (status, answer) =
        json_of(send(form().text("size", "128x96").text("output_format", "jpeg")).await.expect("answered")).await;
    assert_eq!((status, &answer["output_format"]), (200, &json!("jpeg")), "{answer}");
    assert_eq!(data_sizes(&answer, image::ImageFormat::Jpeg), [(128, 96)]);
    let legacy = reqwest::multipart::Form::new()
        .text("prompt", "x")
        .part("image", reqwest::multipart::Part::bytes(png_bytes(72, 40)).file_name("a.png"));
    let (status, answer) = json_of(send(legacy).await.expect("answered")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(data_sizes(&answer, image::ImageFormat::Png), [(72, 40)]);

    // An image past axum's default 2 MB body limit.
    let noise = image::RgbImage::from_fn(1100, 1000, |x, y| {
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)).wrapping_mul(2_246_822_519);
        image::Rgb([(n >> 24) as u8, (n >> 16) as u8, (n >> 8) as u8])
    });
    let mut big = std::io::Cursor::new(Vec::new());
    noise.write_to(&mut big, image::ImageFormat::Png).expect("png");
    let big = big.into_inner();
    assert!(big.len() > 2 * 1024 * 1024, "{}", big.len());
    let large = reqwest::multipart::Form::new()
        .text("prompt", "x")
        .text("size", "64x48")
        .part("image[]", reqwest::multipart::Part::bytes(big).file_name("big.png"));
    let (status, answer) = json_of(send(large).await.expect("answered")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(data_sizes(&answer, image::ImageFormat::Png), [(64, 48)]);

    let (status, answer) = json_of(send(form().text("output_format", "webp")).await.expect("answered")).await;
    assert_eq!((status, answer), (400, json!({ "error": "invalid output_format, must be one of [png, jpeg]" })));
    let no_image = reqwest::multipart::Form::new().text("prompt", "x");
    let (status, answer) = json_of(send(no_image).await.expect("answered")).await;
    assert_eq!((status, answer), (400, json!({ "error": "at least one image[] required" })));
    let (status, answer) = emulator.post(EDITS, &json!({ "prompt": "x" })).await;
    assert_eq!((status, answer), (400, json!({ "error": "Content-Type must be multipart/form-data" })));
    assert_eq!(emulator.stats().await["edits"], 7);
}

#[tokio::test]
async fn sdapi_generates_and_describes_itself() {
    let emulator = start(&[], |config| config.model_name = "sd_xl_base_1.0.safetensors".into()).await;
    let body = json!({ "prompt": "a cabin", "width": 192, "height": 128, "batch_size": 3, "seed": 77, "sampler_name": "Euler a" });
    let (status, answer) = emulator.post(TXT2IMG, &body).await;
    assert_eq!(status, 200, "{answer}");
    let images = answer["images"].as_array().expect("images");
    assert_eq!(images.len(), 3);
    assert!(images.iter().all(|i| {
        let image = decode(i, image::ImageFormat::Png);
        (image.width(), image.height()) == (192, 128)
    }));
    assert_eq!(answer["parameters"], body, "the body, echoed as sent");
    let info: Value = serde_json::from_str(answer["info"].as_str().expect("info text")).expect("info JSON");
    assert_eq!((info["seed"].clone(), info["all_seeds"].clone()), (json!(77), json!([77, 78, 79])));
    assert_eq!(
        (info["sampler_name"].clone(), info["sd_model_name"].clone()),
        (json!("euler_a"), json!("sd_xl_base_1.0.safetensors"))
    );
    assert_eq!(info["version"], "stable-diffusion.cpp");

    // img2img: the init image's size unless width/height are given.
    let (status, answer) = emulator
        .post(IMG2IMG, &json!({ "prompt": "x", "init_images": [png_b64(144, 80)], "denoising_strength": 0.4 }))
        .await;
    assert_eq!(status, 200, "{answer}");
    let image = decode(&answer["images"][0], image::ImageFormat::Png);
    assert_eq!((image.width(), image.height()), (144, 80));
    let info: Value = serde_json::from_str(answer["info"].as_str().unwrap_or_default()).expect("info JSON");
    assert_eq!(info["denoising_strength"], 0.4);

    for (body, code, message) in [
        (json!({ "prompt": "x", "width": -5 }), 400, "width and height must be positive"),
        (json!({ "prompt": "" }), 400, "prompt required"),
        (json!({ "prompt": "x", "cfg_scale": -1 }), 400, "invalid params"),
        (json!({ "prompt": "x", "steps": "many" }), 500, "server_error"),
    ] {
        let (status, answer) = emulator.post(TXT2IMG, &body).await;
        assert_eq!((status, answer["error"].as_str()), (code, Some(message)), "{body}: {answer}");
    }

    let (_, models) = emulator.get("/sdapi/v1/sd-models").await;
    assert_eq!(models[0]["title"], "sd_xl_base_1.0");
    assert_eq!(models[0]["filename"], "sd_xl_base_1.0.safetensors");
    assert_eq!(emulator.get("/sdapi/v1/options").await.1["sd_model_checkpoint"], "sd_xl_base_1.0");
    let (_, samplers) = emulator.get("/sdapi/v1/samplers").await;
    assert_eq!(samplers[0], json!({ "name": "default", "aliases": ["default"], "options": {} }));
    assert!(samplers.as_array().expect("list").iter().any(|s| s["name"] == "dpm++2m"));
    let (_, schedulers) = emulator.get("/sdapi/v1/schedulers").await;
    let names: Vec<&str> =
        schedulers.as_array().expect("list").iter().filter_map(|s| s["name"].as_str()).take(3).collect();
    assert_eq!(names, ["default", "discrete", "normal"]);
    assert_eq!(emulator.get("/sdapi/v1/loras").await, (200, json!([])));
    assert_eq!(emulator.get("/sdapi/v1/upscalers").await.1[1]["name"], "Lanczos");
    assert_eq!(emulator.get("/sdapi/v1/latent-upscale-modes").await.1[0], json!({ "name": "Latent" }));
    assert_eq!(emulator.get("/nothing/here").await.0, 404);
}

#[tokio::test]
async fn an_async_job_is_queued_generates_and_completes() {
    let emulator = start(&[], |config| config.step_ms = 25).await;
    let started = chrono::Utc::now().timestamp();
    let (status, accepted) = emulator.post(IMG_GEN, &job_body(8)).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("job_") && id.len() > 12, "{id}");
    assert_eq!(accepted["kind"], "img_gen");
    assert_eq!(accepted["status"], "queued");
    assert_eq!(accepted["poll_url"], format!("/sdcpp/v1/jobs/{id}"));
    assert!(accepted["created"].as_i64().is_some_and(|c| c >= started));

    // A second job waits behind the first.
    let second = emulator.submit(&job_body(2), None).await;
    let (_, queued) = emulator.job(&second).await;
    assert_eq!((queued["status"].clone(), queued["queue_position"].clone()), (json!("queued"), json!(1)));
    assert_eq!(
        (queued["started"].clone(), queued["result"].clone(), queued["error"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );

    let generating = emulator.job_until(&id, |job| job["status"] == "generating").await;
    assert!(generating["started"].is_i64());
    assert_eq!((generating["queue_position"].clone(), generating["completed"].clone()), (json!(0), Value::Null));
    let done = emulator.job_until(&id, |job| job["status"] == "completed").await;
    assert!(done["completed"].is_i64());
    assert_eq!(done["error"], Value::Null);
    assert_eq!(done["result"]["output_format"], "png");
    let images = done["result"]["images"].as_array().expect("images");
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["index"], 0);
    let image = decode(&images[0]["b64_json"], image::ImageFormat::Png);
    assert_eq!((image.width(), image.height()), (128, 96));

    let done = emulator.job_until(&second, |job| job["status"] == "completed").await;
    assert_eq!(done["result"]["images"].as_array().map(Vec::len), Some(1));

    // JPEG, a batch, and an init image's size.
    let body = json!({ "prompt": "x", "batch_count": 2, "init_image": format!("data:image/png;base64,{}", png_b64(88, 56)),
                       "output_format": "jpeg", "sample_params": { "sample_steps": 1 } });
    let third = emulator.submit(&body, None).await;
    let done = emulator.job_until(&third, |job| job["status"] == "completed").await;
    assert_eq!(done["result"]["output_format"], "jpeg");
    let images = done["result"]["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    let image = decode(&images[1]["b64_json"], image::ImageFormat::Jpeg);
    assert_eq!((image.width(), image.height()), (88, 56));

    let stats = emulator.stats().await;
    assert_eq!((stats["jobs_created"].as_u64(), stats["jobs_completed"].as_u64()), (Some(3), Some(3)));
    assert_eq!(stats["job_states"][&id], "completed");
    assert_eq!(stats["max_concurrency"], 1);
}

#[tokio::test]
async fn the_queue_fills_and_jobs_cancel() {
    let emulator = start(&[], |config| {
        config.step_ms = 30;
        config.max_queue = 2;
    })
    .await;
    let first = emulator.submit(&job_body(10), None).await;
    let second = emulator.submit(&job_body(10), None).await;
    let (status, answer) = emulator.post(IMG_GEN, &job_body(10)).await;
    assert_eq!((status, answer), (429, json!({ "error": "job queue is full" })));

    // A queued job cancels; a generating one cannot.
    emulator.job_until(&first, |job| job["status"] == "generating").await;
    let (status, cancelled) = emulator.post(&format!("/sdcpp/v1/jobs/{second}/cancel"), &json!({})).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["error"], json!({ "code": "cancelled", "message": "job cancelled by client" }));
    assert!(cancelled["completed"].is_i64() && cancelled["started"].is_null());
    let (status, answer) = emulator.post(&format!("/sdcpp/v1/jobs/{first}/cancel"), &json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(answer, json!({ "error": "job is currently generating and cannot be interrupted yet" }));

    // With one slot free again, a submission fits.
    let third = emulator.submit(&job_body(1), None).await;
    emulator.job_until(&third, |job| job["status"] == "completed").await;
    // A finished job answers cancel with itself, unchanged (the server's code).
    let (status, answer) = emulator.post(&format!("/sdcpp/v1/jobs/{third}/cancel"), &json!({})).await;
    assert_eq!((status, &answer["status"]), (200, &json!("completed")));
    assert_eq!(emulator.job(&second).await.1["status"], "cancelled");

    for path in ["/sdcpp/v1/jobs/job_0_99999999", "/sdcpp/v1/jobs/job_0_99999999/cancel"] {
        let (status, answer) =
            if path.ends_with("cancel") { emulator.post(path, &json!({})).await } else { emulator.get(path).await };
        assert_eq!((status, answer), (404, json!({ "error": "job not found" })), "{path}");
    }
    let stats = emulator.stats().await;
    assert_eq!((stats["jobs_rejected"].as_u64(), stats["jobs_cancelled"].as_u64()), (Some(1), Some(1)));
    assert_eq!((stats["cancel"].as_u64(), stats["img_gen"].as_u64()), (Some(4), Some(4)));
}

#[tokio::test]
async fn finished_jobs_expire_into_410() {
    let emulator = start(&[], |config| config.job_ttl = Duration::from_millis(150)).await;
    let id = emulator.submit(&job_body(1), None).await;
    emulator.job_until(&id, |job| job["status"] == "completed").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(emulator.job(&id).await, (410, json!({ "error": "job expired" })));
    let (status, answer) = emulator.post(&format!("/sdcpp/v1/jobs/{id}/cancel"), &json!({})).await;
    assert_eq!((status, answer), (410, json!({ "error": "job expired" })));
    assert!(emulator.stats().await["job_states"].get(&id).is_none());
}

#[tokio::test]
async fn native_submissions_are_checked() {
    let emulator = start(&[], |_| {}).await;
    for (body, message) in [
        (json!({ "prompt": "x", "strength": 2.0 }), "invalid generation parameters"),
        (json!({ "prompt": "x", "sample_params": { "guidance": { "txt_cfg": -2 } } }), "invalid generation parameters"),
        (json!({ "prompt": "x", "init_image": "not an image" }), "invalid generation parameters"),
        (json!({ "prompt": "x", "output_format": "gif" }), "invalid output_format, must be one of [png, jpeg, webp]"),
    ] {
        let (status, answer) = emulator.post(IMG_GEN, &body).await;
        assert_eq!((status, answer), (400, json!({ "error": message })), "{body}");
    }
    let response = emulator.http.post(emulator.url(IMG_GEN)).body("{oops").send().await.expect("sent");
    let (status, answer) = json_of(response).await;
    assert_eq!((status, &answer["error"]), (400, &json!("invalid json")));
    assert!(answer["message"].is_string());
    let response = emulator.http.post(emulator.url(IMG_GEN)).send().await.expect("sent");
    assert_eq!(json_of(response).await, (400, json!({ "error": "empty body" })));
    // Fields of the wrong type are ignored, as the server's reader does.
    let id =
        emulator.submit(&json!({ "prompt": 12, "width": "wide", "sample_params": { "sample_steps": 1 } }), None).await;
    let done = emulator.job_until(&id, |job| job["status"] == "completed").await;
    let image = decode(&done["result"]["images"][0]["b64_json"], image::ImageFormat::Png);
    assert_eq!((image.width(), image.height()), (512, 512));
    assert_eq!(emulator.post("/sdcpp/v1/vid_gen", &json!({ "prompt": "x" })).await.0, 400);

    let (status, capabilities) = emulator.get("/sdcpp/v1/capabilities").await;
    assert_eq!(status, 200);
    assert_eq!(capabilities["model"]["name"], "v1-5-pruned-emaonly.safetensors");
    assert_eq!(capabilities["model"]["stem"], "v1-5-pruned-emaonly");
    assert_eq!(capabilities["supported_modes"], json!(["img_gen"]));
    assert_eq!(capabilities["limits"]["max_queue_size"], 8);
    assert_eq!(capabilities["features"]["cancel_generating"], false);
    assert_eq!(capabilities["output_formats"], json!(["png", "jpeg", "webp"]));
    assert!(capabilities["samplers"].as_array().is_some_and(|s| s.iter().any(|s| s == "euler_a")));
}

#[tokio::test]
async fn status_faults_answer_the_servers_shape() {
    let emulator = start(&["jobs:every=2:status=503"], |_| {}).await;
    for code in [400u16, 404, 409, 410, 422, 429, 500, 503] {
        let (status, answer) = emulator.post_with(IMG_GEN, &job_body(1), Some(&format!("status={code}"))).await;
        assert_eq!(status, code);
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
    }
    let (status, answer) = emulator.post_with(GENERATIONS, &json!({ "prompt": "x" }), Some("status=429")).await;
    assert_eq!((status, answer), (429, json!({ "error": "job queue is full" })));
    let response = emulator
        .post_raw(TXT2IMG, &json!({ "prompt": "x" }), Some("status=503,retry_after_seconds=4"))
        .await
        .expect("answered");
    assert_eq!(response.headers()["retry-after"], "4");
    for fault in ["status=401", "explode"] {
        assert_eq!(emulator.post_with(IMG_GEN, &job_body(1), Some(fault)).await.0, 400, "{fault}");
    }
    let id = emulator.submit(&job_body(1), None).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(emulator.job(&id).await.0);
    }
    assert_eq!(statuses, [200, 503, 200, 503]);
    assert_eq!(emulator.stats().await["faults_injected"]["status"], 12);
}

#[tokio::test]
async fn task_faults_fail_hold_or_run_out_of_memory() {
    let emulator = start(&["img_gen:first=1:generation_failed"], |config| {
        config.step_ms = 10;
        config.timeout_fault_duration = Duration::from_millis(300);
    })
    .await;

    let failed = emulator.submit(&job_body(2), None).await;
    let done = emulator.job_until(&failed, |job| job["status"] != "queued" && job["status"] != "generating").await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"], json!({ "code": "generation_failed", "message": "generate_image returned no results" }));
    assert_eq!(done["result"], Value::Null);

    let oom = emulator.submit(&job_body(2), Some("oom")).await;
    let done = emulator.job_until(&oom, |job| job["status"] == "failed").await;
    assert_eq!(done["error"]["code"], "generation_failed");
    assert!(done["error"]["message"].as_str().is_some_and(|m| m.contains("out of memory")), "{done}");

    // A poll marks a job that has not finished.
    let marked = emulator.submit(&job_body(20), None).await;
    let (status, _) = emulator.get_with(&format!("/sdcpp/v1/jobs/{marked}"), Some("generation_failed")).await;
    assert_eq!(status, 200);
    assert_eq!(
        emulator.job_until(&marked, |job| job["status"] == "failed").await["error"]["code"],
        "generation_failed"
    );

    // never_finish: generating for good, and a cancel cannot stop it.
    let stuck = emulator.submit(&job_body(2), Some("never_finish")).await;
    emulator.job_until(&stuck, |job| job["status"] == "generating").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(emulator.job(&stuck).await.1["status"], "generating");
    assert_eq!(emulator.post(&format!("/sdcpp/v1/jobs/{stuck}/cancel"), &json!({})).await.0, 409);

    // Synchronous: 500s, and never_finish held as timeout.
    let fresh = start(&[], |config| config.timeout_fault_duration = Duration::from_millis(300)).await;
    let (status, answer) =
        fresh.post_with(GENERATIONS, &json!({ "prompt": "x", "size": "64x64" }), Some("generation_failed")).await;
    assert_eq!((status, answer), (500, json!({ "error": "generate_image returned no results" })));
    let (status, answer) =
        fresh.post_with(TXT2IMG, &json!({ "prompt": "x", "width": 64, "height": 64 }), Some("oom")).await;
    assert_eq!(status, 500);
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("out of memory")), "{answer}");
    let (status, answer) = fresh.get_with("/sdcpp/v1/capabilities", Some("oom")).await;
    assert!(status == 500 && answer["error"].as_str().is_some_and(|e| e.contains("out of memory")));
    let started = Instant::now();
    let (status, _) =
        fresh.post_with(GENERATIONS, &json!({ "prompt": "x", "size": "64x64" }), Some("never_finish")).await;
    assert!(status == 200 && started.elapsed() >= Duration::from_millis(300));

    let stats = emulator.stats().await;
    assert_eq!((stats["jobs_failed"].as_u64(), stats["job_states"][&stuck].as_str()), (Some(3), Some("generating")));
}

#[tokio::test]
async fn a_restart_forgets_every_job() {
    let emulator = start(&[], |config| config.step_ms = 20).await;

    // On img_gen: accepted, generating, then the server restarts half-way: the job is gone.
    let doomed = emulator.submit(&job_body(10), Some("restart")).await;
    let behind = emulator.submit(&job_body(10), None).await;
    emulator.job_until(&doomed, |job| job["status"] == "generating").await;
    let mut gone = false;
    for _ in 0..100 {
        match emulator.job(&doomed).await {
            (200, _) => tokio::time::sleep(Duration::from_millis(10)).await,
            (status, answer) => {
                assert_eq!((status, answer), (404, json!({ "error": "job not found" })));
                gone = true;
                break;
            }
        }
    }
    assert!(gone, "the job was forgotten");
    assert_eq!(emulator.job(&behind).await.0, 404, "every job is");

    // The restarted server takes jobs again.
    let after = emulator.submit(&job_body(1), None).await;
    emulator.job_until(&after, |job| job["status"] == "completed").await;

    // On a poll: the restart comes first, so the poll itself answers 404.
    let (status, _) = emulator.get_with(&format!("/sdcpp/v1/jobs/{after}"), Some("restart")).await;
    assert_eq!(status, 404);

    // On a synchronous generation: its connection is reset half-way.
    let started = Instant::now();
    let dropped = emulator
        .post_raw(TXT2IMG, &json!({ "prompt": "x", "steps": 10, "width": 64, "height": 64 }), Some("restart"))
        .await;
    assert!(dropped.is_err(), "dropped");
    assert!(started.elapsed() >= Duration::from_millis(5 * 20));

    let stats = emulator.stats().await;
    assert_eq!(stats["restarts"], 3);
    assert_eq!(stats["job_states"], json!({}));
    assert_eq!(stats["faults_injected"]["restart"], 3);
}

#[tokio::test]
async fn transport_faults_delay_break_or_drop_answers() {
    let emulator = start(&["cancel:always:latency=200"], |config| {
        config.timeout_fault_duration = Duration::from_millis(300);
    })
    .await;
    let body = json!({ "prompt": "x", "size": "64x64" });
    let started = Instant::now();
    assert_eq!(emulator.post_with(GENERATIONS, &body, Some("latency=250")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let started = Instant::now();
    assert_eq!(emulator.post_with(GENERATIONS, &body, Some("timeout")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let response = emulator.post_raw(GENERATIONS, &body, Some("malformed")).await.expect("answered");
    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err(), "cut short");
    assert!(emulator.post_raw(IMG_GEN, &job_body(1), Some("reset")).await.is_err(), "dropped");
    let started = Instant::now();
    assert_eq!(emulator.post("/sdcpp/v1/jobs/job_0_00000000/cancel", &json!({})).await.0, 404);
    assert!(started.elapsed() >= Duration::from_millis(200), "planned latency");

    let stats = emulator.stats().await;
    let injected = &stats["faults_injected"];
    assert_eq!((injected["latency"].as_u64(), injected["timeout"].as_u64()), (Some(2), Some(1)));
    assert_eq!((injected["malformed"].as_u64(), injected["reset"].as_u64()), (Some(1), Some(1)));
    assert_eq!(
        (stats["generations"].as_u64(), stats["img_gen"].as_u64(), stats["cancel"].as_u64()),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!((stats["jobs_created"].as_u64(), stats["calls"].as_u64()), (Some(0), Some(5)));
}
