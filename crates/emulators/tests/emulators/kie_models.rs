//! The Kie emulator's Veo, Midjourney, Sora 2 and upload APIs, through HTTP.

use std::time::Duration;

use atelier_emulators::{KieEmulator, KieEmulatorConfig};
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const KEY: &str = "test-key";

async fn start(config: KieEmulatorConfig) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(KieEmulator::new(config).serve(listener));
    base
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client")
}

async fn post(base: &str, path: &str, body: Value, fault: Option<&str>) -> (StatusCode, Value) {
    let mut request = client().post(format!("{base}{path}")).bearer_auth(KEY).json(&body);
    if let Some(fault) = fault {
        request = request.header("X-Emulator-Fault", fault);
    }
    let response = request.send().await.expect("answered");
    (response.status(), response.json().await.expect("JSON"))
}

async fn get(base: &str, path: &str) -> (StatusCode, Value) {
    let response = client().get(format!("{base}{path}")).bearer_auth(KEY).send().await.expect("answered");
    (response.status(), response.json().await.expect("JSON"))
}

async fn stats(base: &str) -> Value {
    client().get(format!("{base}/__emulator/stats")).send().await.expect("stats").json().await.expect("JSON")
}

/// Polls a record-info until `successFlag` is no longer 0.
async fn settle(base: &str, path: &str, id: &str) -> Value {
    for _ in 0..10 {
        let (status, body) = get(base, &format!("{path}?taskId={id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["data"]["successFlag"] != 0 {
            return body["data"].clone();
        }
    }
    panic!("{id} never settled");
}

async fn fetch(url: &str) -> (String, bytes::Bytes) {
    let response = reqwest::get(url).await.expect("file");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let mime = response.headers()["content-type"].to_str().expect("ascii").to_string();
    (mime, response.bytes().await.expect("bytes"))
}

#[tokio::test]
async fn veo_runs_to_a_real_mp4_and_fetches_1080p_after_a_wait() {
    let base = start(KieEmulatorConfig { hd_pending_requests: 2, ..Default::default() }).await;
    let body = json!({"prompt": "a fox", "model": "veo3_fast", "aspect_ratio": "9:16", "resolution": "1080p"});
    let (status, created) = post(&base, "/api/v1/veo/generate", body.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["data"]["taskId"].as_str().expect("taskId").to_string();
    assert!(id.starts_with("veo_task_"), "{id}");

    let (_, early) = get(&base, &format!("/api/v1/veo/get-1080p-video?taskId={id}&index=0")).await;
    assert_eq!(early["code"], 422, "not done yet: {early}");
    let record = settle(&base, "/api/v1/veo/record-info", &id).await;
    assert_eq!(record["successFlag"], 1);
    assert_eq!(serde_json::from_str::<Value>(record["paramJson"].as_str().expect("string")).expect("JSON"), body);
    let urls = record["response"]["resultUrls"].as_array().expect("array");
    assert_eq!(urls.len(), 1);
    assert!(record["response"]["originUrls"].is_array(), "9:16 has originUrls: {record}");
    let (mime, mp4) = fetch(urls[0].as_str().expect("url")).await;
    assert_eq!(mime, "video/mp4");
    assert_eq!(&mp4[4..8], b"ftyp", "a real mp4");

    for _ in 0..2 {
        let (_, pending) = get(&base, &format!("/api/v1/veo/get-1080p-video?taskId={id}&index=0")).await;
        assert_eq!(pending["code"], 400, "{pending}");
    }
    let (status, ready) = get(&base, &format!("/api/v1/veo/get-1080p-video?taskId={id}&index=0")).await;
    assert_eq!((status, ready["code"].clone()), (StatusCode::OK, json!(200)), "{ready}");
    let (mime, _) = fetch(ready["data"]["resultUrl"].as_str().expect("url")).await;
    assert_eq!(mime, "video/mp4");
    let stats = stats(&base).await;
    assert_eq!((stats["veo_generate"].as_u64(), stats["veo_1080p"].as_u64()), (Some(1), Some(4)));
    // Each API keeps its own tasks.
    let (status, _) = get(&base, &format!("/api/v1/jobs/recordInfo?taskId={id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn veo_failures_and_bad_requests() {
    let base = start(KieEmulatorConfig::default()).await;
    let (_, created) = post(&base, "/api/v1/veo/generate", json!({"prompt": "x"}), Some("generation_failed")).await;
    let id = created["data"]["taskId"].as_str().expect("taskId").to_string();
    let record = settle(&base, "/api/v1/veo/record-info", &id).await;
    assert_eq!((record["successFlag"].as_u64(), record["errorCode"].as_u64()), (Some(3), Some(501)));
    assert!(record["response"].is_null());
    let (status, bad) = post(&base, "/api/v1/veo/generate", json!({"model": "veo3"}), None).await;
    assert_eq!((status, bad["code"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(422)));
    assert!(bad["msg"].as_str().expect("msg").contains("prompt"), "{bad}");
    let (status, _) = post(&base, "/api/v1/veo/generate", json!({"prompt": "x"}), Some("status=402")).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn midjourney_makes_four_images_or_videos() {
    let base = start(KieEmulatorConfig::default()).await;
    let (_, created) =
        post(&base, "/api/v1/mj/generate", json!({"taskType": "mj_txt2img", "prompt": "a fox", "speed": "fast"}), None)
            .await;
    let id = created["data"]["taskId"].as_str().expect("taskId").to_string();
    assert!(id.starts_with("mj_task_"), "{id}");
    let record = settle(&base, "/api/v1/mj/record-info", &id).await;
    assert_eq!(record["taskType"], "mj_txt2img");
    let urls = record["resultInfoJson"]["resultUrls"].as_array().expect("objects");
    assert_eq!(urls.len(), 4);
    let (mime, png) = fetch(urls[3]["resultUrl"].as_str().expect("url")).await;
    assert_eq!(mime, "image/png");
    image::load_from_memory(&png).expect("a real image");

    let video = json!({"taskType": "mj_video", "prompt": "move", "fileUrls": ["https://e.com/a.png"],
        "videoBatchSize": 2, "motion": "low"});
    let (_, created) = post(&base, "/api/v1/mj/generate", video, None).await;
    let id = created["data"]["taskId"].as_str().expect("taskId").to_string();
    let record = settle(&base, "/api/v1/mj/record-info", &id).await;
    let urls = record["resultInfoJson"]["resultUrls"].as_array().expect("objects");
    assert_eq!(urls.len(), 2);
    assert_eq!(fetch(urls[1]["resultUrl"].as_str().expect("url")).await.0, "video/mp4");

    let (status, bad) =
        post(&base, "/api/v1/mj/generate", json!({"taskType": "mj_img2img", "prompt": "x"}), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["msg"].as_str().expect("msg").contains("fileUrls"), "{bad}");
    assert_eq!(stats(&base).await["mj_generate"], 3);
}

#[tokio::test]
async fn sora_2_market_tasks_make_videos() {
    let base = start(KieEmulatorConfig::default()).await;
    let body = json!({"model": "sora-2-pro-image-to-video", "input": {"prompt": "x", "image_urls": ["https://e/a.png"],
        "n_frames": "15", "aspect_ratio": "portrait", "size": "high", "remove_watermark": true}});
    let (status, created) = post(&base, "/api/v1/jobs/createTask", body, None).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["data"]["taskId"].as_str().expect("taskId").to_string();
    let mut record = Value::Null;
    for _ in 0..5 {
        record = get(&base, &format!("/api/v1/jobs/recordInfo?taskId={id}")).await.1["data"].clone();
        if record["state"] == "success" {
            break;
        }
    }
    let result: Value = serde_json::from_str(record["resultJson"].as_str().expect("string")).expect("JSON");
    let (mime, _) = fetch(result["resultUrls"][0].as_str().expect("url")).await;
    assert_eq!(mime, "video/mp4");
    let bad = json!({"model": "sora-2-text-to-video", "input": {"prompt": "x", "n_frames": 10}});
    let (status, answer) = post(&base, "/api/v1/jobs/createTask", bad, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer["msg"].as_str().expect("msg").contains("n_frames"), "{answer}");
}

#[tokio::test]
async fn uploads_by_stream_url_and_base64_are_served_back() {
    let base = start(KieEmulatorConfig { upload_age: Duration::from_secs(3600), ..Default::default() }).await;
    let png = fetch(&format!("{base}/__emulator/sample.png")).await.1;

    let encoded = base64::engine::general_purpose::STANDARD.encode(&png);
    let (status, b64) = post(
        &base,
        "/api/file-base64-upload",
        json!({"base64Data": format!("data:image/png;base64,{encoded}"), "uploadPath": "atelier/inputs", "fileName": "a.png"}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b64}");
    assert_eq!((b64["success"].clone(), b64["code"].clone()), (json!(true), json!(200)));
    assert_eq!(b64["data"]["mimeType"], "image/png");
    assert_eq!(b64["data"]["fileSize"], png.len());
    let uploaded =
        chrono::DateTime::parse_from_rfc3339(b64["data"]["uploadedAt"].as_str().expect("time")).expect("iso");
    let age = chrono::Utc::now().signed_duration_since(uploaded);
    assert!((3590..3610).contains(&age.num_seconds()), "uploadedAt follows upload_age: {age}");
    let (mime, bytes) = fetch(b64["data"]["downloadUrl"].as_str().expect("url")).await;
    assert_eq!((mime.as_str(), bytes), ("image/png", png.clone()));

    let (status, by_url) = post(
        &base,
        "/api/file-url-upload",
        json!({"fileUrl": format!("{base}/__emulator/sample.png"), "uploadPath": "atelier/inputs"}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{by_url}");
    assert_eq!(fetch(by_url["data"]["downloadUrl"].as_str().expect("url")).await.1, png);

    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(png.to_vec()).file_name("s.png").mime_str("image/png").expect("mime"),
        )
        .text("uploadPath", "atelier/inputs");
    let response = client()
        .post(format!("{base}/api/file-stream-upload"))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .expect("sent");
    let streamed: Value = response.json().await.expect("JSON");
    assert_eq!(streamed["data"]["fileName"], "s.png", "{streamed}");
    assert_eq!(fetch(streamed["data"]["downloadUrl"].as_str().expect("url")).await.1, png);

    let stats = stats(&base).await;
    assert_eq!(stats["uploads"], json!({"stream": 1, "url": 1, "base64": 1, "total": 3}));
}

#[tokio::test]
async fn upload_errors_have_the_upload_shape() {
    let base = start(KieEmulatorConfig { upload_age: Duration::from_secs(4 * 24 * 3600), ..Default::default() }).await;
    let cases = [
        ("/api/file-base64-upload", json!({"base64Data": "aGk=", "fileName": "a.txt"}), "uploadPath"),
        ("/api/file-base64-upload", json!({"base64Data": "@@@", "uploadPath": "x"}), "Base64"),
        ("/api/file-base64-upload", json!({"base64Data": "aGk=", "uploadPath": "/x/"}), "uploadPath"),
        ("/api/file-url-upload", json!({"uploadPath": "x"}), "fileUrl"),
        ("/api/file-url-upload", json!({"fileUrl": "http://127.0.0.1:9/nothing.png", "uploadPath": "x"}), "download"),
    ];
    for (path, body, word) in cases {
        let (status, answer) = post(&base, path, body.clone(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!((answer["success"].clone(), answer["code"].clone()), (json!(false), json!(400)));
        assert!(answer["msg"].as_str().expect("msg").contains(word), "{body}: {answer}");
    }
    let response = client()
        .post(format!("{base}/api/file-base64-upload"))
        .bearer_auth("wrong")
        .json(&json!({"base64Data": "aGk=", "uploadPath": "x"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(answer["success"], false);
    let (_, faulted) =
        post(&base, "/api/file-base64-upload", json!({"base64Data": "aGk=", "uploadPath": "x"}), Some("status=500"))
            .await;
    assert_eq!((faulted["success"].clone(), faulted["code"].clone()), (json!(false), json!(500)));
    // An upload older than 3 days is gone.
    let (_, old) = post(&base, "/api/file-base64-upload", json!({"base64Data": "aGk=", "uploadPath": "x"}), None).await;
    let expired = reqwest::get(old["data"]["downloadUrl"].as_str().expect("url")).await.expect("answered");
    assert_eq!(expired.status(), StatusCode::NOT_FOUND);
}

type Received = (reqwest::header::HeaderMap, Value);

async fn callback_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Received>();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let mut copied = reqwest::header::HeaderMap::new();
                for name in ["x-webhook-timestamp", "x-webhook-signature"] {
                    if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
                        copied.insert(name, value.parse().expect("header"));
                    }
                }
                let _ = tx.send((copied, body));
                "ok"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn veo_and_midjourney_callbacks_have_their_own_shapes_and_are_signed() {
    let (hook, mut received) = callback_receiver().await;
    let config = KieEmulatorConfig {
        webhook_hmac_key: Some("hook-secret".into()),
        callback_delay: Duration::from_millis(50),
        ..Default::default()
    };
    let base = start(config).await;
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("in time").expect("a callback")
    };
    let signed = |headers: &reqwest::header::HeaderMap, id: &str| {
        let timestamp = headers["x-webhook-timestamp"].to_str().expect("ascii");
        headers["x-webhook-signature"] == atelier_emulators::webhook_signature("hook-secret", id, timestamp).as_str()
    };

    let (_, veo) = post(&base, "/api/v1/veo/generate", json!({"prompt": "x", "callBackUrl": hook}), None).await;
    let veo_id = veo["data"]["taskId"].as_str().expect("id").to_string();
    let (headers, body) = next().await;
    assert_eq!((body["code"].as_u64(), body["data"]["taskId"].as_str()), (Some(200), Some(veo_id.as_str())));
    assert_eq!(body["data"]["info"]["resultUrls"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["data"]["fallbackFlag"], false);
    assert!(signed(&headers, &veo_id));

    let mj_body = json!({"taskType": "mj_txt2img", "prompt": "x", "callBackUrl": hook});
    let (_, mj) = post(&base, "/api/v1/mj/generate", mj_body, None).await;
    let mj_id = mj["data"]["taskId"].as_str().expect("id").to_string();
    let (headers, body) = next().await;
    assert_eq!((body["code"].as_u64(), body["data"]["taskId"].as_str()), (Some(200), Some(mj_id.as_str())));
    let urls = body["data"]["resultUrls"].as_array().expect("a plain array");
    assert!(urls.len() == 4 && urls.iter().all(Value::is_string), "{body}");
    assert!(body["data"]["promptJson"].is_string());
    assert!(signed(&headers, &mj_id));

    let (_, failed) =
        post(&base, "/api/v1/veo/generate", json!({"prompt": "x", "callBackUrl": hook}), Some("generation_failed"))
            .await;
    let (_, body) = next().await;
    assert_eq!(body["data"]["taskId"], failed["data"]["taskId"]);
    assert_eq!(body["code"], 501);
    assert!(body["data"].get("info").is_none());
}
