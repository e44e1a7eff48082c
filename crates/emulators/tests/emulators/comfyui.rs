//! The ComfyUI server emulator through HTTP and its WebSocket: a text-to-image
//! workflow saving real PNGs fetched through `/view`, ComfyUI's validation
//! errors, image-to-image through an upload, upscaling, the queue and its
//! interrupts, the history's shapes, `object_info` and discovery, the
//! WebSocket's messages in order, every fault (`oom` and `restart`
//! included), and the stats.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use atelier_emulators::comfyui::{ComfyUiEmulator, ComfyUiEmulatorConfig, FaultPlan, parse_fault_rule};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

// ---- The emulator and a client. ----

struct Emulator {
    addr: SocketAddr,
    base: String,
    http: reqwest::Client,
}

async fn start(faults: &[&str], tweak: impl FnOnce(&mut ComfyUiEmulatorConfig)) -> Emulator {
    let mut plan = FaultPlan::none();
    for rule in faults {
        plan = plan.with(parse_fault_rule(rule).expect("rule"));
    }
    let mut config = ComfyUiEmulatorConfig {
        faults: plan,
        timeout_fault_duration: Duration::from_secs(5),
        input_images: Vec::new(),
        ..Default::default()
    };
    tweak(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(ComfyUiEmulator::new(config).serve(listener));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    Emulator { addr, base: format!("http://{addr}"), http }
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

    /// A POST whose answer is empty (`/queue`, `/interrupt`, `/history`): its status.
    async fn post_empty(&self, path: &str, body: &Value) -> u16 {
        let response = self.post_raw(path, body, None).await.expect("answered");
        let status = response.status().as_u16();
        assert_eq!(response.bytes().await.expect("body").len(), 0, "{path}: empty");
        status
    }

    async fn get_raw(&self, path: &str, fault: Option<&str>) -> reqwest::Result<reqwest::Response> {
        let request = self.http.get(self.url(path));
        match fault {
            Some(fault) => request.header("X-Emulator-Fault", fault),
            None => request,
        }
        .send()
        .await
    }

    async fn get_with(&self, path: &str, fault: Option<&str>) -> (u16, Value) {
        json_of(self.get_raw(path, fault).await.expect("answered")).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, None).await
    }

    async fn stats(&self) -> Value {
        self.get("/__emulator/stats").await.1
    }

    /// Queues a workflow; its prompt id.
    async fn submit(&self, workflow: &Value, client_id: Option<&str>, fault: Option<&str>) -> String {
        let mut body = json!({ "prompt": workflow });
        if let Some(client_id) = client_id {
            body["client_id"] = json!(client_id);
        }
        let (status, answer) = self.post_with("/prompt", &body, fault).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["node_errors"], json!({}));
        answer["prompt_id"].as_str().expect("a prompt id").to_owned()
    }

    /// The history entry of a prompt once it is there (polled at most 500 times).
    async fn finished(&self, prompt_id: &str) -> Value {
        for _ in 0..500 {
            let (status, history) = self.get(&format!("/history/{prompt_id}")).await;
            assert_eq!(status, 200);
            if let Some(entry) = history.get(prompt_id) {
                return entry.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("prompt {prompt_id} never finished");
    }

    /// Waits until `until` holds on `GET /queue`.
    async fn queue_until(&self, until: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let (_, queue) = self.get("/queue").await;
            if until(&queue) {
                return queue;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the queue never got there");
    }

    /// `/view`'s URL for an image of a history entry.
    fn view_url(&self, image: &Value) -> reqwest::Url {
        let field = |name: &str| image[name].as_str().unwrap_or_default().to_owned();
        let params = [("filename", field("filename")), ("subfolder", field("subfolder")), ("type", field("type"))];
        reqwest::Url::parse_with_params(&self.url("/view"), &params).expect("a URL")
    }

    /// The bytes of an output image of a history entry, decoded.
    async fn view(&self, image: &Value) -> image::DynamicImage {
        let response = self.http.get(self.view_url(image)).send().await.expect("answered");
        assert_eq!(response.status(), 200, "{image}");
        assert_eq!(response.headers()["content-type"], "image/png");
        let bytes = response.bytes().await.expect("bytes");
        assert_eq!(image::guess_format(&bytes).expect("an image"), image::ImageFormat::Png);
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).expect("decodes")
    }

    async fn view_bytes(&self, image: &Value) -> Vec<u8> {
        let response = self.http.get(self.view_url(image)).send().await.expect("answered");
        response.bytes().await.expect("bytes").to_vec()
    }

    async fn upload(&self, name: &str, bytes: Vec<u8>, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new()
            .part("image", reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()));
        for (key, value) in extra {
            form = form.text((*key).to_owned(), (*value).to_owned());
        }
        let response = self.http.post(self.url("/upload/image")).multipart(form).send().await.expect("answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

fn png_bytes(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 40]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("png");
    out.into_inner()
}

/// ComfyUI's default workflow, with a checkpoint, a size, a batch, a seed and steps.
fn txt2img(width: u32, height: u32, batch: u32, seed: u64, steps: u32) -> Value {
    json!({
        "3": { "class_type": "KSampler", "inputs": { "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0] } },
        "4": { "class_type": "CheckpointLoaderSimple", "inputs": { "ckpt_name": "sd_xl_base_1.0.safetensors" } },
        "5": { "class_type": "EmptyLatentImage", "inputs": { "width": width, "height": height, "batch_size": batch } },
        "6": { "class_type": "CLIPTextEncode", "inputs": { "text": "a red fox", "clip": ["4", 1] } },
        "7": { "class_type": "CLIPTextEncode", "inputs": { "text": "blurry", "clip": ["4", 1] } },
        "8": { "class_type": "VAEDecode", "inputs": { "samples": ["3", 0], "vae": ["4", 2] } },
        "9": { "class_type": "SaveImage", "inputs": { "filename_prefix": "atelier", "images": ["8", 0] } }
    })
}

fn img2img(image: &str, steps: u32) -> Value {
    json!({
        "3": { "class_type": "KSampler", "inputs": { "seed": 1, "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 0.6, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["11", 0] } },
        "4": { "class_type": "CheckpointLoaderSimple", "inputs": { "ckpt_name": "v1-5-pruned-emaonly.safetensors" } },
        "6": { "class_type": "CLIPTextEncode", "inputs": { "text": "make it blue", "clip": ["4", 1] } },
        "7": { "class_type": "CLIPTextEncode", "inputs": { "text": "", "clip": ["4", 1] } },
        "8": { "class_type": "VAEDecode", "inputs": { "samples": ["3", 0], "vae": ["4", 2] } },
        "9": { "class_type": "SaveImage", "inputs": { "filename_prefix": "img2img", "images": ["8", 0] } },
        "10": { "class_type": "LoadImage", "inputs": { "image": image } },
        "11": { "class_type": "VAEEncode", "inputs": { "pixels": ["10", 0], "vae": ["4", 2] } }
    })
}

fn upscale(image: &str, model: &str) -> Value {
    json!({
        "1": { "class_type": "LoadImage", "inputs": { "image": image } },
        "2": { "class_type": "UpscaleModelLoader", "inputs": { "model_name": model } },
        "3": { "class_type": "ImageUpscaleWithModel", "inputs": { "upscale_model": ["2", 0], "image": ["1", 0] } },
        "4": { "class_type": "SaveImage", "inputs": { "filename_prefix": "upscaled", "images": ["3", 0] } }
    })
}

/// The names of a history entry's status messages.
fn message_names(entry: &Value) -> Vec<String> {
    let messages = entry["status"]["messages"].as_array().expect("messages");
    messages.iter().filter_map(|m| m[0].as_str().map(str::to_owned)).collect()
}

/// The data of a history entry's status message named `name`.
fn message<'a>(entry: &'a Value, name: &str) -> &'a Value {
    let messages = entry["status"]["messages"].as_array().expect("messages");
    messages.iter().find(|m| m[0] == name).map(|m| &m[1]).unwrap_or_else(|| panic!("no {name} in {entry}"))
}

// ---- A WebSocket client, by hand (RFC 6455). ----

struct Ws {
    stream: BufReader<TcpStream>,
}

async fn ws_connect(addr: SocketAddr, path: &str) -> Result<Ws, String> {
    ws_connect_with(addr, path, "").await
}

/// Connects with extra request headers (`"X-Emulator-Fault: reset\r\n"`); the
/// answer's head when it is not a 101.
async fn ws_connect_with(addr: SocketAddr, path: &str, headers: &str) -> Result<Ws, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut stream = BufReader::new(stream);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n"
    );
    stream.get_mut().write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = stream.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if n == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    if !head.starts_with("HTTP/1.1 101") {
        return Err(head);
    }
    let accept = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-accept").then(|| value.trim().to_owned())
    });
    assert_eq!(accept.as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    Ok(Ws { stream })
}

impl Ws {
    /// The next frame: opcode and payload; `None` when the connection ends (or in 10 s).
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let read = async {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).await.ok()?;
            assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
            let len = match head[1] & 0x7F {
                126 => u64::from(self.stream.read_u16().await.ok()?),
                127 => self.stream.read_u64().await.ok()?,
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).ok()?];
            self.stream.read_exact(&mut payload).await.ok()?;
            Some((head[0] & 0x0F, payload))
        };
        tokio::time::timeout(Duration::from_secs(10), read).await.ok().flatten()
    }

    /// The next JSON message.
    async fn next(&mut self) -> Option<Value> {
        loop {
            let (opcode, payload) = self.frame().await?;
            if opcode == 0x1 {
                return Some(serde_json::from_slice(&payload).expect("JSON text"));
            }
        }
    }

    /// A masked frame to the server.
    async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [7u8, 1, 9, 3];
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.get_mut().write_all(&frame).await.expect("sent");
    }

    /// Every message but `status`, until `executing` with `node: null` for `prompt_id`.
    async fn until_done(&mut self, prompt_id: &str) -> Vec<Value> {
        let mut messages = Vec::new();
        while let Some(message) = self.next().await {
            if message["type"] == "status" {
                continue;
            }
            let done = message["type"] == "executing"
                && message["data"]["node"].is_null()
                && message["data"]["prompt_id"] == prompt_id;
            messages.push(message);
            if done {
                return messages;
            }
        }
        panic!("the WebSocket ended before {prompt_id} was done: {messages:?}");
    }
}

// ---- The tests. ----

#[tokio::test]
async fn a_text_to_image_workflow_saves_pngs_of_the_asked_size() {
    let emulator = start(&[], |_| {}).await;
    let workflow = txt2img(192, 128, 3, 42, 4);
    let (status, answer) = emulator.post("/prompt", &json!({ "prompt": workflow, "client_id": "tester" })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["number"].clone(), answer["node_errors"].clone()), (json!(0), json!({})));
    let id = answer["prompt_id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let entry = emulator.finished(&id).await;
    assert_eq!(entry["status"]["status_str"], "success");
    assert_eq!(entry["status"]["completed"], true);
    assert_eq!(message_names(&entry), ["execution_start", "execution_cached", "execution_success"]);
    assert_eq!(message(&entry, "execution_start")["prompt_id"], id.as_str());
    assert!(message(&entry, "execution_success")["timestamp"].is_i64());
    assert_eq!(message(&entry, "execution_cached")["nodes"], json!([]));

    // The prompt as queued: [number, prompt_id, prompt, extra_data, outputs_to_execute].
    let item = &entry["prompt"];
    assert_eq!((item[0].clone(), item[1].clone()), (json!(0), json!(id)));
    assert_eq!(item[2]["5"]["inputs"]["width"], 192);
    assert_eq!(item[3]["client_id"], "tester");
    assert!(item[3]["create_time"].is_i64());
    assert_eq!(item[4], json!(["9"]));
    assert_eq!(
        entry["meta"]["9"],
        json!({ "node_id": "9", "display_node": "9", "parent_node": null, "real_node_id": "9" })
    );

    let images = entry["outputs"]["9"]["images"].as_array().expect("images").clone();
    let names: Vec<&str> = images.iter().filter_map(|i| i["filename"].as_str()).collect();
    assert_eq!(names, ["atelier_00001_.png", "atelier_00002_.png", "atelier_00003_.png"]);
    assert!(images.iter().all(|i| i["subfolder"] == "" && i["type"] == "output"));
    let mut bytes = Vec::new();
    for image in &images {
        let decoded = emulator.view(image).await;
        assert_eq!((decoded.width(), decoded.height()), (192, 128));
        bytes.push(emulator.view_bytes(image).await);
    }
    assert_ne!(bytes[0], bytes[1], "each image of the batch differs");

    // Deterministic by seed: the same workflow draws the same pixels; another seed does not.
    let again = emulator.submit(&workflow, None, None).await;
    let again = emulator.finished(&again).await;
    assert_eq!(again["prompt"][0], 1, "numbers count up");
    let first = &again["outputs"]["9"]["images"][0];
    assert_eq!(first["filename"], "atelier_00004_.png", "the counter goes on");
    assert_eq!(emulator.view_bytes(first).await, bytes[0]);
    let other = emulator.submit(&txt2img(192, 128, 1, 43, 4), None, None).await;
    let other = emulator.finished(&other).await;
    assert_ne!(emulator.view_bytes(&other["outputs"]["9"]["images"][0]).await, bytes[0]);

    // The latent floors sizes to multiples of 8; a subfolder prefix; the /api prefix.
    let mut odd = txt2img(100, 75, 1, 1, 1);
    odd["9"]["inputs"]["filename_prefix"] = json!("runs/%width%x%height%");
    let (status, answer) = emulator.post("/api/prompt", &json!({ "prompt": odd })).await;
    assert_eq!(status, 200, "{answer}");
    let entry = emulator.finished(answer["prompt_id"].as_str().expect("id")).await;
    let image = &entry["outputs"]["9"]["images"][0];
    assert_eq!((image["filename"].as_str(), image["subfolder"].as_str()), (Some("96x72_00001_.png"), Some("runs")));
    let decoded = emulator.view(image).await;
    assert_eq!((decoded.width(), decoded.height()), (96, 72));

    // /view refusals.
    for (query, code) in [
        ("filename=nothing.png", 404),
        ("filename=../secret.png", 400),
        ("filename=atelier_00001_.png&type=elsewhere", 400),
        ("filename=atelier_00001_.png&subfolder=../..", 403),
        ("filename=atelier_00001_.png&type=temp", 404),
    ] {
        let response = emulator.get_raw(&format!("/view?{query}"), None).await.expect("answered");
        assert_eq!(response.status().as_u16(), code, "{query}");
    }
    let response = emulator.get_raw("/view?filename=atelier_00001_.png", None).await.expect("answered");
    assert_eq!(response.headers()["content-disposition"], "filename=\"atelier_00001_.png\"");

    // The whole history, and its last items.
    let (_, all) = emulator.get("/history").await;
    assert_eq!(all.as_object().map(|h| h.len()), Some(4));
    let (_, last) = emulator.get("/history?max_items=1").await;
    let last: Vec<&String> = last.as_object().map(|h| h.keys().collect()).unwrap_or_default();
    assert_eq!(last, [entry["prompt"][1].as_str().unwrap_or_default()]);
    assert_eq!(emulator.get_raw("/history?max_items=many", None).await.expect("answered").status(), 500);
    assert_eq!(emulator.get("/history/not-a-prompt").await, (200, json!({})));

    let stats = emulator.stats().await;
    assert_eq!((stats["prompts_queued"].as_u64(), stats["prompts_completed"].as_u64()), (Some(4), Some(4)));
    assert_eq!(stats["images_generated"], 8);
    assert_eq!(stats["by_checkpoint"], json!({ "sd_xl_base_1.0.safetensors": 4 }));
    assert_eq!(stats["prompt_states"][&id], "success");
    assert_eq!((stats["max_concurrency"].as_u64(), stats["running"].as_u64()), (Some(1), Some(0)));
    assert_eq!(stats["prompt"], 4);
}

#[tokio::test]
async fn validation_errors_look_like_comfyuis() {
    let emulator = start(&[], |_| {}).await;

    let mut unknown = txt2img(64, 64, 1, 1, 1);
    unknown["5"]["class_type"] = json!("EmptyLatentImageX");
    let (status, answer) = emulator.post("/prompt", &json!({ "prompt": unknown })).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!({
            "error": {
                "type": "invalid_prompt",
                "message": "Cannot execute because node EmptyLatentImageX does not exist.",
                "details": "Node ID '#5'",
                "extra_info": {}
            },
            "node_errors": {}
        })
    );

    let mut bad = txt2img(64, 64, 1, 1, 1);
    bad["4"]["inputs"]["ckpt_name"] = json!("x.safetensors");
    let (status, answer) = emulator.post("/prompt", &json!({ "prompt": bad })).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"],
        json!({ "type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {} })
    );
    let checkpoints =
        json!(["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors", "sd_xl_refiner_1.0.safetensors"]);
    assert_eq!(
        answer["node_errors"],
        json!({
            "4": {
                "errors": [{
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "ckpt_name: 'x.safetensors' not in ['v1-5-pruned-emaonly.safetensors', 'sd_xl_base_1.0.safetensors', 'sd_xl_refiner_1.0.safetensors']",
                    "extra_info": { "input_name": "ckpt_name", "input_config": [checkpoints, {}], "received_value": "x.safetensors" }
                }],
                "dependent_outputs": ["9"],
                "class_type": "CheckpointLoaderSimple"
            }
        })
    );

    // Ranges, types and missing inputs, all reported.
    let mut ranges = txt2img(64, 64, 1, 1, 1);
    ranges["3"]["inputs"]["steps"] = json!(0);
    ranges["3"]["inputs"]["cfg"] = json!("lots");
    ranges["5"]["inputs"]["width"] = json!(20000);
    ranges["8"]["inputs"].as_object_mut().map(|i| i.remove("vae"));
    let (status, answer) = emulator.post("/prompt", &json!({ "prompt": ranges })).await;
    assert_eq!(status, 400);
    let sampler = &answer["node_errors"]["3"]["errors"];
    assert_eq!(
        (sampler[0]["type"].as_str(), sampler[0]["message"].as_str()),
        (Some("value_smaller_than_min"), Some("Value 0 smaller than min of 1"))
    );
    assert_eq!(sampler[0]["details"], "steps");
    assert_eq!(sampler[1]["type"], "invalid_input_type");
    assert_eq!(sampler[1]["details"], "cfg, lots, could not convert string to float: 'lots'");
    let latent = &answer["node_errors"]["5"]["errors"][0];
    assert_eq!(
        (latent["type"].as_str(), latent["message"].as_str()),
        (Some("value_bigger_than_max"), Some("Value 20000 bigger than max of 16384"))
    );
    assert_eq!(answer["node_errors"]["8"]["errors"][0]["type"], "required_input_missing");
    assert_eq!(answer["node_errors"]["5"]["dependent_outputs"], json!(["9"]));

    // A long list is not quoted.
    let mut sampler = txt2img(64, 64, 1, 1, 1);
    sampler["3"]["inputs"]["sampler_name"] = json!("Euler a");
    let (_, answer) = emulator.post("/prompt", &json!({ "prompt": sampler })).await;
    assert_eq!(
        answer["node_errors"]["3"]["errors"][0]["details"],
        "sampler_name: 'Euler a' not in (list of length 37)"
    );

    // No output node, no prompt, not JSON, a missing image.
    let mut no_output = txt2img(64, 64, 1, 1, 1);
    no_output.as_object_mut().map(|w| w.remove("9"));
    let (status, answer) = emulator.post("/prompt", &json!({ "prompt": no_output })).await;
    assert_eq!((status, answer["error"]["type"].as_str()), (400, Some("prompt_no_outputs")));
    let (status, answer) = emulator.post("/prompt", &json!({ "client_id": "x" })).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!({ "error": { "type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {} }, "node_errors": {} })
    );
    let response = emulator.http.post(emulator.url("/prompt")).body("{not json").send().await.expect("answered");
    assert_eq!(response.status(), 500);
    assert_eq!(response.text().await.expect("text"), "500 Internal Server Error\n\nServer got itself in trouble");
    let (status, answer) = emulator.post("/prompt", &json!({ "prompt": img2img("nowhere.png", 1) })).await;
    assert_eq!(status, 400);
    let error = &answer["node_errors"]["10"]["errors"][0];
    assert_eq!(
        (error["type"].as_str(), error["details"].as_str()),
        (Some("custom_validation_failed"), Some("image - Invalid image file: nowhere.png"))
    );

    // Two outputs, one broken: the other runs, and the 200 carries the errors.
    let mut partial = txt2img(64, 64, 1, 1, 1);
    partial["10"] = json!({ "class_type": "PreviewImage", "inputs": { "images": ["11", 0] } });
    partial["11"] = json!({ "class_type": "ImageScaleBy", "inputs": { "image": ["8", 0], "upscale_method": "sideways", "scale_by": 2 } });
    let (status, answer) = emulator.post("/prompt", &json!({ "prompt": partial })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["node_errors"]["11"]["dependent_outputs"], json!(["10"]));
    let entry = emulator.finished(answer["prompt_id"].as_str().expect("id")).await;
    assert_eq!(entry["prompt"][4], json!(["9"]));
    assert!(entry["outputs"].get("10").is_none());

    // Values are converted as ComfyUI converts them.
    let mut loose = txt2img(64, 64, 1, 1, 1);
    loose["3"]["inputs"]["steps"] = json!("2");
    loose["6"]["inputs"]["text"] = json!(12);
    let id = emulator.submit(&loose, None, None).await;
    let entry = emulator.finished(&id).await;
    assert_eq!(
        (entry["prompt"][2]["3"]["inputs"]["steps"].clone(), entry["prompt"][2]["6"]["inputs"]["text"].clone()),
        (json!(2), json!("12"))
    );

    let stats = emulator.stats().await;
    assert_eq!((stats["prompts_rejected"].as_u64(), stats["prompts_queued"].as_u64()), (Some(7), Some(2)));
}

#[tokio::test]
async fn img2img_through_an_upload_keeps_the_size() {
    let emulator = start(&[], |_| {}).await;
    let input = png_bytes(144, 80);
    let (status, answer) = emulator.upload("fox.png", input.clone(), &[]).await;
    assert_eq!((status, answer), (200, json!({ "name": "fox.png", "subfolder": "", "type": "input" })));
    // The same bytes keep the name; other bytes get a new one unless overwriting.
    assert_eq!(emulator.upload("fox.png", input.clone(), &[]).await.1["name"], "fox.png");
    assert_eq!(emulator.upload("fox.png", png_bytes(8, 8), &[]).await.1["name"], "fox (1).png");
    assert_eq!(emulator.upload("fox.png", png_bytes(8, 8), &[("overwrite", "true")]).await.1["name"], "fox.png");
    emulator.upload("fox.png", input.clone(), &[("overwrite", "1")]).await;
    let (status, answer) = emulator.upload("deep.png", png_bytes(40, 24), &[("subfolder", "batch/a")]).await;
    assert_eq!((status, answer), (200, json!({ "name": "deep.png", "subfolder": "batch/a", "type": "input" })));
    assert_eq!(emulator.upload("x.png", input.clone(), &[("type", "elsewhere")]).await.0, 500);
    let response = emulator
        .http
        .post(emulator.url("/upload/image"))
        .multipart(reqwest::multipart::Form::new().text("overwrite", "true"))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 400, "no image part");

    // The upload is listed, served back, and read by LoadImage.
    let (_, info) = emulator.get("/object_info/LoadImage").await;
    assert_eq!(info["LoadImage"]["input"]["required"]["image"][0], json!(["fox (1).png", "fox.png"]));
    let served = emulator.view_bytes(&json!({ "filename": "fox.png", "subfolder": "", "type": "input" })).await;
    assert_eq!(served, input);

    let id = emulator.submit(&img2img("fox.png", 2), None, None).await;
    let entry = emulator.finished(&id).await;
    assert_eq!(entry["status"]["status_str"], "success", "{entry}");
    let image = &entry["outputs"]["9"]["images"][0];
    assert_eq!(image["filename"], "img2img_00001_.png");
    let decoded = emulator.view(image).await;
    assert_eq!((decoded.width(), decoded.height()), (144, 80));
    let id = emulator.submit(&img2img("batch/a/deep.png", 1), None, None).await;
    let decoded = emulator.view(&emulator.finished(&id).await["outputs"]["9"]["images"][0]).await;
    assert_eq!((decoded.width(), decoded.height()), (40, 24));

    // Bytes that are not an image fail at LoadImage, as PIL does.
    emulator.upload("notes.png", b"just text".to_vec(), &[]).await;
    let id = emulator.submit(&img2img("notes.png", 1), None, None).await;
    let entry = emulator.finished(&id).await;
    assert_eq!(
        (entry["status"]["status_str"].as_str(), entry["status"]["completed"].as_bool()),
        (Some("error"), Some(false))
    );
    let error = message(&entry, "execution_error");
    assert_eq!((error["node_id"].as_str(), error["node_type"].as_str()), (Some("10"), Some("LoadImage")));
    assert_eq!(error["exception_type"], "PIL.UnidentifiedImageError");
    assert_eq!(error["exception_message"], "cannot identify image file '/ComfyUI/input/notes.png'\n");
    assert_eq!(error["current_inputs"], json!({ "image": ["notes.png"] }));
    assert_eq!(emulator.stats().await["uploads"], 7);
}

#[tokio::test]
async fn upscaling_enlarges_by_the_models_factor_and_previews_go_to_temp() {
    let emulator = start(&[], |config| config.input_images = vec![("example.png".into(), 64, 48)]).await;
    let id = emulator.submit(&upscale("example.png", "RealESRGAN_x4plus.pth"), None, None).await;
    let entry = emulator.finished(&id).await;
    let decoded = emulator.view(&entry["outputs"]["4"]["images"][0]).await;
    assert_eq!((decoded.width(), decoded.height()), (256, 192));
    let id = emulator.submit(&upscale("example.png", "RealESRGAN_x2plus.pth"), None, None).await;
    let decoded = emulator.view(&emulator.finished(&id).await["outputs"]["4"]["images"][0]).await;
    assert_eq!((decoded.width(), decoded.height()), (128, 96));
    let (status, answer) = emulator.post("/prompt", &json!({ "prompt": upscale("example.png", "nope.pth") })).await;
    assert_eq!((status, answer["node_errors"]["2"]["class_type"].as_str()), (400, Some("UpscaleModelLoader")));

    // Hires fix: sample, upscale the latent by 1.5, sample again; then scale the image; preview.
    let mut hires = txt2img(64, 48, 1, 3, 1);
    hires["8"]["inputs"]["samples"] = json!(["13", 0]);
    hires["12"] = json!({ "class_type": "LatentUpscaleBy", "inputs": { "samples": ["3", 0], "upscale_method": "nearest-exact", "scale_by": 1.5 } });
    hires["13"] = json!({ "class_type": "KSampler", "inputs": { "seed": 3, "steps": 1, "cfg": 7, "sampler_name": "euler", "scheduler": "karras", "denoise": 0.5, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["12", 0] } });
    hires["14"] = json!({ "class_type": "ImageScale", "inputs": { "image": ["8", 0], "upscale_method": "bicubic", "width": 0, "height": 36, "crop": "disabled" } });
    hires["15"] = json!({ "class_type": "PreviewImage", "inputs": { "images": ["14", 0] } });
    let id = emulator.submit(&hires, None, None).await;
    let entry = emulator.finished(&id).await;
    assert_eq!(entry["status"]["status_str"], "success", "{entry}");
    let saved = emulator.view(&entry["outputs"]["9"]["images"][0]).await;
    assert_eq!((saved.width(), saved.height()), (96, 72), "64×48 → latent 8×6 → 12×9 → 96×72");
    let preview = &entry["outputs"]["15"]["images"][0];
    assert_eq!(preview["type"], "temp");
    assert!(
        preview["filename"].as_str().is_some_and(|f| f.starts_with("ComfyUI_temp_") && f.ends_with("_00001_.png")),
        "{preview}"
    );
    let previewed = emulator.view(preview).await;
    assert_eq!((previewed.width(), previewed.height()), (48, 36));

    // Too large for the GPU: out of memory at the node that makes it.
    // 64×48 → 512×384 → 4096×3072 (fits) → ×4: 16384×12288 does not.
    let mut huge = upscale("example.png", "RealESRGAN_x4plus.pth");
    huge["5"] = json!({ "class_type": "ImageScaleBy", "inputs": { "image": ["1", 0], "upscale_method": "area", "scale_by": 8 } });
    huge["6"] = json!({ "class_type": "ImageScaleBy", "inputs": { "image": ["5", 0], "upscale_method": "area", "scale_by": 8 } });
    huge["3"]["inputs"]["image"] = json!(["6", 0]);
    let id = emulator.submit(&huge, None, None).await;
    let entry = emulator.finished(&id).await;
    let error = message(&entry, "execution_error");
    assert_eq!(
        (error["node_id"].as_str(), error["exception_type"].as_str()),
        (Some("3"), Some("torch.OutOfMemoryError"))
    );
    assert_eq!(error["executed"], json!(["2", "1", "5", "6"]), "links in the class's input order");
}

#[tokio::test]
async fn the_queue_runs_one_prompt_at_a_time_and_interrupts_stop_it() {
    let emulator = start(&[], |config| config.step_ms = 30).await;
    let first = emulator.submit(&txt2img(64, 64, 1, 1, 20), None, None).await;
    let second = emulator.submit(&txt2img(64, 64, 1, 2, 2), None, None).await;
    let third = emulator.submit(&txt2img(64, 64, 1, 3, 2), None, None).await;
    let queue = emulator.queue_until(|q| q["queue_running"].as_array().is_some_and(|r| !r.is_empty())).await;
    assert_eq!(queue["queue_running"][0][1], first.as_str());
    assert_eq!(queue["queue_running"][0][0], 0);
    assert_eq!(queue["queue_running"][0][4], json!(["9"]));
    let pending: Vec<&str> =
        queue["queue_pending"].as_array().expect("pending").iter().filter_map(|i| i[1].as_str()).collect();
    assert_eq!(pending, [second.as_str(), third.as_str()]);
    assert_eq!(emulator.get("/prompt").await.1, json!({ "exec_info": { "queue_remaining": 3 } }));
    assert_eq!(emulator.get("/history").await.1, json!({}), "nothing finished yet");
    assert_eq!(emulator.get(&format!("/history/{first}")).await.1, json!({}));

    // A front prompt jumps the queue; a deleted one never runs.
    let (_, front) = emulator.post("/prompt", &json!({ "prompt": txt2img(64, 64, 1, 4, 1), "front": true })).await;
    assert_eq!(front["number"], -3);
    let front = front["prompt_id"].as_str().expect("id").to_owned();
    assert_eq!(emulator.post_empty("/queue", &json!({ "delete": [third] })).await, 200);
    let (_, queue) = emulator.get("/queue").await;
    let pending: Vec<&str> =
        queue["queue_pending"].as_array().expect("pending").iter().filter_map(|i| i[1].as_str()).collect();
    assert_eq!(pending, [front.as_str(), second.as_str()]);

    // An interrupt aimed at another prompt does nothing; a global one stops the running one.
    assert_eq!(emulator.post_empty("/interrupt", &json!({ "prompt_id": second })).await, 200);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(emulator.get("/queue").await.1["queue_running"][0][1], first.as_str());
    assert_eq!(emulator.post_empty("/interrupt", &json!({})).await, 200);
    let entry = emulator.finished(&first).await;
    assert_eq!(
        (entry["status"]["status_str"].as_str(), entry["status"]["completed"].as_bool()),
        (Some("error"), Some(false))
    );
    assert_eq!(message_names(&entry), ["execution_start", "execution_cached", "execution_interrupted"]);
    let interrupted = message(&entry, "execution_interrupted");
    assert_eq!((interrupted["node_id"].as_str(), interrupted["node_type"].as_str()), (Some("3"), Some("KSampler")));
    assert_eq!(interrupted["executed"], json!(["4", "6", "7", "5"]));
    assert_eq!(entry["outputs"], json!({}));

    // The others run in order, uninterrupted (the flag clears as each starts).
    let front_done = emulator.finished(&front).await;
    let second_done = emulator.finished(&second).await;
    assert_eq!(
        (front_done["status"]["status_str"].as_str(), second_done["status"]["status_str"].as_str()),
        (Some("success"), Some("success"))
    );
    let started = |entry: &Value| message(entry, "execution_start")["timestamp"].as_i64().unwrap_or_default();
    assert!(started(&front_done) <= started(&second_done));
    assert_eq!(emulator.get(&format!("/history/{third}")).await.1, json!({}));

    // Clearing the queue.
    let a = emulator.submit(&txt2img(64, 64, 1, 5, 20), None, None).await;
    let b = emulator.submit(&txt2img(64, 64, 1, 6, 20), None, None).await;
    emulator.queue_until(|q| q["queue_running"][0][1] == a.as_str()).await;
    assert_eq!(emulator.post_empty("/queue", &json!({ "clear": true })).await, 200);
    assert_eq!(emulator.get("/queue").await.1["queue_pending"], json!([]));
    emulator.post_empty("/interrupt", &json!({})).await;
    emulator.finished(&a).await;

    // The history can be deleted from and cleared.
    assert_eq!(emulator.post_empty("/history", &json!({ "delete": [first] })).await, 200);
    assert_eq!(emulator.get(&format!("/history/{first}")).await.1, json!({}));
    assert_eq!(emulator.post_empty("/history", &json!({ "clear": true })).await, 200);
    assert_eq!(emulator.get("/history").await.1, json!({}));

    let stats = emulator.stats().await;
    assert_eq!((stats["prompts_interrupted"].as_u64(), stats["prompts_deleted"].as_u64()), (Some(2), Some(2)));
    assert_eq!(
        (stats["prompt_states"][&third].as_str(), stats["prompt_states"][&b].as_str()),
        (Some("deleted"), Some("deleted"))
    );
    assert_eq!(stats["max_concurrency"], 1);
    assert_eq!(stats["interrupt"], 3);
}

#[tokio::test]
async fn object_info_and_discovery_list_what_the_server_has() {
    let emulator = start(&[], |config| {
        config.checkpoints = vec!["dreamshaper_8.safetensors".into(), "flux1-dev.safetensors".into()]
    })
    .await;
    let (status, info) = emulator.get("/object_info").await;
    assert_eq!(status, 200);
    assert_eq!(
        info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0],
        json!(["dreamshaper_8.safetensors", "flux1-dev.safetensors"])
    );
    assert_eq!(info["CheckpointLoaderSimple"]["output"], json!(["MODEL", "CLIP", "VAE"]));
    assert_eq!(info["CheckpointLoaderSimple"]["output_node"], false);
    assert_eq!(info["CheckpointLoaderSimple"]["category"], "loaders");
    let ksampler = &info["KSampler"]["input"]["required"];
    assert_eq!(
        ksampler["seed"],
        json!(["INT", { "default": 0, "min": 0, "max": 18_446_744_073_709_551_615_u64, "step": 1, "control_after_generate": true }])
    );
    assert_eq!(ksampler["steps"][1]["min"], 1);
    assert!(ksampler["sampler_name"][0].as_array().is_some_and(|s| s.iter().any(|s| s == "dpmpp_2m")));
    assert!(ksampler["scheduler"][0].as_array().is_some_and(|s| s.iter().any(|s| s == "karras")));
    assert_eq!(info["SaveImage"]["output_node"], true);
    assert_eq!(info["UpscaleModelLoader"]["input"]["required"]["model_name"][0][0], "RealESRGAN_x4plus.pth");
    assert_eq!(info.as_object().map(|o| o.len()), Some(15));

    let (_, one) = emulator.get("/api/object_info/KSampler").await;
    assert_eq!(one.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()), Some(vec!["KSampler".to_owned()]));
    assert_eq!(emulator.get("/object_info/Nope").await, (200, json!({})));
    assert_eq!(
        emulator.get("/models/checkpoints").await,
        (200, json!(["dreamshaper_8.safetensors", "flux1-dev.safetensors"]))
    );
    assert_eq!(emulator.get("/models/loras").await, (200, json!([])));
    assert!(emulator.get("/models").await.1.as_array().is_some_and(|f| f.iter().any(|f| f == "upscale_models")));
    assert_eq!(emulator.get("/embeddings").await, (200, json!([])));
    let (_, system) = emulator.get("/system_stats").await;
    assert_eq!(system["devices"][0]["type"], "cuda");
    assert!(system["devices"][0]["vram_total"].as_u64().is_some_and(|v| v > 0));
    assert!(system["system"]["comfyui_version"].is_string());

    for (path, code, text) in [("/models/nope", 404, "404: Not Found"), ("/nowhere", 404, "404: Not Found")] {
        let response = emulator.get_raw(path, None).await.expect("answered");
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(response.text().await.expect("text"), text);
    }
    let response = emulator.http.delete(emulator.url("/prompt")).send().await.expect("answered");
    assert_eq!(response.status(), 405);
    assert_eq!(emulator.stats().await["object_info"], 8);
}

#[tokio::test]
async fn the_websocket_reports_a_prompt_in_order_to_its_client() {
    let emulator = start(&[], |_| {}).await;
    let mut ws = ws_connect(emulator.addr, "/ws?clientId=painter").await.expect("connected");
    let greeting = ws.next().await.expect("a greeting");
    assert_eq!(
        greeting,
        json!({ "type": "status", "data": { "status": { "exec_info": { "queue_remaining": 0 } }, "sid": "painter" } })
    );
    let mut other = ws_connect(emulator.addr, "/api/ws").await.expect("connected");
    let sid = other.next().await.expect("a greeting")["data"]["sid"].as_str().expect("sid").to_owned();
    assert!(sid.len() == 32 && sid.chars().all(|c| c.is_ascii_hexdigit()), "a random hex id: {sid}");

    let id = emulator.submit(&txt2img(64, 64, 2, 7, 3), Some("painter"), None).await;
    let messages = ws.until_done(&id).await;
    let kinds: Vec<String> = messages
        .iter()
        .map(|m| {
            let kind = m["type"].as_str().unwrap_or_default();
            match kind {
                "executing" | "executed" => format!("{kind} {}", m["data"]["node"].as_str().unwrap_or("null")),
                "progress" => format!("progress {}/{}", m["data"]["value"], m["data"]["max"]),
                _ => kind.to_owned(),
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "execution_start",
            "execution_cached",
            "executing 4",
            "executing 6",
            "executing 7",
            "executing 5",
            "executing 3",
            "progress 1/3",
            "progress 2/3",
            "progress 3/3",
            "executing 8",
            "executing 9",
            "executed 9",
            "execution_success",
            "executing null",
        ]
    );
    assert!(messages.iter().all(|m| m["data"]["prompt_id"] == id.as_str()));
    assert_eq!(messages[2]["data"], json!({ "node": "4", "display_node": "4", "prompt_id": id }));
    assert_eq!(messages[7]["data"], json!({ "value": 1, "max": 3, "prompt_id": id, "node": "3" }));
    assert!(messages[0]["data"]["timestamp"].is_i64());
    let entry = emulator.finished(&id).await;
    assert_eq!(messages[12]["data"]["output"], entry["outputs"]["9"]);
    assert_eq!(messages[12]["data"]["output"]["images"].as_array().map(Vec::len), Some(2));

    // The other client only hears the queue's status.
    let mut heard = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(200), other.next()).await {
        heard.push(message["type"].as_str().unwrap_or_default().to_owned());
    }
    assert!(!heard.is_empty() && heard.iter().all(|k| k == "status"), "{heard:?}");

    // Errors reach the client too; pings are answered, closes echoed.
    let failed = emulator.submit(&txt2img(64, 64, 1, 7, 2), Some("painter"), Some("generation_failed")).await;
    let messages = ws.until_done(&failed).await;
    let error = messages.iter().find(|m| m["type"] == "execution_error").expect("an execution_error");
    assert_eq!(
        (error["data"]["node_id"].as_str(), error["data"]["exception_type"].as_str()),
        (Some("3"), Some("RuntimeError"))
    );
    assert!(messages.iter().all(|m| m["type"] != "execution_success"));
    ws.send(0x9, b"ping!").await;
    assert_eq!(ws.frame().await, Some((0xA, b"ping!".to_vec())));
    ws.send(0x8, &[0x03, 0xE8]).await;
    assert_eq!(ws.frame().await, Some((0x8, vec![0x03, 0xE8])));
    assert_eq!(ws.frame().await, None, "closed");

    // Without the upgrade headers: aiohttp's 400.
    let response = emulator.get_raw("/ws?clientId=x", None).await.expect("answered");
    assert_eq!(response.status(), 400);
    let stats = emulator.stats().await;
    assert_eq!((stats["ws_connections"].as_u64(), stats["ws"].as_u64()), (Some(2), Some(3)));
}

#[tokio::test]
async fn status_faults_answer_comfyuis_shapes() {
    let emulator = start(&["history:every=2:status=503"], |_| {}).await;
    let workflow = txt2img(64, 64, 1, 1, 1);
    let (status, answer) = emulator.post_with("/prompt", &json!({ "prompt": workflow }), Some("status=400")).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["type"], "invalid_prompt");
    assert_eq!(answer["node_errors"], json!({}));
    for (fault, code, text) in [
        ("status=404", 404, "404: Not Found"),
        ("status=500", 500, "500 Internal Server Error\n\nServer got itself in trouble"),
        ("status=503", 503, "503: Service Unavailable"),
        ("status=400", 400, ""),
    ] {
        let response = emulator.get_raw("/object_info", Some(fault)).await.expect("answered");
        assert_eq!(response.status().as_u16(), code, "{fault}");
        assert_eq!(response.text().await.expect("text"), text, "{fault}");
    }
    let response = emulator
        .post_raw("/prompt", &json!({ "prompt": workflow }), Some("status=503,retry_after_seconds=3"))
        .await
        .expect("answered");
    assert_eq!(response.headers()["retry-after"], "3");
    for fault in ["status=429", "explode"] {
        let response = emulator.get_raw("/queue", Some(fault)).await.expect("answered");
        assert_eq!(response.status(), 400, "{fault}");
    }
    assert_eq!(emulator.stats().await["prompts_queued"], 0, "refused before anything was queued");
    let id = emulator.submit(&workflow, None, None).await;
    emulator.queue_until(|q| q["queue_running"] == json!([]) && q["queue_pending"] == json!([])).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(emulator.get_raw(&format!("/history/{id}"), None).await.expect("answered").status().as_u16());
    }
    assert_eq!(statuses, [200, 503, 200, 503]);
    assert_eq!(emulator.stats().await["faults_injected"], json!({ "status": 8 }));
}

#[tokio::test]
async fn task_faults_fail_run_out_of_memory_or_never_finish() {
    let emulator = start(&["prompt:first=1:generation_failed"], |config| config.step_ms = 10).await;

    let failed = emulator.submit(&txt2img(64, 64, 1, 1, 3), Some("nobody"), None).await;
    let entry = emulator.finished(&failed).await;
    assert_eq!(
        (entry["status"]["status_str"].as_str(), entry["status"]["completed"].as_bool()),
        (Some("error"), Some(false))
    );
    assert_eq!(message_names(&entry), ["execution_start", "execution_cached", "execution_error"]);
    let error = message(&entry, "execution_error");
    assert_eq!((error["node_id"].as_str(), error["node_type"].as_str()), (Some("3"), Some("KSampler")));
    assert_eq!(error["exception_type"], "RuntimeError");
    assert_eq!(error["exception_message"], "mat1 and mat2 shapes cannot be multiplied (154x2048 and 768x320)\n");
    assert_eq!(error["executed"], json!(["4", "6", "7", "5"]));
    assert_eq!(error["current_inputs"]["steps"], json!([3]));
    assert_eq!(error["current_inputs"]["sampler_name"], json!(["euler"]));
    assert!(error["current_inputs"]["model"][0].as_str().is_some_and(|m| m.contains("ModelPatcher")));
    assert_eq!(error["current_outputs"], json!([]));
    assert!(error["traceback"].as_array().is_some_and(|t| !t.is_empty()));
    assert_eq!(entry["outputs"], json!({}));

    let oom = emulator.submit(&txt2img(64, 64, 1, 1, 3), None, Some("oom")).await;
    let error = message(&emulator.finished(&oom).await, "execution_error").clone();
    assert_eq!(
        (error["node_id"].as_str(), error["exception_type"].as_str()),
        (Some("3"), Some("torch.OutOfMemoryError"))
    );
    let text = error["exception_message"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("CUDA out of memory.") && text.ends_with("set the batch_size to a large number."),
        "{text}"
    );

    // An upscale-only workflow fails at its upscale node.
    let upscaling = start(&[], |config| config.input_images = vec![("example.png".into(), 32, 32)]).await;
    let id = upscaling.submit(&upscale("example.png", "4x-UltraSharp.pth"), None, Some("generation_failed")).await;
    let error = message(&upscaling.finished(&id).await, "execution_error").clone();
    assert_eq!(error["node_type"], "ImageUpscaleWithModel");

    // A history poll marks the prompt while it runs.
    let marked = emulator.submit(&txt2img(64, 64, 1, 1, 30), None, None).await;
    emulator.queue_until(|q| q["queue_running"][0][1] == marked.as_str()).await;
    assert_eq!(emulator.get_with(&format!("/history/{marked}"), Some("oom")).await, (200, json!({})));
    let error = message(&emulator.finished(&marked).await, "execution_error").clone();
    assert_eq!(error["exception_type"], "torch.OutOfMemoryError");

    // never_finish: running for good, holding the queue, until an interrupt.
    let stuck = emulator.submit(&txt2img(64, 64, 1, 1, 2), None, Some("never_finish")).await;
    let behind = emulator.submit(&txt2img(64, 64, 1, 2, 1), None, None).await;
    emulator.queue_until(|q| q["queue_running"][0][1] == stuck.as_str()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, queue) = emulator.get("/queue").await;
    assert_eq!(
        (queue["queue_running"][0][1].as_str(), queue["queue_pending"].as_array().map(Vec::len)),
        (Some(stuck.as_str()), Some(1))
    );
    assert_eq!(emulator.get(&format!("/history/{stuck}")).await.1, json!({}));
    emulator.post_empty("/interrupt", &json!({ "prompt_id": stuck })).await;
    let entry = emulator.finished(&stuck).await;
    assert_eq!(message(&entry, "execution_interrupted")["node_id"], "3");
    assert_eq!(emulator.finished(&behind).await["status"]["status_str"], "success");

    let stats = emulator.stats().await;
    assert_eq!((stats["prompts_failed"].as_u64(), stats["prompts_interrupted"].as_u64()), (Some(3), Some(1)));
    assert_eq!(stats["faults_injected"], json!({ "generation_failed": 1, "never_finish": 1, "oom": 2 }));
}

#[tokio::test]
async fn a_restart_loses_the_queue_the_history_and_the_websockets() {
    let emulator = start(&[], |config| config.step_ms = 20).await;
    let done = emulator.submit(&txt2img(64, 64, 1, 1, 1), None, None).await;
    let saved = emulator.finished(&done).await["outputs"]["9"]["images"][0].clone();
    let mut ws = ws_connect(emulator.addr, "/ws?clientId=watcher").await.expect("connected");
    ws.next().await.expect("a greeting");

    // On POST /prompt: queued (200), then the server restarts half-way through sampling.
    let doomed = emulator.submit(&txt2img(64, 64, 1, 1, 10), Some("watcher"), Some("restart")).await;
    let behind = emulator.submit(&txt2img(64, 64, 1, 2, 10), None, None).await;
    let mut progress = 0;
    loop {
        match ws.next().await {
            Some(m) if m["type"] == "progress" => progress += 1,
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(progress, 5, "closed half-way through 10 steps");
    assert_eq!(emulator.get("/queue").await.1, json!({ "queue_running": [], "queue_pending": [] }));
    assert_eq!(emulator.get("/history").await.1, json!({}), "the history is in memory");
    for id in [&doomed, &behind, &done] {
        assert_eq!(emulator.get(&format!("/history/{id}")).await.1, json!({}));
    }
    assert_eq!(emulator.view(&saved).await.width(), 64, "the output folder stays");

    // The restarted server numbers from 0 again and runs prompts.
    let (_, answer) = emulator.post("/prompt", &json!({ "prompt": txt2img(64, 64, 1, 1, 1) })).await;
    assert_eq!(answer["number"], 0);
    let after = emulator.finished(answer["prompt_id"].as_str().expect("id")).await;
    assert_eq!(after["outputs"]["9"]["images"][0]["filename"], "atelier_00002_.png");

    // Elsewhere the restart comes first, then the answer.
    let mut ws = ws_connect(emulator.addr, "/ws?clientId=again").await.expect("connected");
    ws.next().await.expect("a greeting");
    let (status, history) = emulator.get_with("/history", Some("restart")).await;
    assert_eq!((status, history), (200, json!({})));
    while let Some(message) = ws.next().await {
        assert_eq!(message["type"], "status", "only the queue's status before the restart closes it");
    }

    let stats = emulator.stats().await;
    assert_eq!(stats["restarts"], 2);
    assert_eq!(
        (stats["prompt_states"][&doomed].as_str(), stats["prompt_states"][&behind].as_str()),
        (Some("lost"), Some("lost"))
    );
    assert_eq!((stats["ws_open"].as_u64(), stats["running"].as_u64()), (Some(0), Some(0)));
    assert_eq!(stats["faults_injected"]["restart"], 2);
}

#[tokio::test]
async fn transport_faults_delay_break_or_drop_answers() {
    let emulator = start(&["queue:always:latency=200"], |config| {
        config.timeout_fault_duration = Duration::from_millis(300);
    })
    .await;
    let body = json!({ "prompt": txt2img(64, 64, 1, 1, 1) });
    let started = Instant::now();
    assert_eq!(emulator.post_with("/prompt", &body, Some("latency=250")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let started = Instant::now();
    let (status, answer) = emulator.post_with("/prompt", &body, Some("timeout")).await;
    assert!(status == 200 && started.elapsed() >= Duration::from_millis(300));
    emulator.finished(answer["prompt_id"].as_str().expect("id")).await;
    let response = emulator.post_raw("/prompt", &body, Some("malformed")).await.expect("answered");
    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err(), "cut short");
    assert!(emulator.post_raw("/prompt", &body, Some("reset")).await.is_err(), "dropped");
    // On the WebSocket's handshake.
    assert!(ws_connect(emulator.addr, "/ws").await.is_ok());
    let refused = ws_connect_with(emulator.addr, "/ws?clientId=x", "X-Emulator-Fault: status=503\r\n").await;
    assert!(refused.as_ref().is_err_and(|head| head.starts_with("HTTP/1.1 503")), "{:?}", refused.err());
    let dropped = ws_connect_with(emulator.addr, "/ws?clientId=x", "X-Emulator-Fault: reset\r\n").await;
    assert!(dropped.as_ref().is_err_and(|e| !e.starts_with("HTTP/")), "{:?}", dropped.err());
    let started = Instant::now();
    assert_eq!(emulator.get("/queue").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200), "planned latency");

    let stats = emulator.stats().await;
    let injected = &stats["faults_injected"];
    assert_eq!((injected["latency"].as_u64(), injected["timeout"].as_u64()), (Some(2), Some(1)));
    assert_eq!((injected["malformed"].as_u64(), injected["reset"].as_u64()), (Some(1), Some(2)));
    assert_eq!((injected["status"].as_u64(), stats["ws"].as_u64()), (Some(1), Some(3)));
    assert_eq!(
        (stats["prompts_queued"].as_u64(), stats["prompt"].as_u64()),
        (Some(3), Some(4)),
        "malformed still queues"
    );
}
