//! The AUTOMATIC1111 WebUI emulator through HTTP: txt2img's and img2img's
//! images (real PNGs of the asked size and count, img2img keeping its init
//! image's size), the request checks and their error shapes, HTTP Basic auth,
//! progress observed mid-generation, interrupts, the one-at-a-time queue,
//! checkpoints listed and switched through the options, every fault (`oom`
//! and `restart` included), and the stats.

use std::time::{Duration, Instant};

use atelier_emulators::a1111::{A1111Emulator, A1111EmulatorConfig, FaultPlan, parse_fault_rule};
use base64::Engine;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const TXT2IMG: &str = "/sdapi/v1/txt2img";
const IMG2IMG: &str = "/sdapi/v1/img2img";
const PROGRESS: &str = "/sdapi/v1/progress";
const SD15: &str = "v1-5-pruned-emaonly.safetensors [6ce0161689]";

// ---- The emulator and a client. ----

struct Emulator {
    base: String,
    http: reqwest::Client,
    auth: Option<(&'static str, &'static str)>,
}

async fn start(faults: &[&str], tweak: impl FnOnce(&mut A1111EmulatorConfig)) -> Emulator {
    let mut plan = FaultPlan::none();
    for rule in faults {
        plan = plan.with(parse_fault_rule(rule).expect("rule"));
    }
    let mut config =
        A1111EmulatorConfig { faults: plan, timeout_fault_duration: Duration::from_secs(5), ..Default::default() };
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(A1111Emulator::new(config).serve(listener));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    Emulator { base, http, auth: None }
}

impl Emulator {
    fn with(&self, request: reqwest::RequestBuilder, fault: Option<&str>) -> reqwest::RequestBuilder {
        let request = match self.auth {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        };
        match fault {
            Some(fault) => request.header("X-Emulator-Fault", fault),
            None => request,
        }
    }

    async fn post_raw(&self, path: &str, body: &Value, fault: Option<&str>) -> reqwest::Result<reqwest::Response> {
        self.with(self.http.post(format!("{}{path}", self.base)).json(body), fault).send().await
    }

    async fn post_with(&self, path: &str, body: &Value, fault: Option<&str>) -> (u16, Value) {
        json_of(self.post_raw(path, body, fault).await.expect("answered")).await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_with(path, body, None).await
    }

    async fn get_raw(&self, path: &str, fault: Option<&str>) -> reqwest::Result<reqwest::Response> {
        self.with(self.http.get(format!("{}{path}", self.base)), fault).send().await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        json_of(self.get_raw(path, None).await.expect("answered")).await
    }

    async fn stats(&self) -> Value {
        let response = self.http.get(format!("{}/__emulator/stats", self.base)).send().await.expect("stats");
        response.json().await.expect("json")
    }
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

fn decode(b64: &Value) -> image::DynamicImage {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64 string")).expect("base64");
    assert_eq!(image::guess_format(&bytes).expect("an image"), image::ImageFormat::Png);
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).expect("decodes")
}

fn sizes(answer: &Value) -> Vec<(u32, u32)> {
    answer["images"].as_array().expect("images").iter().map(decode).map(|i| (i.width(), i.height())).collect()
}

/// `info`, a JSON text, read.
fn info(answer: &Value) -> Value {
    serde_json::from_str(answer["info"].as_str().expect("info is a string")).expect("info is JSON")
}

fn png_b64(width: u32, height: u32) -> String {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    base64::engine::general_purpose::STANDARD.encode(out.into_inner())
}

/// An A1111 middleware error with this class (and detail, when given).
fn assert_exception(answer: &Value, class: &str, detail: Option<&str>) {
    assert_eq!(answer["error"], class, "{answer}");
    if let Some(detail) = detail {
        assert_eq!(answer["detail"], detail, "{answer}");
    }
    assert!(answer["errors"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
    assert_eq!(answer["body"], "", "{answer}");
}

/// Polls progress until `until` holds, at most 200 times; the last answer.
async fn progress_until(emulator: &Emulator, path: &str, until: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let (status, answer) = emulator.get(path).await;
        assert_eq!(status, 200, "{answer}");
        if until(&answer) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("progress never got there");
}

// ---- The tests. ----

#[tokio::test]
async fn txt2img_answers_pngs_of_the_asked_size_and_count() {
    let emulator = start(&[], |_| {}).await;
    let body = json!({
        "prompt": "a lighthouse at dusk", "negative_prompt": "blurry", "width": 640, "height": 384,
        "batch_size": 2, "n_iter": 2, "steps": 4, "seed": 1234, "sampler_name": "Euler a",
        "some_extension_field": { "whatever": true },
    });
    let (status, answer) = emulator.post(TXT2IMG, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sizes(&answer), vec![(640, 384); 4]);
    assert_eq!(answer["parameters"]["width"], 640);
    assert_eq!(answer["parameters"]["cfg_scale"], 7.0, "defaults are echoed");
    assert!(answer["parameters"].get("some_extension_field").is_none());
    let info = info(&answer);
    assert_eq!(info["seed"], 1234);
    assert_eq!(info["all_seeds"], json!([1234, 1235, 1236, 1237]));
    assert_eq!((info["width"].clone(), info["height"].clone()), (json!(640), json!(384)));
    assert_eq!((info["sampler_name"].clone(), info["steps"].clone()), (json!("Euler a"), json!(4)));
    assert_eq!(
        (info["sd_model_name"].clone(), info["sd_model_hash"].clone()),
        (json!("v1-5-pruned-emaonly"), json!("6ce0161689"))
    );
    assert_eq!(info["infotexts"].as_array().map(Vec::len), Some(4));
    assert!(
        info["infotexts"][1]
            .as_str()
            .is_some_and(|t| t.contains("Seed: 1235") && t.contains("Negative prompt: blurry"))
    );

    // The same seed draws the same images; another draws others.
    let (_, again) = emulator.post(TXT2IMG, &body).await;
    assert_eq!(again["images"], answer["images"]);
    assert_ne!(answer["images"][0], answer["images"][1]);

    // Sizes floor to 8; a random seed for -1; defaults: 512×512, one image, the Euler sampler.
    let (status, answer) =
        emulator.post(TXT2IMG, &json!({ "prompt": "x", "width": 519, "height": 300, "steps": 2 })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sizes(&answer), [(512, 296)]);
    let info_random = self::info(&answer);
    assert!(info_random["seed"].as_i64().is_some_and(|s| (0..4_294_967_294).contains(&s)));
    assert_eq!(info_random["sampler_name"], "Euler");
    let (_, answer) = emulator.post(TXT2IMG, &json!({ "steps": 1 })).await;
    assert_eq!(sizes(&answer), [(512, 512)]);
    // send_images: false answers no images.
    let (_, answer) = emulator.post(TXT2IMG, &json!({ "steps": 1, "send_images": false })).await;
    assert_eq!(answer["images"], json!([]));

    let stats = emulator.stats().await;
    assert_eq!((stats["txt2img"].as_u64(), stats["images_generated"].as_u64()), (Some(5), Some(11)), "sent or not");
    assert_eq!(stats["by_sampler"]["Euler a"], 2);
}

#[tokio::test]
async fn bodies_are_checked_with_fastapi_and_a1111_errors() {
    let emulator = start(&[], |_| {}).await;

    // Types: FastAPI's 422, every bad field listed.
    let (status, answer) = emulator.post(TXT2IMG, &json!({ "width": "wide", "steps": [20], "cfg_scale": "7" })).await;
    assert_eq!(status, 422, "{answer}");
    let detail = answer["detail"].as_array().expect("detail list");
    let found: Vec<(Value, Value)> = detail.iter().map(|d| (d["loc"].clone(), d["type"].clone())).collect();
    assert_eq!(
        found,
        [
            (json!(["body", "steps"]), json!("type_error.integer")),
            (json!(["body", "width"]), json!("type_error.integer"))
        ]
    );
    assert!(detail.iter().all(|d| d["msg"].as_str().is_some_and(|m| !m.is_empty())));

    // Ranges: pydantic's constraint errors.
    for (body, field, kind) in [
        (json!({ "width": 32 }), "width", "value_error.number.not_ge"),
        (json!({ "height": 4096 }), "height", "value_error.number.not_le"),
        (json!({ "steps": 0 }), "steps", "value_error.number.not_ge"),
        (json!({ "steps": 151 }), "steps", "value_error.number.not_le"),
        (json!({ "batch_size": 9 }), "batch_size", "value_error.number.not_le"),
        (json!({ "cfg_scale": 31 }), "cfg_scale", "value_error.number.not_le"),
    ] {
        let (status, answer) = emulator.post(TXT2IMG, &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", field]), "{answer}");
        assert_eq!(answer["detail"][0]["type"], kind, "{answer}");
        assert!(answer["detail"][0]["ctx"]["limit_value"].is_number(), "{answer}");
    }

    // Not JSON, or not an object.
    let response = emulator.http.post(format!("{}{TXT2IMG}", emulator.base)).body("{nope").send().await.expect("sent");
    assert_eq!(response.status(), 422);
    let (status, answer) = emulator.post(TXT2IMG, &json!([1, 2])).await;
    assert_eq!((status, &answer["detail"][0]["type"]), (422, &json!("type_error.dict")));

    // The sampler and the checkpoint must exist.
    let (status, answer) = emulator.post(TXT2IMG, &json!({ "sampler_name": "Nope", "steps": 1 })).await;
    assert_eq!(status, 404);
    assert_exception(&answer, "HTTPException", Some("Sampler not found"));
    assert_eq!(answer["errors"], "404: Sampler not found");
    let (status, _) = emulator.post(TXT2IMG, &json!({ "sampler_name": "k_dpmpp_2m", "steps": 1 })).await;
    assert_eq!(status, 200, "an alias names a sampler");
    let (status, answer) = emulator.post(TXT2IMG, &json!({ "sampler_name": "DPM++ 2M Karras", "steps": 1 })).await;
    assert_eq!(status, 200, "{answer}");
    assert!(info(&answer)["infotexts"][0].as_str().is_some_and(|t| t.contains("Schedule type: Karras")));
    let body = json!({ "steps": 1, "override_settings": { "sd_model_checkpoint": "missing.safetensors" } });
    let (status, answer) = emulator.post(TXT2IMG, &body).await;
    assert_eq!(status, 404);
    assert_exception(&answer, "HTTPException", Some("Model not found"));

    // Unknown routes and methods: FastAPI's own.
    assert_eq!(emulator.get("/sdapi/v1/nothing").await, (404, json!({ "detail": "Not Found" })));
    assert_eq!(emulator.get(TXT2IMG).await, (405, json!({ "detail": "Method Not Allowed" })));
}

#[tokio::test]
async fn img2img_keeps_the_init_size_and_refuses_bad_images() {
    let emulator = start(&[], |_| {}).await;
    let init = png_b64(320, 200);
    let (status, answer) = emulator.post(IMG2IMG, &json!({ "prompt": "x", "init_images": [init], "steps": 8 })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sizes(&answer), [(320, 200)]);
    assert_eq!(answer["parameters"]["init_images"], Value::Null, "not echoed unless include_init_images");
    assert_eq!(answer["parameters"]["denoising_strength"], 0.75);
    let info = info(&answer);
    assert_eq!(info["denoising_strength"], 0.75);

    // A data URL and a mask; explicit width/height win; an odd size floors to 8.
    let body = json!({
        "init_images": [format!("data:image/png;base64,{}", png_b64(203, 101))],
        "mask": png_b64(203, 101), "width": 256, "steps": 2, "batch_size": 2, "include_init_images": true,
    });
    let (status, answer) = emulator.post(IMG2IMG, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sizes(&answer), [(256, 96), (256, 96)]);
    assert!(answer["parameters"]["init_images"][0].as_str().is_some_and(|s| s.starts_with("data:image/png")));

    // Bad images: A1111's 500 "Invalid encoded image"; missing: 404; URLs are not fetched.
    for bad in ["not an image at all", &base64::engine::general_purpose::STANDARD.encode(b"GIF89a?")] {
        let (status, answer) = emulator.post(IMG2IMG, &json!({ "init_images": [bad] })).await;
        assert_eq!(status, 500, "{answer}");
        assert_eq!(
            answer,
            json!({ "error": "HTTPException", "detail": "Invalid encoded image", "body": "", "errors": "500: Invalid encoded image" })
        );
    }
    let (status, answer) = emulator.post(IMG2IMG, &json!({ "init_images": [init], "mask": "???" })).await;
    assert_eq!((status, &answer["detail"]), (500, &json!("Invalid encoded image")));
    let (status, answer) = emulator.post(IMG2IMG, &json!({ "prompt": "x" })).await;
    assert_eq!(status, 404);
    assert_exception(&answer, "HTTPException", Some("Init image not found"));
    let (status, answer) = emulator.post(IMG2IMG, &json!({ "init_images": [] })).await;
    assert_eq!(status, 500);
    assert_exception(&answer, "IndexError", Some(""));
    let (status, answer) = emulator.post(IMG2IMG, &json!({ "init_images": ["https://example.com/a.png"] })).await;
    assert_eq!((status, &answer["detail"]), (500, &json!("Requests not allowed")));
    let (status, answer) = emulator.post(IMG2IMG, &json!({ "init_images": [init], "denoising_strength": 1.5 })).await;
    assert_eq!((status, &answer["detail"][0]["loc"]), (422, &json!(["body", "denoising_strength"])));
    assert_eq!(emulator.stats().await["img2img"], 9);
}

#[tokio::test]
async fn basic_auth_guards_every_api_route() {
    let mut emulator = start(&[], |config| config.auth = Some(("alice".into(), "s3cret".into()))).await;

    let response = emulator.get_raw("/sdapi/v1/sd-models", None).await.expect("answered");
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Basic");
    let (_, answer) = json_of(response).await;
    assert_exception(&answer, "HTTPException", Some("Not authenticated"));

    emulator.auth = Some(("alice", "wrong"));
    let (status, answer) = emulator.post(TXT2IMG, &json!({ "steps": 1 })).await;
    assert_eq!(status, 401);
    assert_exception(&answer, "HTTPException", Some("Incorrect username or password"));
    assert_eq!(answer["errors"], "401: Incorrect username or password");

    emulator.auth = Some(("alice", "s3cret"));
    let (status, answer) = emulator.post(TXT2IMG, &json!({ "steps": 1 })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(emulator.get(PROGRESS).await.0, 200);

    // The stats need no credentials.
    let stats = emulator.stats().await;
    assert_eq!(stats["auth_failures"], 2);
    assert_eq!(stats["generations"], 1);
}

#[tokio::test]
async fn progress_is_observed_mid_generation_and_interrupt_stops_it() {
    let emulator = start(&[], |config| config.step_ms = 25).await;
    let (status, idle) = emulator.get(PROGRESS).await;
    assert_eq!(status, 200);
    assert_eq!((idle["progress"].clone(), idle["current_image"].clone()), (json!(0), Value::Null));
    assert_eq!((idle["state"]["job_count"].clone(), idle["state"]["job"].clone()), (json!(0), json!("")));

    let started = Instant::now();
    let body = json!({ "prompt": "x", "width": 256, "height": 256, "steps": 20, "n_iter": 3, "batch_size": 2 });
    let generation = {
        let request = emulator.http.post(format!("{}{TXT2IMG}", emulator.base)).json(&body);
        tokio::spawn(async move { json_of(request.send().await.expect("answered")).await })
    };

    let mid =
        progress_until(&emulator, PROGRESS, |p| p["state"]["sampling_step"].as_u64().is_some_and(|s| s >= 2)).await;
    let state = &mid["state"];
    assert_eq!((state["job"].clone(), state["job_count"].clone()), (json!("Batch 1 out of 3"), json!(3)));
    assert_eq!((state["job_no"].clone(), state["sampling_steps"].clone()), (json!(0), json!(20)));
    assert_eq!(state["interrupted"], false);
    let progress = mid["progress"].as_f64().expect("progress");
    assert!(progress > 0.0 && progress < 0.5, "{mid}");
    assert!(mid["eta_relative"].as_f64().is_some_and(|eta| eta > 0.0), "{mid}");
    let preview = decode(&mid["current_image"]);
    assert_eq!((preview.width(), preview.height()), (64, 64));
    let (_, skipped) = emulator.get(&format!("{PROGRESS}?skip_current_image=true")).await;
    assert_eq!(skipped["current_image"], Value::Null);
    assert!(skipped["state"]["sampling_step"].as_u64().is_some_and(|s| s >= 2));

    // The second batch shows as such, then the interrupt stops it.
    progress_until(&emulator, PROGRESS, |p| p["state"]["job_no"] == 1).await;
    let (status, answer) = emulator.post("/sdapi/v1/interrupt", &json!({})).await;
    assert_eq!((status, answer), (200, json!({})));
    let (status, answer) = generation.await.expect("joined");
    assert_eq!(status, 200, "{answer}");
    assert!(started.elapsed() < Duration::from_millis(25 * 60), "stopped early");
    assert_eq!(sizes(&answer), vec![(256, 256); 4], "the first batch and the interrupted one");
    assert_eq!(info(&answer)["all_seeds"].as_array().map(Vec::len), Some(4));

    let (_, after) = emulator.get(PROGRESS).await;
    assert_eq!((after["progress"].clone(), after["state"]["job_count"].clone()), (json!(0), json!(0)));
    assert_eq!(after["state"]["interrupted"], true, "until the next generation begins");
    assert!(after["state"]["job_timestamp"].as_str().is_some_and(|t| t.len() == 14));
    let stats = emulator.stats().await;
    assert_eq!((stats["interrupted"].as_u64(), stats["interrupt_requests"].as_u64()), (Some(1), Some(1)));
    assert_eq!(stats["progress"].as_u64().map(|n| n >= 4), Some(true));

    // The next generation clears the flag and runs whole.
    let (_, answer) = emulator.post(TXT2IMG, &json!({ "steps": 2, "n_iter": 2 })).await;
    assert_eq!(sizes(&answer).len(), 2);
    assert_eq!(emulator.get(PROGRESS).await.1["state"]["interrupted"], false);
}

#[tokio::test]
async fn generations_run_one_at_a_time_in_turn() {
    let emulator = start(&[], |config| config.step_ms = 15).await;
    let started = Instant::now();
    let requests: Vec<_> = (0..3)
        .map(|i| {
            let request = emulator
                .http
                .post(format!("{}{TXT2IMG}", emulator.base))
                .json(&json!({ "prompt": format!("n{i}"), "steps": 6, "width": 64, "height": 64 }));
            tokio::spawn(async move { json_of(request.send().await.expect("answered")).await })
        })
        .collect();
    let waiting = progress_until(&emulator, "/__emulator/stats", |s| s["waiting"].as_u64() >= Some(1)).await;
    assert!(waiting["running"].as_u64() <= Some(1), "{waiting}");
    for request in requests {
        let (status, answer) = request.await.expect("joined");
        assert_eq!(status, 200, "{answer}");
    }
    assert!(started.elapsed() >= Duration::from_millis(3 * 6 * 15), "one after the other");
    let stats = emulator.stats().await;
    assert_eq!(stats["max_concurrency"], 1);
    assert!(stats["max_waiting"].as_u64().is_some_and(|w| w >= 1), "{stats}");
    assert_eq!((stats["waiting"].as_u64(), stats["running"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn checkpoints_are_listed_and_switched_through_options() {
    let emulator = start(&[], |_| {}).await;
    let (status, models) = emulator.get("/sdapi/v1/sd-models").await;
    assert_eq!(status, 200);
    let models = models.as_array().expect("a list").clone();
    assert_eq!(models.len(), 3);
    assert_eq!(
        models[0],
        json!({
            "title": SD15,
            "model_name": "v1-5-pruned-emaonly",
            "hash": "6ce0161689",
            "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",
            "filename": "/models/Stable-diffusion/v1-5-pruned-emaonly.safetensors",
            "config": null,
        })
    );
    let sdxl = models[1]["title"].as_str().expect("title").to_owned();
    assert!(sdxl.starts_with("sd_xl_base_1.0.safetensors ["), "{sdxl}");

    let (_, options) = emulator.get("/sdapi/v1/options").await;
    assert_eq!(options["sd_model_checkpoint"], SD15);
    let (status, answer) = emulator
        .post("/sdapi/v1/options", &json!({ "sd_model_checkpoint": "sd_xl_base_1.0.safetensors", "foo": 1 }))
        .await;
    assert_eq!((status, answer), (200, Value::Null));
    let (_, options) = emulator.get("/sdapi/v1/options").await;
    assert_eq!((options["sd_model_checkpoint"].as_str(), options["foo"].as_i64()), (Some(sdxl.as_str()), Some(1)));
    let (_, answer) = emulator.post(TXT2IMG, &json!({ "steps": 1 })).await;
    assert_eq!(info(&answer)["sd_model_name"], "sd_xl_base_1.0");

    // An override for one request (restored after it), or kept.
    let once = json!({ "steps": 1, "override_settings": { "sd_model_checkpoint": "dreamshaper_8" } });
    let (_, answer) = emulator.post(TXT2IMG, &once).await;
    assert_eq!(info(&answer)["sd_model_name"], "dreamshaper_8");
    assert_eq!(emulator.get("/sdapi/v1/options").await.1["sd_model_checkpoint"], sdxl.as_str());
    let kept = json!({ "steps": 1, "override_settings": { "sd_model_checkpoint": SD15 }, "override_settings_restore_afterwards": false });
    emulator.post(TXT2IMG, &kept).await;
    assert_eq!(emulator.get("/sdapi/v1/options").await.1["sd_model_checkpoint"], SD15);

    // An unknown checkpoint: the WebUI's RuntimeError.
    let (status, answer) = emulator.post("/sdapi/v1/options", &json!({ "sd_model_checkpoint": "nope" })).await;
    assert_eq!(status, 500);
    assert_exception(&answer, "RuntimeError", Some(""));
    assert_eq!(answer["errors"], "model 'nope' not found");
    assert_eq!(emulator.post("/sdapi/v1/refresh-checkpoints", &json!({})).await, (200, Value::Null));

    // Samplers and schedulers.
    let (_, samplers) = emulator.get("/sdapi/v1/samplers").await;
    let euler_a = samplers.as_array().expect("list").iter().find(|s| s["name"] == "Euler a").expect("Euler a").clone();
    assert_eq!(euler_a["aliases"], json!(["k_euler_a", "k_euler_ancestral"]));
    assert_eq!(euler_a["options"], json!({ "uses_ensd": "True" }));
    let (_, schedulers) = emulator.get("/sdapi/v1/schedulers").await;
    assert!(schedulers.as_array().expect("list").iter().any(|s| s["name"] == "karras" && s["label"] == "Karras"));

    let stats = emulator.stats().await;
    assert_eq!(stats["checkpoint_switches"], 1);
    assert_eq!(stats["current_checkpoint"], SD15);
    let dreamshaper = models[2]["title"].as_str().expect("title");
    assert_eq!(stats["by_checkpoint"][dreamshaper], 1);
    assert_eq!(stats["models"], 10);
}

#[tokio::test]
async fn status_faults_answer_a1111_errors() {
    let emulator = start(&["progress:every=2:status=503"], |config| config.auth = Some(("u".into(), "p".into()))).await;
    for code in [400u16, 401, 404, 409, 410, 422, 429, 500, 503] {
        let fault = format!("status={code}");
        // Answered before the credentials are checked.
        let response = emulator.post_raw(TXT2IMG, &json!({}), Some(&fault)).await.expect("answered");
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(response.headers().contains_key("www-authenticate"), code == 401, "{code}");
        let (_, answer) = json_of(response).await;
        assert_exception(&answer, "HTTPException", None);
        assert!(answer["errors"].as_str().is_some_and(|e| e.starts_with(&code.to_string())), "{answer}");
    }
    let response =
        emulator.post_raw(TXT2IMG, &json!({}), Some("status=429,retry_after_seconds=3")).await.expect("answered");
    assert_eq!(response.headers()["retry-after"], "3");
    for fault in ["status=418", "explode"] {
        let (status, answer) = emulator.post_with(TXT2IMG, &json!({}), Some(fault)).await;
        assert_eq!(status, 400, "{fault}: {answer}");
    }

    // Planned: every second progress poll is unavailable (the rest need the credentials).
    let mut emulator = emulator;
    emulator.auth = Some(("u", "p"));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(emulator.get(PROGRESS).await.0);
    }
    assert_eq!(statuses, [200, 503, 200, 503]);
    assert_eq!(emulator.stats().await["faults_injected"]["status"], 12);
}

#[tokio::test]
async fn task_faults_fail_hold_or_run_out_of_memory() {
    let emulator = start(&["img2img:first=1:generation_failed"], |config| config.step_ms = 5).await;
    let body = json!({ "prompt": "x", "steps": 4, "width": 64, "height": 64 });

    let (status, answer) = emulator.post_with(TXT2IMG, &body, Some("generation_failed")).await;
    assert_eq!(status, 500);
    assert_exception(&answer, "NansException", Some(""));
    assert!(answer["errors"].as_str().is_some_and(|e| e.contains("NaNs")));
    let (status, answer) = emulator.post(IMG2IMG, &json!({ "init_images": [png_b64(64, 64)], "steps": 2 })).await;
    assert_eq!((status, &answer["error"]), (500, &json!("NansException")), "planned");

    for path in [TXT2IMG, "/sdapi/v1/sd-models"] {
        let response = if path == TXT2IMG {
            emulator.post_raw(path, &body, Some("oom")).await
        } else {
            emulator.get_raw(path, Some("oom")).await
        };
        let (status, answer) = json_of(response.expect("answered")).await;
        assert_eq!(status, 500, "{path}");
        assert_eq!(answer["error"], "OutOfMemoryError", "{answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| d.starts_with("CUDA out of memory. Tried to allocate")));
    }
    assert_eq!(emulator.get(PROGRESS).await.1["state"]["job_count"], 0, "idle after the failures");

    // never_finish: stuck on the last step until interrupted, then the images.
    let stuck = {
        let request = emulator
            .http
            .post(format!("{}{TXT2IMG}", emulator.base))
            .header("X-Emulator-Fault", "never_finish")
            .json(&body);
        tokio::spawn(async move { json_of(request.send().await.expect("answered")).await })
    };
    progress_until(&emulator, PROGRESS, |p| p["state"]["sampling_step"] == 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(emulator.get(PROGRESS).await.1["state"]["sampling_step"], 4, "still there");
    assert!(!stuck.is_finished());
    emulator.post("/sdapi/v1/interrupt", &json!({})).await;
    let (status, answer) = stuck.await.expect("joined");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sizes(&answer), [(64, 64)]);

    let stats = emulator.stats().await;
    let injected = &stats["faults_injected"];
    assert_eq!((injected["generation_failed"].as_u64(), injected["oom"].as_u64()), (Some(2), Some(2)));
    assert_eq!(injected["never_finish"], 1);
}

#[tokio::test]
async fn restart_drops_the_generation_in_flight_and_goes_idle() {
    let emulator = start(&[], |config| config.step_ms = 20).await;
    let body = json!({ "prompt": "x", "steps": 10, "width": 64, "height": 64 });

    // On a txt2img: half of its steps, then the connection is reset.
    let started = Instant::now();
    assert!(emulator.post_raw(TXT2IMG, &body, Some("restart")).await.is_err(), "dropped");
    assert!(started.elapsed() >= Duration::from_millis(5 * 20));
    let (_, idle) = emulator.get(PROGRESS).await;
    assert_eq!((idle["progress"].clone(), idle["state"]["job_count"].clone()), (json!(0), json!(0)));

    // On progress: the generation in flight and the one waiting are lost, progress answers idle.
    let spawn = |prompt: &str| {
        let request = emulator
            .http
            .post(format!("{}{TXT2IMG}", emulator.base))
            .json(&json!({ "prompt": prompt, "steps": 30, "width": 64, "height": 64 }));
        tokio::spawn(async move { request.send().await })
    };
    let (running, waiting) = (spawn("a"), spawn("b"));
    progress_until(&emulator, PROGRESS, |p| p["state"]["sampling_step"].as_u64() >= Some(2)).await;
    progress_until(&emulator, "/__emulator/stats", |s| s["waiting"] == 1).await;
    let (status, answer) = json_of(emulator.get_raw(PROGRESS, Some("restart")).await.expect("answered")).await;
    assert_eq!(status, 200);
    assert_eq!((answer["progress"].clone(), answer["state"]["job"].clone()), (json!(0), json!("")));
    assert!(running.await.expect("joined").is_err(), "the generation in flight is lost");
    assert!(waiting.await.expect("joined").is_err(), "so is the one waiting");

    // The restarted WebUI generates again, and keeps its checkpoint.
    let (status, answer) = emulator.post(TXT2IMG, &json!({ "steps": 1 })).await;
    assert_eq!(status, 200, "{answer}");
    let stats = emulator.stats().await;
    assert_eq!(stats["restarts"], 2);
    assert_eq!(stats["faults_injected"]["restart"], 2);
    assert_eq!(stats["current_checkpoint"], SD15);
    assert_eq!((stats["running"].as_u64(), stats["waiting"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn transport_faults_delay_break_or_drop_answers() {
    let emulator = start(&["models:always:latency=200"], |config| {
        config.timeout_fault_duration = Duration::from_millis(300);
    })
    .await;
    let body = json!({ "steps": 1, "width": 64, "height": 64 });

    let started = Instant::now();
    assert_eq!(emulator.post_with(TXT2IMG, &body, Some("latency=250")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let started = Instant::now();
    assert_eq!(emulator.post_with(TXT2IMG, &body, Some("timeout")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let response = emulator.post_raw(TXT2IMG, &body, Some("malformed")).await.expect("answered");
    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err(), "cut short");
    assert!(emulator.post_raw(TXT2IMG, &body, Some("reset")).await.is_err(), "dropped");
    let started = Instant::now();
    assert_eq!(emulator.get("/sdapi/v1/samplers").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200), "planned latency");

    let stats = emulator.stats().await;
    let injected = &stats["faults_injected"];
    assert_eq!((injected["latency"].as_u64(), injected["timeout"].as_u64()), (Some(2), Some(1)));
    assert_eq!((injected["malformed"].as_u64(), injected["reset"].as_u64()), (Some(1), Some(1)));
    assert_eq!(
        (stats["txt2img"].as_u64(), stats["models"].as_u64(), stats["calls"].as_u64()),
        (Some(4), Some(1), Some(5))
    );
    assert_eq!(stats["generations"], 3, "latency, timeout and malformed generate; reset does not");
}
