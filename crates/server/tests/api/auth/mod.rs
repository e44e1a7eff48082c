//! Security over HTTP: every route behind a key, viewers only read, another user's
//! things are "not found", browser sessions with CSRF, TOTP checked against
//! independent oracles (oathtool, zbarimg), the audit log, the keys API, and the
//! QR code API; a file for each. Here: the table of routes and the helpers they share.

mod audit;
mod isolation;
mod keys;
mod qrcodes;
mod roles;
mod routes;
mod sessions;
mod totp;

use std::time::Duration;

use atelier_core::time::now_millis;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, client_with_key};

/// The routes as the server documents them (each route is registered once, with its
/// OpenAPI annotation, so this is the router's own list): `(method, path)` of those
/// that need a caller, and of the public ones (annotated `security(())`).
async fn documented_routes(app: &TestApp) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let document: Value =
        client_with_key(None).get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let (mut protected, mut public) = (Vec::new(), Vec::new());
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let is_public = operation["security"].as_array().is_some_and(|s| s.iter().any(|r| r == &json!({})));
            if is_public { &mut public } else { &mut protected }.push((method, path.clone()));
        }
    }
    (protected, public)
}

/// Real ids to fill route templates with.
struct Ids {
    task: String,
    asset: String,
    upload: String,
    prompt: String,
    key: String,
    user: String,
}

impl Ids {
    /// Ids of nothing, for routes that need none to answer.
    fn unused() -> Self {
        let none = || "none".to_owned();
        Self { task: none(), asset: none(), upload: none(), prompt: none(), key: none(), user: none() }
    }

    /// A documented path with its placeholders filled in: each `{id}` by the real id
    /// of the resource named before it (`/tasks/{id}`, `/images/{id}`).
    fn fill(&self, template: &str) -> String {
        let mut previous = "";
        let mut parts = Vec::new();
        for part in template.split('/') {
            let filled = match (previous, part) {
                (_, "{tag}") => "mine",
                (_, "{service}") => "kie",
                ("tasks" | "task" | "jobs" | "dead-letter", _) if part.starts_with('{') => &self.task,
                ("worker-keys", _) if part.starts_with('{') => "wk_none",
                ("locations", _) if part.starts_with('{') => "loc_none",
                ("webhooks" | "deliveries", _) if part.starts_with('{') => "whk_none",
                ("inputs", _) if part.starts_with('{') => "0",
                ("assets" | "images" | "history" | "shared", _) if part.starts_with('{') => &self.asset,
                ("uploads", _) if part.starts_with('{') => &self.upload,
                ("prompts", _) if part.starts_with('{') => &self.prompt,
                ("keys", _) if part.starts_with('{') => &self.key,
                ("users", _) if part.starts_with('{') => &self.user,
                // Auth comes before any look-up: a made-up run, version or proposal will do.
                ("pipelines" | "manga" | "versions" | "proposals" | "phases", _) if part.starts_with('{') => "1",
                (_, placeholder) if placeholder.starts_with('{') => panic!("no id to fill {placeholder} of {template}"),
                (_, literal) => literal,
            };
            parts.push(filled.to_owned());
            previous = part;
        }
        parts.join("/")
    }
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// Sends `method path` with `client`; unsafe methods carry a JSON body `{}`.
async fn send(client: &reqwest::Client, app: &TestApp, method_name: &str, path: &str) -> reqwest::Response {
    let mut request = client.request(method(method_name), app.url(path));
    if method_name != "GET" {
        request = request.json(&json!({}));
    }
    request.send().await.unwrap()
}

fn png_bytes(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([20, 90, 200]));
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

async fn upload_png(client: &reqwest::Client, app: &TestApp) -> String {
    let response = client
        .post(app.url("/api/v1/uploads?name=blue.png"))
        .header("content-type", "image/png")
        .body(png_bytes(12, 10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Creates a placeholder task with `client` and waits for it: (task id, image id).
async fn finished_task(client: &reqwest::Client, app: &TestApp, prompt: &str) -> (String, String) {
    let body = json!({ "model": "local/placeholder", "input": { "prompt": prompt, "width": 64, "height": 64 } });
    let response = client.post(app.url("/api/v1/tasks")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let task: Value = response.json().await.unwrap();
    let id = task["task_id"].as_str().unwrap().to_owned();
    for _ in 0..300 {
        let task: Value =
            client.get(app.url(&format!("/api/v1/tasks/{id}"))).send().await.unwrap().json().await.unwrap();
        if task["status"] == "completed" {
            return (id, task["images"][0]["image_id"].as_str().unwrap().to_owned());
        }
        assert!(!matches!(task["status"].as_str(), Some("failed" | "cancelled" | "expired")), "{task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {id} did not finish");
}

async fn json_of(client: &reqwest::Client, app: &TestApp, path: &str) -> Value {
    let response = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

async fn user_id_of(client: &reqwest::Client, app: &TestApp) -> String {
    json_of(client, app, "/api/v1/me").await["user_id"].as_str().unwrap().to_owned()
}

/// A 401 the middleware answers: the one error shape and a `WWW-Authenticate`.
async fn assert_unauthorized(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 401, "{what}");
    assert!(response.headers().contains_key("www-authenticate"), "{what}: no WWW-Authenticate");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized", "{what}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
}

/// The `atelier_session=…` pair of a `Set-Cookie`, and the whole header.
fn session_cookie(response: &reqwest::Response) -> (String, String) {
    let header = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let pair = header.split(';').next().unwrap().trim().to_owned();
    assert!(pair.starts_with("atelier_session=") && pair.len() > "atelier_session=".len() + 20, "{header}");
    (pair, header)
}

fn with_cookie(cookie: &str, csrf: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    if let Some(csrf) = csrf {
        headers.insert("x-csrf-token", csrf.parse().unwrap());
    }
    reqwest::Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(app: &TestApp, email: &str, password: &str, code: Option<&str>) -> reqwest::Response {
    let mut body = json!({ "email": email, "password": password });
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    client_with_key(None).post(app.url("/api/v1/sessions")).json(&body).send().await.unwrap()
}

async fn create_user(app: &TestApp, email: &str, password: &str, role: &str) -> String {
    let response = app.post("/api/v1/users", &json!({ "email": email, "password": password, "role": role })).await;
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    user["id"].as_str().unwrap().to_owned()
}

fn unix_now() -> i64 {
    now_millis() / 1000
}
