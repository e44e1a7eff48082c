//! The Kie emulator through HTTP: a bare router for auth, a real listener and
//! reqwest for everything else.

use std::time::{Duration, Instant};

use atelier_emulators::{KieEmulator, KieEmulatorConfig, parse_fault_rule};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tower::ServiceExt;

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

async fn create(base: &str, body: Value, fault: Option<&str>) -> reqwest::Response {
    let mut request = client().post(format!("{base}/api/v1/jobs/createTask")).bearer_auth(KEY).json(&body);
    if let Some(fault) = fault {
        request = request.header("X-Emulator-Fault", fault);
    }
    request.send().await.expect("createTask answered")
}

async fn poll(base: &str, task_id: &str) -> (StatusCode, Value) {
    let response = client()
        .get(format!("{base}/api/v1/jobs/recordInfo?taskId={task_id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("recordInfo answered");
    (response.status(), response.json().await.expect("recordInfo JSON"))
}

async fn json_of(response: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("JSON body"))
}

fn fast(prompt: &str) -> Value {
    json!({"model": "google/imagen4-fast", "input": {"prompt": prompt}})
}

async fn created_id(base: &str, body: Value, fault: Option<&str>) -> String {
    let (status, _, body) = json_of(create(base, body, fault).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["code"], 200);
    assert_eq!(body["msg"], "success");
    body["data"]["taskId"].as_str().expect("taskId").to_string()
}

async fn stats(base: &str) -> Value {
    client().get(format!("{base}/__emulator/stats")).send().await.expect("stats").json().await.expect("stats JSON")
}

#[tokio::test]
async fn requests_without_the_key_are_refused() {
    let router = KieEmulator::new(KieEmulatorConfig::default()).router();
    for auth in [None, Some("Bearer wrong-key"), Some("test-key")] {
        let mut request = Request::post("/api/v1/jobs/createTask").header("content-type", "application/json");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let request = request.body(Body::from(fast("a cat").to_string())).expect("request");
        let response = router.clone().oneshot(request).await.expect("answered");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body, json!({"code": 401, "msg": "You do not have access permissions"}));
    }
    let request =
        Request::get("/api/v1/chat/credit").header("authorization", format!("Bearer {KEY}")).body(Body::empty());
    let response = router.oneshot(request.expect("request")).await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_task_runs_to_success_and_its_urls_serve_pngs() {
    let base = start(KieEmulatorConfig::default()).await;
    let body = json!({"model": "google/imagen4-fast",
        "input": {"prompt": "a red fox", "aspect_ratio": "1:1", "num_images": "2", "seed": 7}});
    let id = created_id(&base, body.clone(), None).await;
    assert!(id.starts_with("task_google_"), "{id}");

    let mut states = Vec::new();
    let record = loop {
        let (status, record) = poll(&base, &id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(record["code"], 200);
        let data = record["data"].clone();
        states.push(data["state"].as_str().expect("state").to_string());
        if data["state"] == "success" || states.len() > 5 {
            break data;
        }
        assert_eq!(data["resultJson"], "");
        assert!(data["costTime"].is_null());
    };
    assert_eq!(states, ["waiting", "generating", "success"]);
    assert_eq!(record["taskId"], id.as_str());
    assert_eq!(record["model"], "google/imagen4-fast");
    assert_eq!(record["failCode"], "");
    assert_eq!(record["failMsg"], "");
    let param: Value = serde_json::from_str(record["param"].as_str().expect("param is a string")).expect("param JSON");
    assert_eq!(param, body);
    for field in ["costTime", "completeTime", "createTime", "updateTime"] {
        assert!(record[field].is_i64(), "{field}: {record}");
    }
    assert!(record["createTime"].as_i64() > Some(1_700_000_000_000), "milliseconds");

    let result: Value =
        serde_json::from_str(record["resultJson"].as_str().expect("resultJson is a string")).expect("resultJson JSON");
    let urls = result["resultUrls"].as_array().expect("resultUrls");
    assert_eq!(urls.len(), 2);
    for url in urls {
        let url = url.as_str().expect("url");
        assert!(url.starts_with(&base), "{url} is under the listener's address");
        let response = reqwest::get(url).await.expect("file");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/png");
        let png = response.bytes().await.expect("bytes");
        let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("a PNG");
        assert_eq!((image.width(), image.height()), (512, 512));
    }
    let missing = reqwest::get(format!("{base}/files/{id}/2.png")).await.expect("file");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let stats = stats(&base).await;
    assert_eq!(stats["create_task"], 1);
    assert_eq!(stats["tasks_created"], 1);
    assert_eq!(stats["record_info_by_task"][&id], 3);
    assert_eq!(stats["files"], 3);
}

#[tokio::test]
async fn tasks_are_unfinished_until_polled_when_a_public_base_is_set() {
    let config = KieEmulatorConfig {
        public_base_url: Some("https://files.example/".into()),
        steps_to_finish: 0,
        ..Default::default()
    };
    let base = start(config).await;
    let id = created_id(&base, json!({"model": "google/imagen4-ultra", "input": {"prompt": "x"}}), None).await;
    let unfinished = reqwest::get(format!("{base}/files/{id}/0.png")).await.expect("file");
    assert_eq!(unfinished.status(), StatusCode::NOT_FOUND);
    let (_, record) = poll(&base, &id).await;
    assert_eq!(record["data"]["state"], "success");
    let result: Value = serde_json::from_str(record["data"]["resultJson"].as_str().expect("string")).expect("JSON");
    assert_eq!(result, json!({"resultUrls": [format!("https://files.example/files/{id}/0.png")]}));
}

#[tokio::test]
async fn invalid_requests_name_the_field() {
    let base = start(KieEmulatorConfig::default()).await;
    let cases = [
        (json!({"model": "google/imagen4-fast", "input": {"prompt": "x", "num_images": 2}}), "num_images"),
        (json!({"model": "google/imagen4-fast", "input": {"prompt": "x", "num_images": "5"}}), "num_images"),
        (json!({"model": "google/imagen4-fast", "input": {"prompt": "x", "aspect_ratio": "auto"}}), "aspect_ratio"),
        (json!({"model": "google/imagen4", "input": {"prompt": "x", "seed": 3}}), "seed"),
        (json!({"model": "google/imagen4", "input": {"negative_prompt": "x"}}), "prompt"),
        (json!({"model": "google/imagen5", "input": {"prompt": "x"}}), "model"),
        (json!({"input": {"prompt": "x"}}), "model"),
        (json!({"model": "google/imagen4"}), "input"),
    ];
    for (body, field) in cases {
        let (status, _, answer) = json_of(create(&base, body.clone(), None).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer["code"], 422);
        assert!(answer["msg"].as_str().expect("msg").contains(field), "{body} → {answer}");
    }

    let response = client().get(format!("{base}/api/v1/jobs/recordInfo")).bearer_auth(KEY).send().await.expect("sent");
    let (status, _, answer) = json_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer, json!({"code": 400, "msg": "taskId parameter is required"}));
    let (status, answer) = poll(&base, "task_google_0_0").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer, json!({"code": 404, "msg": "Task not found"}));
    assert_eq!(stats(&base).await["tasks_created"], 0);
}

#[tokio::test]
async fn credits_run_out_with_402() {
    let base = start(KieEmulatorConfig { credits: 10.0, ..Default::default() }).await;
    created_id(&base, fast("one"), None).await;
    created_id(&base, fast("two"), None).await;
    let (status, _, answer) = json_of(create(&base, fast("three"), None).await).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(answer, json!({"code": 402, "msg": "Insufficient credits"}));
    let credit = client().get(format!("{base}/api/v1/chat/credit")).bearer_auth(KEY).send().await.expect("credit");
    let (status, _, answer) = json_of(credit).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"code": 200, "msg": "success", "data": 2}));
}

#[tokio::test]
async fn the_twenty_first_create_in_ten_seconds_is_rate_limited() {
    let base = start(KieEmulatorConfig::default()).await;
    for n in 0..20 {
        created_id(&base, fast(&format!("n{n}")), None).await;
    }
    let (status, _, answer) = json_of(create(&base, fast("one too many"), None).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer["code"], 429);
    assert!(answer["msg"].as_str().expect("msg").starts_with("Rate limit exceeded"));
    assert_eq!(stats(&base).await["tasks_created"], 20);
}

#[tokio::test]
async fn polls_beyond_ten_a_second_are_rate_limited() {
    let base = start(KieEmulatorConfig { steps_to_finish: 100, ..Default::default() }).await;
    let id = created_id(&base, fast("x"), None).await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(poll(&base, &id).await.0);
    }
    assert!(statuses[..10].iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn header_faults_latency_timeout_and_reset() {
    let config = KieEmulatorConfig { timeout_fault_duration: Duration::from_secs(3), ..Default::default() };
    let base = start(config).await;

    let started = Instant::now();
    created_id(&base, fast("slow"), Some("latency=300")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");
    let error = impatient
        .post(format!("{base}/api/v1/jobs/createTask"))
        .bearer_auth(KEY)
        .header("X-Emulator-Fault", "timeout")
        .json(&fast("lost answer"))
        .send()
        .await
        .expect_err("times out");
    assert!(error.is_timeout(), "{error:?}");

    let error = client()
        .post(format!("{base}/api/v1/jobs/createTask"))
        .bearer_auth(KEY)
        .header("X-Emulator-Fault", "reset")
        .json(&fast("never seen"))
        .send()
        .await
        .expect_err("connection dropped");
    assert!(!error.is_timeout() && error.status().is_none(), "{error:?}");

    let stats = stats(&base).await;
    assert_eq!(stats["create_task"], 3);
    // The timed-out create was handled (its answer was lost); the reset one was not.
    assert_eq!(stats["tasks_created"], 2);
    assert_eq!(stats["faults_injected"], json!({"latency": 1, "timeout": 1, "reset": 1}));
}

#[tokio::test]
async fn header_faults_statuses_and_malformed_bodies() {
    let base = start(KieEmulatorConfig::default()).await;
    let (status, headers, answer) =
        json_of(create(&base, fast("x"), Some("status=429,retry_after_seconds=5")).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer["code"], 429);
    assert_eq!(headers["retry-after"], "5");

    let (status, headers, answer) = json_of(create(&base, fast("x"), Some("status=429")).await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer["code"], 429);
    assert!(!headers.contains_key("retry-after"));

    for code in [401u16, 402, 404, 422, 455, 500, 501, 505] {
        let (status, _, answer) = json_of(create(&base, fast("x"), Some(&format!("status={code}"))).await).await;
        assert_eq!(status.as_u16(), code);
        assert_eq!(answer["code"], code);
        assert!(answer["msg"].is_string());
    }

    let response = create(&base, fast("x"), Some("malformed")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("body");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    let (status, _, answer) = json_of(create(&base, fast("x"), Some("explode")).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["msg"].as_str().expect("msg").contains("x-emulator-fault"), "{answer}");

    let stats = stats(&base).await;
    // Status faults reject before handling; the malformed answer hides a created task.
    assert_eq!(stats["tasks_created"], 1);
}

#[tokio::test]
async fn task_faults_fail_or_never_finish() {
    let config = KieEmulatorConfig { record_info_rate_limit: None, credits: 100.0, ..Default::default() };
    let base = start(config).await;
    let failed = created_id(&base, fast("doomed"), Some("generation_failed")).await;
    let stuck = created_id(&base, fast("stuck"), Some("never_finish")).await;
    let late = created_id(&base, fast("fails when polled"), None).await;

    let mut states = Vec::new();
    for _ in 0..3 {
        let (status, record) = poll(&base, &failed).await;
        assert_eq!(status, StatusCode::OK);
        states.push(record["data"]["state"].clone());
        if record["data"]["state"] == "fail" {
            assert_eq!(record["data"]["failCode"], "500");
            assert_eq!(record["data"]["failMsg"], "Internal server error");
            assert_eq!(record["data"]["resultJson"], "");
        }
    }
    assert_eq!(states, [json!("waiting"), json!("generating"), json!("fail")]);

    for _ in 0..20 {
        let (_, record) = poll(&base, &stuck).await;
        assert_ne!(record["data"]["state"], "success");
    }
    let (_, record) = poll(&base, &stuck).await;
    assert_eq!(record["data"]["state"], "generating");

    // A task fault sent with a poll marks that task.
    let client = client();
    let mut last = Value::Null;
    for _ in 0..3 {
        last = client
            .get(format!("{base}/api/v1/jobs/recordInfo?taskId={late}"))
            .bearer_auth(KEY)
            .header("X-Emulator-Fault", "generation_failed")
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("JSON");
    }
    assert_eq!(last["data"]["state"], "fail");

    // Failed tasks are refunded: 100 - 3·4 + 2·4.
    let credit: Value = client
        .get(format!("{base}/api/v1/chat/credit"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("credit")
        .json()
        .await
        .expect("JSON");
    assert_eq!(credit["data"], 96);
}

#[tokio::test]
async fn planned_faults_fire_by_count() {
    let config = KieEmulatorConfig {
        faults: atelier_emulators::FaultPlan::none()
            .with(parse_fault_rule("createTask:every=2:status=500").expect("rule"))
            .with(parse_fault_rule("recordInfo:first=1:reset").expect("rule")),
        ..Default::default()
    };
    let base = start(config).await;
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for n in 0..4 {
            statuses.push(create(&base, fast(&format!("n{n}")), None).await.status().as_u16());
        }
        statuses
    };
    assert_eq!(statuses, [200, 500, 200, 500]);
    assert_eq!(create(&base, fast("fifth"), None).await.status(), StatusCode::OK);
    // The sixth would fail by the plan, but the header wins.
    assert_eq!(create(&base, fast("sixth"), Some("latency=1")).await.status(), StatusCode::OK);
    let id = created_id(&base, fast("ok"), None).await;

    let first = client().get(format!("{base}/api/v1/jobs/recordInfo?taskId={id}")).bearer_auth(KEY).send().await;
    assert!(first.is_err(), "the first poll is reset");
    let (status, _) = poll(&base, &id).await;
    assert_eq!(status, StatusCode::OK);
}

type Received = (HeaderMap, Value);

async fn callback_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Received>();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

fn verify(key: &str, headers: &HeaderMap, task_id: &str) -> bool {
    let timestamp = headers["x-webhook-timestamp"].to_str().expect("timestamp");
    let signature = headers["x-webhook-signature"].to_str().expect("signature");
    let signature = base64::engine::general_purpose::STANDARD.decode(signature).expect("base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(format!("{task_id}.{timestamp}").as_bytes());
    mac.verify_slice(&signature).is_ok()
}

#[tokio::test]
async fn callbacks_are_signed_and_sent_once() {
    let (hook, mut received) = callback_receiver().await;
    let config = KieEmulatorConfig {
        webhook_hmac_key: Some("hook-secret".into()),
        callback_delay: Duration::from_millis(100),
        credits: 50.0,
        ..Default::default()
    };
    let base = start(config).await;
    let id =
        created_id(&base, json!({"model": "google/imagen4", "callBackUrl": hook, "input": {"prompt": "signed"}}), None)
            .await;
    let (headers, body) =
        tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("in time").expect("a callback");
    assert_eq!(body["code"], 200);
    assert_eq!(body["msg"], "Playground task completed successfully.");
    assert_eq!(body["data"]["taskId"], id.as_str());
    assert_eq!(body["data"]["state"], "success");
    assert_eq!(body["data"]["consumeCredits"], 8);
    assert_eq!(body["data"]["remainedCredits"], 42);
    let result: Value = serde_json::from_str(body["data"]["resultJson"].as_str().expect("string")).expect("JSON");
    assert_eq!(result["resultUrls"].as_array().map(Vec::len), Some(1));
    let timestamp: i64 = headers["x-webhook-timestamp"].to_str().expect("ascii").parse().expect("seconds");
    assert!((timestamp - body["data"]["completeTime"].as_i64().expect("ms") / 1000).abs() <= 2);
    assert!(verify("hook-secret", &headers, &id));
    assert!(!verify("other-secret", &headers, &id));

    // Polling after the callback finds success and sends nothing more.
    let (_, record) = poll(&base, &id).await;
    assert_eq!(record["data"]["state"], "success");

    let failed = created_id(
        &base,
        json!({"model": "google/imagen4-fast", "callBackUrl": hook, "input": {"prompt": "doomed"}}),
        Some("generation_failed"),
    )
    .await;
    let (headers, body) =
        tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("in time").expect("a callback");
    assert_eq!(body["code"], 501);
    assert_eq!(body["data"]["state"], "fail");
    assert_eq!(body["data"]["failCode"], "500");
    assert_eq!(body["data"]["consumeCredits"], 0);
    assert!(verify("hook-secret", &headers, &failed));

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(received.try_recv().is_err(), "one callback per task");
    assert_eq!(stats(&base).await["callbacks_sent"], 2);
}

#[tokio::test]
async fn unsigned_callbacks_and_unreachable_hooks() {
    let (hook, mut received) = callback_receiver().await;
    let config = KieEmulatorConfig { callback_delay: Duration::from_secs(60), ..Default::default() };
    let base = start(config).await;
    let id = created_id(
        &base,
        json!({"model": "google/imagen4-ultra", "callBackUrl": hook, "input": {"prompt": "polled"}}),
        None,
    )
    .await;
    // Polls finish the task before the timer does; the callback follows at once.
    for _ in 0..3 {
        poll(&base, &id).await;
    }
    let (headers, body) =
        tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("in time").expect("a callback");
    assert_eq!(body["data"]["taskId"], id.as_str());
    assert!(!headers.contains_key("x-webhook-signature"));

    let id = created_id(
        &base,
        json!({"model": "google/imagen4-ultra", "callBackUrl": "http://127.0.0.1:1/nowhere", "input": {"prompt": "x"}}),
        None,
    )
    .await;
    for _ in 0..3 {
        poll(&base, &id).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats(&base).await["callbacks_failed"] != 1 {
        assert!(Instant::now() < deadline, "the failed delivery is counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
