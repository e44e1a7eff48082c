//! The VolcEngine emulator through HTTP: its signature checks (requests are
//! signed here by a small signer written from the protocol notes 4.2, not the
//! emulator's code), CVProcess, the submit/poll flow, the parameter checks,
//! business-code and task faults, the QPS limit and the stats.

use std::time::{Duration, Instant};

use atelier_emulators::volcengine::{FaultPlan, VolcEngineEmulator, VolcEngineEmulatorConfig, parse_fault_rule};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

const AK: &str = "test-ak";
const SK: &str = "test-sk";
const PROCESS: &str = "CVProcess";
const SUBMIT: &str = "CVSync2AsyncSubmitTask";
const GET_RESULT: &str = "CVSync2AsyncGetResult";

// ---- A signer, following the protocol notes 4.2 step by step. ----

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Percent-encodes all but `A-Z a-z 0-9 - _ . ~`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// How a request is signed (and what is sent besides).
#[derive(Clone)]
struct Sign {
    ak: String,
    sk: String,
    x_date: String,
    /// Sign this body but send the request's.
    signed_body: Option<Vec<u8>>,
    /// Sends this header without signing it.
    unsigned: Option<&'static str>,
    /// An `X-Emulator-Fault` header, added after signing.
    fault: Option<String>,
}

impl Default for Sign {
    fn default() -> Self {
        Self {
            ak: AK.into(),
            sk: SK.into(),
            x_date: x_date(chrono::Utc::now()),
            signed_body: None,
            unsigned: None,
            fault: None,
        }
    }
}

fn x_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The headers to send for `POST /?<query>` with `body` to `host`.
fn signed_headers(sign: &Sign, host: &str, query: &[(&str, &str)], body: &[u8]) -> Vec<(String, String)> {
    let body_hash = sha256_hex(sign.signed_body.as_deref().unwrap_or(body));
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json".into()),
        ("host".into(), host.into()),
        ("x-content-sha256".into(), body_hash.clone()),
        ("x-date".into(), sign.x_date.clone()),
    ];
    headers.sort();
    let signed: Vec<&(String, String)> =
        headers.iter().filter(|(name, _)| Some(name.as_str()) != sign.unsigned).collect();
    let names: Vec<&str> = signed.iter().map(|(name, _)| name.as_str()).collect();
    let mut pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    let canonical_query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical_headers: String = signed.iter().map(|(name, value)| format!("{name}:{value}\n")).collect();
    let canonical =
        format!("POST\n/\n{}\n{canonical_headers}\n{}\n{body_hash}", canonical_query.join("&"), names.join(";"));
    let date = &sign.x_date[..8];
    let scope = format!("{date}/cn-north-1/cv/request");
    let string_to_sign = format!("HMAC-SHA256\n{}\n{scope}\n{}", sign.x_date, sha256_hex(canonical.as_bytes()));
    let key = hmac(&hmac(&hmac(&hmac(sign.sk.as_bytes(), date), "cn-north-1"), "cv"), "request");
    let signature = hex(&hmac(&key, &string_to_sign));
    let authorization =
        format!("HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}", sign.ak, names.join(";"));
    let mut sent: Vec<(String, String)> = headers.into_iter().filter(|(name, _)| name != "host").collect();
    sent.push(("authorization".into(), authorization));
    sent
}

// ---- The emulator and a client. ----

struct Emulator {
    base: String,
    host: String,
    http: reqwest::Client,
}

async fn start(faults: &[&str], tweak: impl FnOnce(&mut VolcEngineEmulatorConfig)) -> Emulator {
    let mut plan = FaultPlan::none();
    for rule in faults {
        plan = plan.with(parse_fault_rule(rule).expect("rule"));
    }
    let mut config =
        VolcEngineEmulatorConfig { faults: plan, timeout_fault_duration: Duration::from_secs(5), ..Default::default() };
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let host = listener.local_addr().expect("address").to_string();
    tokio::spawn(VolcEngineEmulator::new(config).serve(listener));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    Emulator { base: format!("http://{host}"), host, http }
}

impl Emulator {
    async fn send(
        &self,
        action: &str,
        version: &str,
        body: Vec<u8>,
        sign: &Sign,
    ) -> reqwest::Result<reqwest::Response> {
        let query = [("Action", action), ("Version", version)];
        let mut request = self.http.post(format!("{}/?Action={action}&Version={version}", self.base));
        for (name, value) in signed_headers(sign, &self.host, &query, &body) {
            request = request.header(name, value);
        }
        if let Some(fault) = &sign.fault {
            request = request.header("X-Emulator-Fault", fault);
        }
        request.body(body).send().await
    }

    async fn call_with(&self, action: &str, body: &Value, sign: &Sign) -> (u16, Value) {
        let response = self.send(action, "2022-08-31", body.to_string().into_bytes(), sign).await.expect("answered");
        json_of(response).await
    }

    async fn call(&self, action: &str, body: &Value) -> (u16, Value) {
        self.call_with(action, body, &Sign::default()).await
    }

    async fn with_fault(&self, action: &str, body: &Value, fault: &str) -> (u16, Value) {
        self.call_with(action, body, &Sign { fault: Some(fault.to_owned()), ..Sign::default() }).await
    }

    async fn submit(&self, body: Value, fault: Option<&str>) -> String {
        let (status, answer) =
            self.call_with(SUBMIT, &body, &Sign { fault: fault.map(str::to_owned), ..Sign::default() }).await;
        assert_eq!((status, answer["code"].as_u64()), (200, Some(10000)), "{answer}");
        answer["data"]["task_id"].as_str().expect("task_id").to_owned()
    }

    async fn poll(&self, req_key: &str, task_id: &str, req_json: Option<Value>) -> (u16, Value) {
        let mut body = json!({ "req_key": req_key, "task_id": task_id });
        if let Some(options) = req_json {
            body["req_json"] = json!(options.to_string());
        }
        self.call(GET_RESULT, &body).await
    }

    async fn png(&self, url: &str) -> image::DynamicImage {
        let response = self.http.get(url).send().await.expect("download");
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()["content-type"], "image/png");
        let bytes = response.bytes().await.expect("bytes");
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).expect("a PNG")
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

fn decode_png(b64: &Value) -> image::DynamicImage {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("base64 string")).expect("base64");
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).expect("a PNG")
}

fn size_of(image: &image::DynamicImage) -> (u32, u32) {
    (image.width(), image.height())
}

/// The business envelope's common fields.
fn assert_envelope(answer: &Value, code: u64) {
    assert_eq!(answer["code"], code, "{answer}");
    assert_eq!(answer["status"], code, "{answer}");
    let id = answer["request_id"].as_str().expect("request_id");
    assert!(id.len() >= 20 && id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
    assert!(answer["time_elapsed"].as_str().is_some_and(|t| t.ends_with('s')), "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
}

// ---- Tests. ----

#[tokio::test]
async fn a_signed_cv_process_answers_pngs_of_the_asked_size() {
    let emulator = start(&[], |_| {}).await;
    let body = json!({ "req_key": "high_aes_general_v30l_zt2i", "prompt": "a red fox", "width": 640, "height": 512 });
    let (status, answer) = emulator.call(PROCESS, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_envelope(&answer, 10000);
    assert_eq!(answer["message"], "Success");
    assert_eq!(answer["data"]["image_urls"], Value::Null);
    let images = answer["data"]["binary_data_base64"].as_array().expect("base64 images");
    assert_eq!(images.len(), 1);
    assert_eq!(size_of(&decode_png(&images[0])), (640, 512));

    // return_url: the emulator serves the files itself.
    let mut with_url = body.clone();
    with_url["return_url"] = json!(true);
    with_url["logo_info"] = json!({ "add_logo": true, "position": 0, "language": 1, "opacity": 0.8 });
    let (status, answer) = emulator.call(PROCESS, &with_url).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["binary_data_base64"], Value::Null);
    let url = answer["data"]["image_urls"][0].as_str().expect("a URL");
    assert!(url.starts_with(&emulator.base), "{url}");
    assert_eq!(size_of(&emulator.png(url).await), (640, 512));

    // General 2.1 draws 512×512 by default.
    let (status, answer) = emulator
        .call(
            PROCESS,
            &json!({ "req_key": "high_aes_general_v21_L", "prompt": "fox", "model_version": "general_v2.1_L" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(size_of(&decode_png(&answer["data"]["binary_data_base64"][0])), (512, 512));

    let stats = emulator.stats().await;
    assert_eq!((stats["cv_process"].as_u64(), stats["files"].as_u64()), (Some(3), Some(1)));
    assert_eq!(stats["logos_requested"], 1);
    assert_eq!(stats["by_req_key"]["high_aes_general_v30l_zt2i"], 2);
    assert_eq!(stats["signature_failures"], 0);
}

#[tokio::test]
async fn signature_problems_answer_the_gateway_error() {
    let emulator = start(&[], |_| {}).await;
    let body = json!({ "req_key": "high_aes_general_v30l_zt2i", "prompt": "fox", "width": 512, "height": 512 });
    let now = chrono::Utc::now();
    let cases = [
        (Sign { sk: "wrong-sk".into(), ..Sign::default() }, "SignatureDoesNotMatch"),
        (Sign { ak: "other-ak".into(), ..Sign::default() }, "InvalidAccessKey"),
        (Sign { x_date: x_date(now - chrono::Duration::minutes(20)), ..Sign::default() }, "InvalidTimestamp"),
        (Sign { x_date: x_date(now + chrono::Duration::minutes(20)), ..Sign::default() }, "InvalidTimestamp"),
        (Sign { signed_body: Some(b"{\"prompt\":\"signed\"}".to_vec()), ..Sign::default() }, "SignatureDoesNotMatch"),
        (Sign { unsigned: Some("x-content-sha256"), ..Sign::default() }, "SignatureDoesNotMatch"),
    ];
    for (sign, code) in &cases {
        let (status, answer) = emulator.call_with(PROCESS, &body, sign).await;
        assert_eq!(status, 401, "{code}: {answer}");
        let metadata = &answer["ResponseMetadata"];
        assert_eq!(metadata["Error"]["Code"], *code, "{answer}");
        assert!(metadata["Error"]["CodeN"].as_u64().is_some_and(|n| n >= 100000), "{answer}");
        assert!(metadata["Error"]["Message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(metadata["RequestId"].as_str().is_some_and(|id| !id.is_empty()));
        assert_eq!(
            (&metadata["Action"], &metadata["Version"], &metadata["Service"], &metadata["Region"]),
            (&json!("CVProcess"), &json!("2022-08-31"), &json!("cv"), &json!("cn-north-1"))
        );
        assert!(answer.get("code").is_none(), "not a business envelope");
    }
    let (_, mismatch) = emulator.call_with(PROCESS, &body, &cases[0].0).await;
    assert_eq!(mismatch["ResponseMetadata"]["Error"]["CodeN"], 100010);

    // No Authorization at all.
    let response = emulator
        .http
        .post(format!("{}/?Action=CVProcess&Version=2022-08-31", emulator.base))
        .json(&body)
        .send()
        .await
        .expect("answered");
    let (status, answer) = json_of(response).await;
    assert_eq!(status, 401);
    assert_eq!(answer["ResponseMetadata"]["Error"]["Code"], "MissingAuthenticationToken");

    // Ten minutes of skew is still fine.
    let (status, answer) = emulator
        .call_with(PROCESS, &body, &Sign { x_date: x_date(now - chrono::Duration::minutes(10)), ..Sign::default() })
        .await;
    assert_eq!(status, 200, "{answer}");

    let stats = emulator.stats().await;
    assert_eq!(stats["signature_failures"], 8);
    assert_eq!(stats["signature_failure_codes"]["InvalidTimestamp"], 2);
    assert_eq!(stats["cv_process"], 9);
}

#[tokio::test]
async fn an_async_task_goes_in_queue_then_generating_then_done() {
    let emulator = start(&[], |_| {}).await;
    let task_id = emulator
        .submit(
            json!({ "req_key": "jimeng_t2i_v40", "prompt": "a lighthouse", "width": 1024, "height": 1024, "force_single": true }),
            None,
        )
        .await;
    assert!(task_id.len() >= 19 && task_id.chars().all(|c| c.is_ascii_digit()), "{task_id}");

    let mut seen = Vec::new();
    for _ in 0..2 {
        let (status, answer) = emulator.poll("jimeng_t2i_v40", &task_id, None).await;
        assert_eq!(status, 200, "{answer}");
        assert_envelope(&answer, 10000);
        assert_eq!(
            (&answer["data"]["binary_data_base64"], &answer["data"]["image_urls"]),
            (&Value::Null, &Value::Null)
        );
        seen.push(answer["data"]["status"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(seen, ["in_queue", "generating"]);

    let (status, answer) = emulator.poll("jimeng_t2i_v40", &task_id, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["status"], "done");
    assert_eq!(answer["data"]["image_urls"], Value::Null);
    let images = answer["data"]["binary_data_base64"].as_array().expect("base64 images");
    assert_eq!(images.len(), 1, "force_single");
    assert_eq!(size_of(&decode_png(&images[0])), (1024, 1024));

    // The same task, asked for URLs (with a logo and AIGC metadata).
    let options = json!({
        "return_url": true,
        "logo_info": { "add_logo": true, "position": 2, "language": 0, "opacity": 1, "logo_text_content": "AI" },
        "aigc_meta": { "producer_id": "atelier-1", "content_producer": "atelier" },
    });
    let (status, answer) = emulator.poll("jimeng_t2i_v40", &task_id, Some(options)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["data"]["status"].as_str(), &answer["data"]["binary_data_base64"]),
        (Some("done"), &Value::Null)
    );
    let url = answer["data"]["image_urls"][0].as_str().expect("a URL");
    assert_eq!(size_of(&emulator.png(url).await), (1024, 1024));

    let stats = emulator.stats().await;
    assert_eq!(stats["task_states"][&task_id], "done");
    assert_eq!(
        (stats["submit_task"].as_u64(), stats["get_result"].as_u64(), stats["files"].as_u64()),
        (Some(1), Some(4), Some(1))
    );
    assert_eq!((stats["tasks_created"].as_u64(), stats["logos_requested"].as_u64()), (Some(1), Some(1)));
    assert_eq!(stats["aigc_meta_requested"], 1);
}

#[tokio::test]
async fn jimeng_40_may_answer_several_images_and_other_async_keys_their_sizes() {
    let emulator = start(&[], |config| config.steps_to_finish = 0).await;
    let task_id =
        emulator.submit(json!({ "req_key": "jimeng_t2i_v40", "prompt": "four seasons", "size": 1048576 }), None).await;
    let (status, answer) = emulator.poll("jimeng_t2i_v40", &task_id, Some(json!({ "return_url": true }))).await;
    assert_eq!((status, answer["data"]["status"].as_str()), (200, Some("done")), "{answer}");
    let urls = answer["data"]["image_urls"].as_array().expect("URLs");
    assert!((1..=4).contains(&urls.len()), "{answer}");
    for url in urls {
        assert_eq!(size_of(&emulator.png(url.as_str().expect("url")).await), (1024, 1024), "a square of side √size");
    }
    // The same request gets the same count.
    let again =
        emulator.submit(json!({ "req_key": "jimeng_t2i_v40", "prompt": "four seasons", "size": 1048576 }), None).await;
    let (_, answer) = emulator.poll("jimeng_t2i_v40", &again, Some(json!({ "return_url": true }))).await;
    assert_eq!(answer["data"]["image_urls"].as_array().map(Vec::len), Some(urls.len()));

    for (body, size) in [
        (json!({ "req_key": "jimeng_t2i_v31", "prompt": "x", "width": 768, "height": 512, "seed": 7 }), (768, 512)),
        (
            json!({ "req_key": "jimeng_t2i_v30", "prompt": "x", "use_pre_llm": false, "width": 512, "height": 1024 }),
            (512, 1024),
        ),
        (json!({ "req_key": "high_aes_general_v20_L", "prompt": "x", "model_version": "general_v2.0_L" }), (512, 512)),
    ] {
        let req_key = body["req_key"].as_str().expect("req_key").to_owned();
        let task_id = emulator.submit(body, None).await;
        let (status, answer) = emulator.poll(&req_key, &task_id, None).await;
        assert_eq!((status, answer["data"]["status"].as_str()), (200, Some("done")), "{req_key}: {answer}");
        assert_eq!(size_of(&decode_png(&answer["data"]["binary_data_base64"][0])), size, "{req_key}");
    }
}

#[tokio::test]
async fn unknown_and_forgotten_tasks_are_not_found() {
    let emulator = start(&[], |config| config.task_ttl = Duration::from_millis(400)).await;
    let not_found = |answer: &Value| {
        assert_envelope(answer, 10000);
        assert_eq!(answer["data"], json!({ "binary_data_base64": null, "image_urls": null, "status": "not_found" }));
    };
    let (status, answer) = emulator.poll("jimeng_t2i_v40", "7000000000000000001", None).await;
    assert_eq!(status, 200);
    not_found(&answer);

    let task_id = emulator.submit(json!({ "req_key": "jimeng_t2i_v30", "prompt": "x" }), None).await;
    let (_, answer) = emulator.poll("jimeng_t2i_v31", &task_id, None).await;
    not_found(&answer);
    let (_, answer) = emulator.poll("jimeng_t2i_v30", &task_id, None).await;
    assert_eq!(answer["data"]["status"], "in_queue");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, answer) = emulator.poll("jimeng_t2i_v30", &task_id, None).await;
    not_found(&answer);
    assert_eq!(emulator.stats().await["task_states"], json!({}));
}

#[tokio::test]
async fn business_code_faults_answer_their_status_and_envelope() {
    let emulator = start(&["submit_task:first=1:status=50429,retry_after_seconds=2"], |_| {}).await;
    let body = json!({ "req_key": "high_aes_general_v30l_zt2i", "prompt": "fox", "width": 512, "height": 512 });
    let table = [
        (50411, 400, "Pre Img Risk Not Pass"),
        (50511, 400, "Post Img Risk Not Pass"),
        (50412, 400, "Text Risk Not Pass"),
        (50512, 400, "Post Text Risk Not Pass"),
        (50413, 400, "Post Text Risk Not Pass"),
        (50516, 400, "Post Video Risk Not Pass"),
        (50517, 400, "Post Audio Risk Not Pass"),
        (50518, 400, "Pre Img Risk Not Pass: Copyright"),
        (50519, 400, "Post Img Risk Not Pass: Copyright"),
        (50520, 400, "Risk Internal Error"),
        (50521, 400, "Antidirt Internal Error"),
        (50522, 400, "Image Copyright Internal Error"),
        (50429, 429, "Request Has Reached API Limit, Please Try Later"),
        (50430, 429, "Request Has Reached API Concurrent Limit, Please Try Later"),
        (50500, 500, "Internal Error"),
        (50501, 500, "Internal RPC Error"),
        (50400, 400, "Access Denied"),
    ];
    for (code, http, message) in table {
        let (status, answer) = emulator.with_fault(PROCESS, &body, &format!("status={code}")).await;
        assert_eq!(status, http, "{code}: {answer}");
        assert_envelope(&answer, code);
        assert_eq!((&answer["data"], answer["message"].as_str()), (&Value::Null, Some(message)), "{code}");
    }

    // From the plan, with Retry-After.
    let submit = json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "width": 1024, "height": 1024 });
    let response =
        emulator.send(SUBMIT, "2022-08-31", submit.to_string().into_bytes(), &Sign::default()).await.expect("answered");
    assert_eq!(response.headers()["retry-after"], "2");
    let (status, answer) = json_of(response).await;
    assert_eq!((status, answer["code"].as_u64()), (429, Some(50429)));
    assert!(answer["data"].is_null(), "no task_id when the code is not 10000");
    emulator.submit(submit, None).await;

    // A fault header that does not parse.
    let (status, answer) = emulator.with_fault(PROCESS, &body, "status=500").await;
    assert_eq!((status, answer["code"].as_u64()), (400, Some(50215)), "{answer}");

    let stats = emulator.stats().await;
    assert_eq!(stats["faults_injected"]["status"], table.len() as u64 + 1);
}

#[tokio::test]
async fn task_faults_fail_stick_or_expire() {
    let emulator = start(&[], |_| {}).await;
    let body =
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "width": 1024, "height": 1024, "force_single": true });

    let failing = emulator.submit(body.clone(), Some("generation_failed")).await;
    let mut last = (0, Value::Null);
    for _ in 0..3 {
        last = emulator.poll("jimeng_t2i_v40", &failing, None).await;
    }
    let (status, answer) = last;
    assert_eq!(status, 400, "{answer}");
    assert_envelope(&answer, 50511);
    assert_eq!(answer["message"], "Post Img Risk Not Pass");
    assert_eq!(answer["data"]["status"], "done", "done: read the outer code");

    let stuck = emulator.submit(body.clone(), Some("never_finish")).await;
    for _ in 0..5 {
        emulator.poll("jimeng_t2i_v40", &stuck, None).await;
    }
    let (_, answer) = emulator.poll("jimeng_t2i_v40", &stuck, None).await;
    assert_eq!(answer["data"]["status"], "generating");

    let expiring = emulator.submit(body.clone(), None).await;
    let get = json!({ "req_key": "jimeng_t2i_v40", "task_id": expiring });
    let (status, answer) = emulator.with_fault(GET_RESULT, &get, "expired").await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"], json!({ "binary_data_base64": null, "image_urls": null, "status": "expired" }));

    // A synchronous call fails at once; never_finish holds it as timeout does.
    let process = json!({ "req_key": "high_aes_general_v30l_zt2i", "prompt": "fox", "width": 512, "height": 512 });
    let (status, answer) = emulator.with_fault(PROCESS, &process, "generation_failed").await;
    assert_eq!((status, answer["code"].as_u64(), &answer["data"]), (400, Some(50511), &Value::Null), "{answer}");

    let stats = emulator.stats().await;
    assert_eq!(stats["task_states"][&failing], "failed");
    assert_eq!(stats["task_states"][&stuck], "generating");
    assert_eq!(stats["task_states"][&expiring], "expired");
}

#[tokio::test]
async fn transport_faults_delay_break_or_drop_answers() {
    let emulator = start(&["get_result:first=1:never_finish"], |config| {
        config.timeout_fault_duration = Duration::from_millis(400);
        config.generation_failed_code = 50500;
    })
    .await;
    let body = json!({ "req_key": "high_aes_general_v30l_zt2i", "prompt": "fox", "width": 512, "height": 512 });
    let started = Instant::now();
    let (status, _) = emulator.with_fault(PROCESS, &body, "latency=300").await;
    assert!(status == 200 && started.elapsed() >= Duration::from_millis(300));

    let started = Instant::now();
    let (status, _) = emulator.with_fault(PROCESS, &body, "never_finish").await;
    assert!(status == 200 && started.elapsed() >= Duration::from_millis(400), "held as timeout");

    let sign = Sign { fault: Some("malformed".into()), ..Sign::default() };
    let response = emulator.send(PROCESS, "2022-08-31", body.to_string().into_bytes(), &sign).await.expect("answered");
    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err(), "cut short");

    let sign = Sign { fault: Some("reset".into()), ..Sign::default() };
    assert!(emulator.send(PROCESS, "2022-08-31", body.to_string().into_bytes(), &sign).await.is_err(), "dropped");

    // The configured failure code.
    let (status, answer) = emulator.with_fault(PROCESS, &body, "generation_failed").await;
    assert_eq!((status, answer["code"].as_u64()), (500, Some(50500)));

    // A planned task fault on the first poll.
    let task_id =
        emulator.submit(json!({ "req_key": "jimeng_t2i_v31", "prompt": "x", "width": 512, "height": 512 }), None).await;
    for _ in 0..4 {
        emulator.poll("jimeng_t2i_v31", &task_id, None).await;
    }
    let (_, answer) = emulator.poll("jimeng_t2i_v31", &task_id, None).await;
    assert_eq!(answer["data"]["status"], "generating");

    let injected = &emulator.stats().await["faults_injected"];
    assert_eq!((injected["latency"].as_u64(), injected["never_finish"].as_u64()), (Some(1), Some(2)));
    assert_eq!((injected["malformed"].as_u64(), injected["reset"].as_u64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn parameters_req_keys_and_actions_are_checked() {
    let emulator = start(&[], |_| {}).await;
    let refused = |answer: &Value, code: u64| {
        assert_envelope(answer, code);
        assert!(answer["data"].is_null(), "{answer}");
    };
    for body in [
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "width": 1024 }),
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "height": 1024 }),
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "width": 512, "height": 512 }),
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "width": 5000, "height": 4000 }),
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "width": 4000, "height": 1000 }),
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "size": 500 }),
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "scale": 2 }),
        json!({ "req_key": "jimeng_t2i_v40", "prompt": "x", "image_urls": vec!["https://example.com/a.png"; 11] }),
        json!({ "req_key": "jimeng_t2i_v40" }),
        json!({ "req_key": "jimeng_t2i_v31", "prompt": "x", "width": 2048, "height": 2049 }),
        json!({ "prompt": "x" }),
    ] {
        let (status, answer) = emulator.call(SUBMIT, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        refused(&answer, 50215);
    }
    let (status, answer) =
        emulator.call(PROCESS, &json!({ "req_key": "high_aes_general_v30l_zt2i", "prompt": "x", "width": 4096 })).await;
    assert_eq!(status, 400);
    refused(&answer, 50215);

    // A req_key in the wrong call style, or unknown.
    for (action, req_key) in [
        (PROCESS, "jimeng_t2i_v40"),
        (SUBMIT, "high_aes_general_v30l_zt2i"),
        (GET_RESULT, "high_aes_general_v21_L"),
        (SUBMIT, "nope"),
    ] {
        let (status, answer) =
            emulator.call(action, &json!({ "req_key": req_key, "prompt": "x", "task_id": "1" })).await;
        assert_eq!(status, 400, "{action} {req_key}");
        refused(&answer, 50400);
        assert!(answer["message"].as_str().is_some_and(|m| m.starts_with("Access Denied")), "{answer}");
    }
    let (status, answer) = emulator.call(GET_RESULT, &json!({ "req_key": "jimeng_t2i_v40" })).await;
    assert_eq!((status, answer["code"].as_u64()), (400, Some(50215)));
    let (status, answer) =
        emulator.call(GET_RESULT, &json!({ "req_key": "jimeng_t2i_v40", "task_id": "1", "req_json": "{" })).await;
    assert_eq!((status, answer["code"].as_u64()), (400, Some(50215)));
    let response =
        emulator.send(PROCESS, "2022-08-31", b"not json".to_vec(), &Sign::default()).await.expect("answered");
    let (status, answer) = json_of(response).await;
    assert_eq!((status, answer["code"].as_u64()), (400, Some(50215)));

    // Actions and versions the service does not have.
    for (action, version) in [("CVSubmitTask", "2022-08-31"), ("CVProcess", "2024-06-06")] {
        let response = emulator.send(action, version, b"{}".to_vec(), &Sign::default()).await.expect("answered");
        let (status, answer) = json_of(response).await;
        assert_eq!(status, 404, "{action} {version}");
        assert_eq!(answer["ResponseMetadata"]["Error"]["Code"], "InvalidActionOrVersion");
        assert_eq!(answer["ResponseMetadata"]["Action"], action);
    }
    let response = emulator.http.get(format!("{}/files/nothing.png", emulator.base)).send().await.expect("answered");
    assert_eq!(response.status(), 404);
    let stats = emulator.stats().await;
    assert_eq!((stats["other"].as_u64(), stats["tasks_created"].as_u64()), (Some(1), Some(0)));
}

#[tokio::test]
async fn the_qps_limit_answers_50429() {
    let emulator = start(&[], |config| config.qps_limit = Some(2)).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, answer) = emulator.poll("jimeng_t2i_v40", "1", None).await;
        statuses.push((status, answer["code"].as_u64().unwrap_or_default()));
    }
    assert_eq!(statuses, [(200, 10000), (200, 10000), (429, 50429)]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(emulator.poll("jimeng_t2i_v40", "1", None).await.0, 200);
    assert_eq!(emulator.stats().await["rate_limited"], 1);
}
