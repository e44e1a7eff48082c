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

/// Every route that needs a caller, as `router.rs` (and the modules it merges)
/// declares them. `{task}`, `{asset}`, `{upload}`, `{prompt}`, `{key}`, `{user}` are filled in
/// with real ids. `every_route_is_in_the_table` checks this list against the
/// OpenAPI document, so a new route cannot be left out unnoticed.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/{task}"),
    ("DELETE", "/api/v1/tasks/{task}"),
    ("POST", "/api/v1/tasks/{task}/cancel"),
    ("POST", "/api/v1/tasks/{task}/retry"),
    ("GET", "/api/v1/tasks/{task}/events"),
    ("GET", "/api/v1/assets"),
    ("GET", "/api/v1/assets/{asset}"),
    ("GET", "/api/v1/assets/{asset}/thumbnail"),
    ("POST", "/api/v1/assets/{asset}/tags"),
    ("DELETE", "/api/v1/assets/{asset}/tags/{tag}"),
    ("GET", "/api/v1/images/{asset}"),
    ("GET", "/api/v1/images/{asset}/thumbnail"),
    // Seed 004's compatible routes.
    ("POST", "/api/v1/generate"),
    ("GET", "/api/v1/task/{task}"),
    ("DELETE", "/api/v1/task/{task}"),
    ("GET", "/api/v1/history"),
    ("DELETE", "/api/v1/history/{asset}"),
    ("POST", "/api/v1/uploads"),
    ("GET", "/api/v1/uploads/{upload}"),
    ("DELETE", "/api/v1/uploads/{upload}"),
    ("GET", "/api/v1/uploads/{upload}/content"),
    ("POST", "/api/v1/prompts"),
    ("GET", "/api/v1/prompts"),
    ("GET", "/api/v1/prompts/{prompt}"),
    ("PATCH", "/api/v1/prompts/{prompt}"),
    ("DELETE", "/api/v1/prompts/{prompt}"),
    ("GET", "/api/v1/prompts/{prompt}/tree"),
    ("GET", "/api/v1/models"),
    ("POST", "/api/v1/models/refresh"),
    ("GET", "/api/v1/providers"),
    ("GET", "/api/v1/system/info"),
    ("DELETE", "/api/v1/sessions/current"),
    ("GET", "/api/v1/me"),
    ("PUT", "/api/v1/me/password"),
    ("POST", "/api/v1/me/totp"),
    ("DELETE", "/api/v1/me/totp"),
    ("POST", "/api/v1/me/totp/confirm"),
    ("GET", "/api/v1/keys"),
    ("POST", "/api/v1/keys"),
    ("DELETE", "/api/v1/keys/{key}"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{user}"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/qrcodes"),
];

/// The routes that answer without a credential.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/sessions"),
    ("GET", "/api/v1/sessions/link"),
    ("GET", "/api/v1/sessions/current"),
    ("POST", "/api/v1/callbacks/{service}"),
];

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
    fn fill(&self, template: &str) -> String {
        template
            .replace("{task}", &self.task)
            .replace("{asset}", &self.asset)
            .replace("{upload}", &self.upload)
            .replace("{prompt}", &self.prompt)
            .replace("{key}", &self.key)
            .replace("{user}", &self.user)
            .replace("{tag}", "mine")
            .replace("{service}", "kie")
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
