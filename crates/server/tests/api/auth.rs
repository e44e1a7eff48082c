//! Issue 4's security tests: every route behind a key, viewers only read, another
//! user's things are "not found", browser sessions with CSRF, TOTP checked against
//! independent oracles (oathtool, zbarimg), the audit log, the keys API, and the
//! QR code API.

use std::process::Command;
use std::time::Duration;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::account::{ApiKey, Role, secrets};
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{Job, Polled, Provider, ProviderError, Submitted};
use atelier_core::time::now_millis;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error, client_with_key};

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

/// Every file under the data directory (blobs and thumbnails).
fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() { files_under(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// (tasks, images, users, files under the data directory), as the admin sees them.
async fn counts(app: &TestApp) -> (usize, usize, usize, usize) {
    let tasks: Value = app.get("/api/v1/tasks?limit=100").await.json().await.unwrap();
    let assets: Value = app.get("/api/v1/assets?limit=100").await.json().await.unwrap();
    let users: Value = app.get("/api/v1/users").await.json().await.unwrap();
    (
        tasks["tasks"].as_array().unwrap().len(),
        assets["images"].as_array().unwrap().len(),
        users["users"].as_array().unwrap().len(),
        files_under(app.data_dir()),
    )
}

/// A 401 the middleware answers: the one error shape and a `WWW-Authenticate`.
async fn assert_unauthorized(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 401, "{what}");
    assert!(response.headers().contains_key("www-authenticate"), "{what}: no WWW-Authenticate");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized", "{what}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
}

// ---------------------------------------------------------------------------
// 1. Every route needs a valid key.

#[tokio::test]
async fn every_route_is_in_the_table() {
    let app = TestApp::spawn().await;
    let document: Value =
        client_with_key(None).get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut documented = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_ascii_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                documented.push((method, path.clone()));
            }
        }
    }
    // The table's templates use other placeholder names than the document.
    let normalise = |path: &str| {
        path.split('/').map(|part| if part.starts_with('{') { "{}" } else { part }).collect::<Vec<_>>().join("/")
    };
    let table: Vec<(String, String)> =
        ROUTES.iter().chain(PUBLIC).map(|(m, p)| ((*m).to_owned(), normalise(p))).collect();
    for (method, path) in &documented {
        assert!(table.contains(&(method.clone(), normalise(path))), "{method} {path} is not in the table");
    }
    for (method, path) in &table {
        assert!(
            documented.iter().any(|(m, p)| m == method && &normalise(p) == path),
            "{method} {path} is in the table but not a documented route"
        );
    }
    assert_eq!(table.len(), documented.len(), "every route once in each");
}

#[tokio::test]
async fn every_route_refuses_a_missing_wrong_revoked_or_expired_key() {
    let app = TestApp::spawn().await;
    let (task, asset) = finished_task(&app.http, &app, "a locked door").await;
    let upload = upload_png(&app.http, &app).await;
    assert!(app.post(&format!("/api/v1/assets/{asset}/tags"), &json!({ "tag": "mine" })).await.status().is_success());
    let (member, _) = app.user("member@example.com", Role::Member).await;
    let user = user_id_of(&member, &app).await;

    // A key that worked, then was revoked through the API.
    let created: Value = app.post("/api/v1/keys", &json!({ "name": "soon revoked" })).await.json().await.unwrap();
    let revoked_key = created["key"].as_str().unwrap().to_owned();
    let revoked_client = client_with_key(Some(&revoked_key));
    assert_eq!(revoked_client.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete(&format!("/api/v1/keys/{key_id}")).await.status(), 200);

    // A key that expired a second ago, straight through the store (the API refuses
    // to make one), and its twin that has not expired, to show the row is sound.
    let admin = app.accounts.store().find_user_by_email("admin@localhost").await.unwrap().unwrap();
    let stored_key = |expires_at| {
        let (secret, prefix) = secrets::new_api_key();
        let key = ApiKey {
            id: atelier_core::ApiKeyId::new(),
            user_id: admin.id.clone(),
            name: "expiry".into(),
            prefix,
            secret_hash: secrets::token_hash(&secret),
            role: Role::Admin,
            created_at: now_millis() - 60_000,
            expires_at: Some(expires_at),
            last_used_at: None,
            revoked_at: None,
        };
        (key, secret)
    };
    let (expired, expired_key) = stored_key(now_millis() - 1_000);
    let (fresh, fresh_key) = stored_key(now_millis() + 3_600_000);
    app.accounts.store().create_key(&expired).await.unwrap();
    app.accounts.store().create_key(&fresh).await.unwrap();
    assert_eq!(client_with_key(Some(&fresh_key)).get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);

    // Wrong keys: not a key at all, a well-formed unknown one, and the admin's key
    // with its last character changed (a known prefix, a wrong secret).
    let mut altered = app.admin_key.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let unknown = format!("atl_000000000000_{}", "A".repeat(43));
    let prompt: Value = app.post("/api/v1/prompts", &json!({ "content": "a locked door" })).await.json().await.unwrap();
    let prompt = prompt["id"].as_str().unwrap().to_owned();
    let ids = Ids {
        task: task.clone(),
        asset: asset.clone(),
        upload: upload.clone(),
        prompt: prompt.clone(),
        key: key_id,
        user,
    };

    let credentials: Vec<(&str, reqwest::Client)> = vec![
        ("no key", client_with_key(None)),
        ("not a key", client_with_key(Some("letmein"))),
        ("an unknown key", client_with_key(Some(&unknown))),
        ("a wrong secret", client_with_key(Some(&altered))),
        ("a revoked key", revoked_client),
        ("an expired key", client_with_key(Some(&expired_key))),
        ("a session cookie nobody issued", {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("cookie", "atelier_session=forged".parse().unwrap());
            headers.insert("x-csrf-token", "forged".parse().unwrap());
            reqwest::Client::builder().default_headers(headers).build().unwrap()
        }),
    ];
    for (what, client) in &credentials {
        for (method_name, template) in ROUTES {
            let path = ids.fill(template);
            assert_unauthorized(send(client, &app, method_name, &path).await, &format!("{what}: {method_name} {path}"))
                .await;
        }
    }

    // Nothing changed on the way.
    let after = app.get(&format!("/api/v1/tasks/{task}")).await;
    assert_eq!(after.status(), 200);
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["images"][0]["tags"], json!(["mine"]));
    assert_eq!(app.get(&format!("/api/v1/uploads/{upload}")).await.status(), 200);
    assert_eq!(app.get(&format!("/api/v1/prompts/{prompt}")).await.status(), 200);
    let keys: Value = app.get("/api/v1/keys").await.json().await.unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 4, "the CLI key, the revoked one and the two stored: {keys}");
}

#[tokio::test]
async fn public_routes_answer_without_a_key() {
    let app = TestApp::spawn().await;
    let anonymous = client_with_key(None);
    let health = anonymous.get(app.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // The handlers themselves answer: a malformed sign-in is a validation error,
    // a link without its token a validation error (in the one error shape), not the
    // middleware's 401.
    let sign_in = anonymous.post(app.url("/api/v1/sessions")).json(&json!({})).send().await.unwrap();
    assert!([400, 422].contains(&sign_in.status().as_u16()), "{}", sign_in.status());
    assert!(!sign_in.headers().contains_key("www-authenticate"));
    let link = anonymous.get(app.url("/api/v1/sessions/link")).send().await.unwrap();
    crate::helpers::assert_error(link, 422, "validation_error").await;
    let callback = anonymous.post(app.url("/api/v1/callbacks/kie")).json(&json!({})).send().await.unwrap();
    assert_ne!(callback.status(), 401, "callbacks carry no key of ours");
    assert!(!callback.headers().contains_key("www-authenticate"));
    assert_eq!(anonymous.get(app.url("/openapi.json")).send().await.unwrap().status(), 200);
}

// ---------------------------------------------------------------------------
// 2. Viewers read, never write.

#[tokio::test]
async fn a_viewer_key_reads_but_every_write_is_forbidden() {
    let app = TestApp::spawn().await;
    let (member, _) = app.user("maker@example.com", Role::Member).await;
    let (task, asset) = finished_task(&member, &app, "a quiet harbour").await;
    let upload = upload_png(&member, &app).await;
    let tag = member.post(app.url(&format!("/api/v1/assets/{asset}/tags"))).json(&json!({ "tag": "mine" }));
    assert!(tag.send().await.unwrap().status().is_success());
    // A viewer key of the same member: its own things are in reach, so every
    // refusal below is the role's, not ownership's.
    let created = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "read only", "role": "viewer" }));
    let created: Value = created.send().await.unwrap().json().await.unwrap();
    assert_eq!(created["role"], "viewer");
    let viewer = client_with_key(created["key"].as_str());
    let me = json_of(&viewer, &app, "/api/v1/me").await;
    assert_eq!(me["role"], "viewer");
    let member_id = me["user_id"].as_str().unwrap().to_owned();

    let before = counts(&app).await;

    let png = png_bytes(8, 8);
    let writes: Vec<(&str, String, Value)> = vec![
        ("POST", "/api/v1/tasks".into(), json!({ "model": "local/placeholder", "input": { "prompt": "x" } })),
        ("POST", "/api/v1/generate".into(), json!({ "prompt": "x" })),
        ("POST", "/api/v1/qrcodes".into(), json!({ "text": "x" })),
        ("POST", format!("/api/v1/tasks/{task}/retry"), json!({})),
        ("POST", format!("/api/v1/tasks/{task}/cancel"), json!({})),
        ("DELETE", format!("/api/v1/tasks/{task}"), json!({})),
        ("DELETE", format!("/api/v1/task/{task}"), json!({})),
        ("DELETE", format!("/api/v1/history/{asset}"), json!({})),
        ("DELETE", format!("/api/v1/history/{task}"), json!({})),
        ("POST", format!("/api/v1/assets/{asset}/tags"), json!({ "tag": "viewer-was-here" })),
        ("DELETE", format!("/api/v1/assets/{asset}/tags/mine"), json!({})),
        ("DELETE", format!("/api/v1/uploads/{upload}"), json!({})),
        ("POST", "/api/v1/users".into(), json!({ "email": "new@example.com", "role": "admin" })),
        ("PATCH", format!("/api/v1/users/{member_id}"), json!({ "role": "admin" })),
    ];
    for (method_name, path, body) in &writes {
        let response = viewer.request(method(method_name), app.url(path)).json(body).send().await.unwrap();
        assert_error(response, 403, "forbidden").await;
    }
    let raw = viewer.post(app.url("/api/v1/uploads?name=v.png")).header("content-type", "image/png").body(png.clone());
    assert_error(raw.send().await.unwrap(), 403, "forbidden").await;
    let part = reqwest::multipart::Part::bytes(png).file_name("v.png").mime_str("image/png").unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    assert_error(viewer.post(app.url("/api/v1/uploads")).multipart(form).send().await.unwrap(), 403, "forbidden").await;
    // Admin reads are not a viewer's either.
    for path in ["/api/v1/users", "/api/v1/audit", "/api/v1/keys?all=true"] {
        assert_error(viewer.get(app.url(path)).send().await.unwrap(), 403, "forbidden").await;
    }

    assert_eq!(counts(&app).await, before, "(tasks, images, users, files) changed");
    let task_now = json_of(&member, &app, &format!("/api/v1/tasks/{task}")).await;
    assert_eq!(task_now["status"], "completed");
    assert_eq!(task_now["images"][0]["tags"], json!(["mine"]));
    assert_eq!(member.get(app.url(&format!("/api/v1/uploads/{upload}"))).send().await.unwrap().status(), 200);
    let users: Value = app.get("/api/v1/users").await.json().await.unwrap();
    let maker = users["users"].as_array().unwrap().iter().find(|u| u["id"] == member_id.as_str()).unwrap();
    assert_eq!(maker["role"], "member");

    // The viewer key reads its user's things.
    assert_eq!(json_of(&viewer, &app, &format!("/api/v1/tasks/{task}")).await["task_id"], task.as_str());
    assert_eq!(viewer.get(app.url(&format!("/api/v1/images/{asset}"))).send().await.unwrap().status(), 200);
    assert_eq!(viewer.get(app.url(&format!("/api/v1/uploads/{upload}/content"))).send().await.unwrap().status(), 200);

    // A viewer user with nothing of its own reads its empty lists.
    let (reader, _) = app.user("reader@example.com", Role::Viewer).await;
    assert_eq!(json_of(&reader, &app, "/api/v1/tasks").await["tasks"], json!([]));
    assert_eq!(json_of(&reader, &app, "/api/v1/assets").await["images"], json!([]));
    let history = json_of(&reader, &app, "/api/v1/history").await;
    assert_eq!(history["images"], json!([]), "{history}");
    assert!(json_of(&reader, &app, "/api/v1/models").await.is_object());
    assert_eq!(json_of(&reader, &app, "/api/v1/me").await["role"], "viewer");
    let keys = json_of(&reader, &app, "/api/v1/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "its own key only: {keys}");
    assert_error(reader.get(app.url(&format!("/api/v1/tasks/{task}"))).send().await.unwrap(), 404, "not_found").await;
}

#[tokio::test]
async fn a_key_scoped_below_its_user_cannot_take_over_the_account() {
    // A member's viewer key must not be a way to the member's full role: setting a
    // password (then signing in with it) or turning two-factor on would be one.
    let app = TestApp::spawn().await;
    let (member, _) = app.user("scoped@example.com", Role::Member).await;
    let created = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "ro", "role": "viewer" }));
    let created: Value = created.send().await.unwrap().json().await.unwrap();
    let viewer = client_with_key(created["key"].as_str());
    let password = viewer.put(app.url("/api/v1/me/password")).json(&json!({ "new_password": "a long password 1" }));
    assert_error(password.send().await.unwrap(), 403, "forbidden").await;
    let sign_in = json!({ "email": "scoped@example.com", "password": "a long password 1" });
    let response = client_with_key(None).post(app.url("/api/v1/sessions")).json(&sign_in).send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
    assert_error(viewer.post(app.url("/api/v1/me/totp")).send().await.unwrap(), 403, "forbidden").await;
    let me = json_of(&member, &app, "/api/v1/me").await;
    assert_eq!((me["has_password"].as_bool(), me["totp_enabled"].as_bool()), (Some(false), Some(false)));
    // The member's own key still does both.
    let password = member.put(app.url("/api/v1/me/password")).json(&json!({ "new_password": "a long password 1" }));
    assert_eq!(password.send().await.unwrap().status(), 204);
    assert_eq!(member.post(app.url("/api/v1/me/totp")).send().await.unwrap().status(), 201);
}

// ---------------------------------------------------------------------------
// 3. Another user's things do not exist.

/// `ref/files`: a model whose input names files (`files: [upl_…, img_…]`), to
/// check input references against their owner.
struct Files;

#[async_trait]
impl Provider for Files {
    fn service(&self) -> &str {
        "ref"
    }

    fn models(&self) -> Vec<ModelSpec> {
        vec![ModelSpec {
            service: "ref".into(),
            model: "files".into(),
            modality: Modality::Image,
            title: "files".into(),
            description: "names input files".into(),
            input_schema: json!({ "type": "object" }),
            estimated_seconds: 1,
            poll_timeout_secs: None,
            requires_config: None,
        }]
    }

    fn validate(&self, _model: &str, input: &Value) -> Result<Value, CoreError> {
        Ok(input.clone())
    }

    fn submit_is_costly(&self) -> bool {
        false
    }

    fn input_files(&self, _model: &str, input: &Value) -> Vec<String> {
        input["files"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    }

    async fn submit(&self, _job: &Job<'_>) -> Result<Submitted, ProviderError> {
        Ok(Submitted::Finished(Vec::new()))
    }

    async fn poll(&self, _job: &Job<'_>, _external_id: &str) -> Result<Polled, ProviderError> {
        Ok(Polled::Finished(Vec::new()))
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[tokio::test]
async fn another_users_things_are_not_found() {
    let options = Options { providers: vec![std::sync::Arc::new(Files)], ..Options::default() };
    let app = TestApp::with(options).await.unwrap();
    let (alice, _) = app.user("alice@example.com", Role::Member).await;
    let (bob, _) = app.user("bob@example.com", Role::Member).await;
    let (task, asset) = finished_task(&alice, &app, "alice's garden").await;
    let upload = upload_png(&alice, &app).await;
    let tag = alice.post(app.url(&format!("/api/v1/assets/{asset}/tags"))).json(&json!({ "tag": "mine" }));
    assert!(tag.send().await.unwrap().status().is_success());
    let image = alice.get(app.url(&format!("/api/v1/images/{asset}"))).send().await.unwrap().bytes().await.unwrap();
    let content = alice.get(app.url(&format!("/api/v1/uploads/{upload}/content"))).send().await.unwrap();
    let content = content.bytes().await.unwrap();
    let (bobs_task, _) = finished_task(&bob, &app, "bob's shed").await;

    let tries: Vec<(&str, String, Value)> = vec![
        ("GET", format!("/api/v1/tasks/{task}"), json!(null)),
        ("GET", format!("/api/v1/task/{task}"), json!(null)),
        ("GET", format!("/api/v1/tasks/{task}/events"), json!(null)),
        ("GET", format!("/api/v1/assets/{asset}"), json!(null)),
        ("GET", format!("/api/v1/images/{asset}"), json!(null)),
        ("GET", format!("/api/v1/assets/{asset}/thumbnail"), json!(null)),
        ("GET", format!("/api/v1/images/{asset}/thumbnail"), json!(null)),
        ("POST", format!("/api/v1/assets/{asset}/tags"), json!({ "tag": "bob-was-here" })),
        ("DELETE", format!("/api/v1/assets/{asset}/tags/mine"), json!(null)),
        ("POST", format!("/api/v1/tasks/{task}/retry"), json!({})),
        ("POST", format!("/api/v1/tasks/{task}/cancel"), json!({})),
        ("DELETE", format!("/api/v1/tasks/{task}"), json!(null)),
        ("DELETE", format!("/api/v1/task/{task}"), json!(null)),
        ("DELETE", format!("/api/v1/history/{asset}"), json!(null)),
        ("DELETE", format!("/api/v1/history/{task}"), json!(null)),
        ("GET", format!("/api/v1/uploads/{upload}"), json!(null)),
        ("GET", format!("/api/v1/uploads/{upload}/content"), json!(null)),
        ("DELETE", format!("/api/v1/uploads/{upload}"), json!(null)),
    ];
    for (method_name, path, body) in &tries {
        let mut request = bob.request(method(method_name), app.url(path));
        if !body.is_null() {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let what = format!("{method_name} {path}");
        assert_eq!(response.status(), 404, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{what}: {body}");
    }

    // Naming Alice's files as inputs: the same answer as for files that do not exist.
    let create = |client: &reqwest::Client, file: &str| {
        client
            .post(app.url("/api/v1/tasks"))
            .json(&json!({ "model": "ref/files", "input": { "files": [file] } }))
            .send()
    };
    // A real id of a file that is gone, for comparison.
    let gone = upload_png(&bob, &app).await;
    assert_eq!(bob.delete(app.url(&format!("/api/v1/uploads/{gone}"))).send().await.unwrap().status(), 204);
    let missing = assert_error(create(&bob, &gone).await.unwrap(), 422, "validation_error").await;
    for file in [upload.as_str(), asset.as_str()] {
        let body = assert_error(create(&bob, file).await.unwrap(), 422, "validation_error").await;
        assert_eq!(body["details"]["reason"], missing["details"]["reason"], "{body}");
        assert_eq!(body["details"]["reason"], "no such file", "{body}");
        assert_eq!(create(&alice, file).await.unwrap().status(), 202, "Alice may use her own {file}");
    }

    // Alice's things are untouched.
    let task_now = json_of(&alice, &app, &format!("/api/v1/tasks/{task}")).await;
    assert_eq!(task_now["status"], "completed");
    assert_eq!(task_now["images"][0]["tags"], json!(["mine"]));
    let image_now = alice.get(app.url(&format!("/api/v1/images/{asset}"))).send().await.unwrap();
    assert_eq!(image_now.bytes().await.unwrap(), image);
    let content_now = alice.get(app.url(&format!("/api/v1/uploads/{upload}/content"))).send().await.unwrap();
    assert_eq!(content_now.bytes().await.unwrap(), content);
    let alices: Value = json_of(&alice, &app, "/api/v1/tasks").await;
    assert_eq!(alices["tasks"].as_array().unwrap().iter().filter(|t| t["retry_of"] == task.as_str()).count(), 0);

    // The admin sees Alice's task; Bob's lists hold only his own.
    assert_eq!(app.get(&format!("/api/v1/tasks/{task}")).await.status(), 200);
    let bobs: Value = json_of(&bob, &app, "/api/v1/tasks").await;
    let bob_ids: Vec<&str> = bobs["tasks"].as_array().unwrap().iter().filter_map(|t| t["task_id"].as_str()).collect();
    assert_eq!(bob_ids, [bobs_task.as_str()]);
    let bobs_images: Value = json_of(&bob, &app, "/api/v1/assets").await;
    assert!(!bobs_images.to_string().contains(&asset), "{bobs_images}");
    let admins: Value = app.get("/api/v1/tasks").await.json().await.unwrap();
    assert!(admins["tasks"].as_array().unwrap().iter().any(|t| t["task_id"] == task.as_str()));
}

// ---------------------------------------------------------------------------
// 4. Browser sessions.

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

#[tokio::test]
async fn sessions_use_a_strict_cookie_and_a_csrf_token() {
    let app = TestApp::spawn().await;
    let password = "correct horse battery";
    create_user(&app, "web@example.com", password, "member").await;

    let response = sign_in(&app, "web@example.com", password, None).await;
    assert_eq!(response.status(), 201);
    let (cookie, header) = session_cookie(&response);
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Strict"), "{header}");
    let session: Value = response.json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    assert!(csrf.len() >= 32);
    assert!(!header.contains(&csrf), "the CSRF token is not the cookie");

    let browser = with_cookie(&cookie, None);
    let me = json_of(&browser, &app, "/api/v1/me").await;
    assert_eq!((me["email"].as_str(), me["signed_in_with"].as_str()), (Some("web@example.com"), Some("session")));
    assert_eq!(me["csrf_token"], csrf.as_str());

    let task = json!({ "model": "local/placeholder", "input": { "prompt": "from a browser" } });
    let before = json_of(&browser, &app, "/api/v1/tasks").await["tasks"].as_array().unwrap().len();
    let response = browser.post(app.url("/api/v1/tasks")).json(&task).send().await.unwrap();
    assert_error(response, 403, "csrf_token_missing").await;
    let response = with_cookie(&cookie, Some("not-the-token")).post(app.url("/api/v1/tasks")).json(&task).send().await;
    assert_error(response.unwrap(), 403, "csrf_token_missing").await;
    // Another session's token is no good either.
    let other: Value = sign_in(&app, "web@example.com", password, None).await.json().await.unwrap();
    let response = with_cookie(&cookie, other["csrf_token"].as_str()).post(app.url("/api/v1/tasks")).json(&task);
    assert_error(response.send().await.unwrap(), 403, "csrf_token_missing").await;
    assert_eq!(json_of(&browser, &app, "/api/v1/tasks").await["tasks"].as_array().unwrap().len(), before);
    let signed = with_cookie(&cookie, Some(&csrf));
    assert_eq!(signed.post(app.url("/api/v1/tasks")).json(&task).send().await.unwrap().status(), 202);
    assert_eq!(json_of(&browser, &app, "/api/v1/tasks").await["tasks"].as_array().unwrap().len(), before + 1);

    // Signing out ends the session: the cookie is worthless from then on.
    assert_error(browser.delete(app.url("/api/v1/sessions/current")).send().await.unwrap(), 403, "csrf_token_missing")
        .await;
    let out = signed.delete(app.url("/api/v1/sessions/current")).send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_unauthorized(browser.get(app.url("/api/v1/me")).send().await.unwrap(), "signed out").await;
    assert_unauthorized(signed.post(app.url("/api/v1/tasks")).json(&task).send().await.unwrap(), "signed out").await;
}

#[tokio::test]
async fn wrong_passwords_are_401_and_repeated_ones_429() {
    let app = TestApp::spawn().await;
    let password = "correct horse battery";
    create_user(&app, "guess@example.com", password, "member").await;
    create_user(&app, "bystander@example.com", password, "member").await;
    assert_error(sign_in(&app, "guess@example.com", "wrong password!", None).await, 401, "unauthorized").await;
    assert_error(sign_in(&app, "nobody@example.com", password, None).await, 401, "unauthorized").await;
    // A success clears the count.
    assert_eq!(sign_in(&app, "guess@example.com", password, None).await.status(), 201);
    for _ in 0..5 {
        assert_error(sign_in(&app, "guess@example.com", "wrong password!", None).await, 401, "unauthorized").await;
    }
    // Even the right password waits now.
    let response = sign_in(&app, "GUESS@example.com", password, None).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert_error(response, 429, "rate_limit_exceeded").await;
    // Another account is not held up.
    assert_eq!(sign_in(&app, "bystander@example.com", password, None).await.status(), 201);
}

#[tokio::test]
async fn a_one_time_link_signs_in_once() {
    let app = TestApp::spawn().await;
    let admin = app.accounts.store().find_user_by_email("admin@localhost").await.unwrap().unwrap();
    let token = secrets::new_token();
    let store = app.accounts.store();
    store.create_sign_in_link(&admin.id, &secrets::token_hash(&token), now_millis() + 60_000).await.unwrap();
    let stale = secrets::new_token();
    store.create_sign_in_link(&admin.id, &secrets::token_hash(&stale), now_millis() - 1_000).await.unwrap();

    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let link = app.url(&format!("/api/v1/sessions/link?token={token}"));
    let response = anonymous.get(&link).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let (cookie, header) = session_cookie(&response);
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict"), "{header}");
    let me = json_of(&with_cookie(&cookie, None), &app, "/api/v1/me").await;
    assert_eq!((me["email"].as_str(), me["role"].as_str()), (Some("admin@localhost"), Some("admin")));

    let again = anonymous.get(&link).send().await.unwrap();
    assert!(!again.headers().contains_key("set-cookie"));
    assert_error(again, 401, "unauthorized").await;
    let response = anonymous.get(app.url(&format!("/api/v1/sessions/link?token={stale}"))).send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
    let response = anonymous.get(app.url("/api/v1/sessions/link?token=made-up")).send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
}

// ---------------------------------------------------------------------------
// 5. TOTP, checked against oathtool and zbarimg.

/// Whether the command-line tools the test needs are here. Missing: a failure when
/// `ATELIER_TEST_REQUIRE_TOOLS=1` (as `scripts/test` sets), a skip otherwise.
fn tools_present(tools: &[&str]) -> bool {
    let missing: Vec<&str> =
        tools.iter().copied().filter(|tool| Command::new(tool).arg("--version").output().is_err()).collect();
    if missing.is_empty() {
        return true;
    }
    let note = format!("missing {missing:?} (scripts/install-test-deps installs them)");
    assert!(std::env::var("ATELIER_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"), "{note}");
    eprintln!("skipped: {note}");
    false
}

/// oathtool's code for the secret, at `unix_secs` (now when `None`).
fn oathtool(secret: &str, unix_secs: Option<i64>) -> String {
    let mut command = Command::new("oathtool");
    command.args(["--totp", "-b", secret]);
    if let Some(secs) = unix_secs {
        let at = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        command.arg(format!("--now={}", at.format("%Y-%m-%d %H:%M:%S UTC")));
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "oathtool: {}", String::from_utf8_lossy(&output.stderr));
    let code = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    code
}

fn unix_now() -> i64 {
    now_millis() / 1000
}

/// Waits out the end of a 30-second step, so that a code made now is still this
/// step's when the server checks it.
async fn away_from_a_step_edge() {
    let into_step = unix_now() % 30;
    if into_step >= 27 {
        tokio::time::sleep(Duration::from_secs(u64::try_from(31 - into_step).unwrap())).await;
    }
}

#[tokio::test]
async fn totp_enrolment_and_sign_in_agree_with_oathtool_and_zbarimg() {
    if !tools_present(&["oathtool", "zbarimg"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let email = "two.factor@example.com";
    let password = "correct horse battery";
    let user_id = create_user(&app, email, password, "member").await;
    let response = sign_in(&app, email, password, None).await;
    let (cookie, _) = session_cookie(&response);
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let browser = with_cookie(&cookie, Some(&csrf));

    let response = browser.post(app.url("/api/v1/me/totp")).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let enrolment: Value = response.json().await.unwrap();
    let uri = enrolment["otpauth_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let parsed = url::Url::parse(&uri).unwrap();
    let query: std::collections::HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    let secret = query["secret"].clone();
    assert_eq!(enrolment["secret"], secret.as_str());
    assert_eq!(query.get("issuer").map(String::as_str), Some("Atelier"));
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"), "{}", enrolment["qr_svg"]);

    // zbarimg reads the PNG back to the very same URI.
    let png = enrolment["qr_png"].as_str().unwrap().strip_prefix("data:image/png;base64,").expect("a PNG data URI");
    let png = base64::engine::general_purpose::STANDARD.decode(png).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("totp.png");
    std::fs::write(&file, &png).unwrap();
    let output = Command::new("zbarimg").args(["--raw", "-q"]).arg(&file).output().unwrap();
    assert!(output.status.success(), "zbarimg: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim_end_matches('\n'), uri);

    // Stored sealed, never in clear.
    let stored = app.accounts.store().get_user(&atelier_core::UserId::parse(&user_id).unwrap()).await.unwrap().unwrap();
    let sealed = stored.totp_secret.expect("stored");
    assert!(!sealed.contains(&secret) && !sealed.to_ascii_uppercase().contains(&secret), "{sealed}");

    // Confirmed with the previous step's code (within the allowed skew), so that
    // the current step's code is still fresh for the sign-in below.
    away_from_a_step_edge().await;
    let wrong = browser.post(app.url("/api/v1/me/totp/confirm")).json(&json!({ "code": "000000" })).send().await;
    assert_error(wrong.unwrap(), 422, "validation_error").await;
    let previous = oathtool(&secret, Some(unix_now() - 30));
    let response =
        browser.post(app.url("/api/v1/me/totp/confirm")).json(&json!({ "code": previous })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let codes: Value = response.json().await.unwrap();
    let recovery: Vec<String> =
        codes["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(recovery.iter().collect::<std::collections::HashSet<_>>().len(), 10);

    assert_error(sign_in(&app, email, password, None).await, 401, "totp_required").await;
    assert_error(sign_in(&app, email, "wrong password!", Some(&previous)).await, 401, "unauthorized").await;
    away_from_a_step_edge().await;
    let current = oathtool(&secret, None);
    assert_eq!(sign_in(&app, email, password, Some(&current)).await.status(), 201);
    assert_error(sign_in(&app, email, password, Some(&current)).await, 401, "unauthorized").await;
    let stale = oathtool(&secret, Some(unix_now() - 300));
    assert_ne!(stale, current);
    assert_error(sign_in(&app, email, password, Some(&stale)).await, 401, "unauthorized").await;
    assert_eq!(sign_in(&app, email, password, Some(&recovery[0])).await.status(), 201);
    assert_error(sign_in(&app, email, password, Some(&recovery[0])).await, 401, "unauthorized").await;

    // Off with a code: the next step's (within the skew, and later than the last used).
    let off = browser.delete(app.url("/api/v1/me/totp")).json(&json!({ "code": current })).send().await.unwrap();
    assert_error(off, 422, "validation_error").await;
    assert!(json_of(&browser, &app, "/api/v1/me").await["totp_enabled"].as_bool().unwrap());
    let next = oathtool(&secret, Some(unix_now() + 30));
    let off = browser.delete(app.url("/api/v1/me/totp")).json(&json!({ "code": next })).send().await.unwrap();
    assert_eq!(off.status(), 204);
    assert!(!json_of(&browser, &app, "/api/v1/me").await["totp_enabled"].as_bool().unwrap());
    assert_eq!(sign_in(&app, email, password, None).await.status(), 201);
    let stored = app.accounts.store().get_user(&atelier_core::UserId::parse(&user_id).unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.totp_secret, None);
}

// ---------------------------------------------------------------------------
// 6. The audit log.

#[tokio::test]
async fn the_audit_log_records_security_events_without_secrets() {
    let app = TestApp::spawn().await;
    let email = "audited@example.com";
    let password = "correct horse battery";
    let wrong_password = "wrong password here";
    let user_id = create_user(&app, email, password, "member").await;
    assert_eq!(sign_in(&app, email, wrong_password, None).await.status(), 401);
    let response = sign_in(&app, email, password, None).await;
    assert_eq!(response.status(), 201);
    let (cookie, _) = session_cookie(&response);
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let browser = with_cookie(&cookie, Some(&csrf));

    let created: Value = browser
        .post(app.url("/api/v1/keys"))
        .json(&json!({ "name": "audited" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(browser.delete(app.url(&format!("/api/v1/keys/{key_id}"))).send().await.unwrap().status(), 200);

    let enrolment: Value = browser.post(app.url("/api/v1/me/totp")).send().await.unwrap().json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let now = u64::try_from(unix_now()).unwrap();
    let first = atelier_core::account::totp::code_at(&secret, now - 30).unwrap();
    let confirmed = browser.post(app.url("/api/v1/me/totp/confirm")).json(&json!({ "code": first })).send().await;
    let confirmed: Value = confirmed.unwrap().json().await.unwrap();
    let recovery: Vec<String> =
        confirmed["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    let wrong_code = if first == "123456" { "654321" } else { "123456" };
    let off = browser.delete(app.url("/api/v1/me/totp")).json(&json!({ "code": wrong_code })).send().await.unwrap();
    assert_eq!(off.status(), 422);
    let off = browser.delete(app.url("/api/v1/me/totp")).json(&json!({ "code": recovery[3] })).send().await.unwrap();
    assert_eq!(off.status(), 204);

    let patch = app.http.patch(app.url(&format!("/api/v1/users/{user_id}"))).json(&json!({ "role": "viewer" }));
    assert_eq!(patch.send().await.unwrap().status(), 200);

    let response = app.get("/api/v1/audit?limit=500").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let log: Value = serde_json::from_str(&text).unwrap();
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in
        ["sign_in", "sign_in_failed", "key_created", "key_revoked", "totp_enabled", "totp_disabled", "role_changed"]
    {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let changed = entries.iter().find(|e| e["action"] == "role_changed").unwrap();
    assert_eq!(changed["target"], user_id.as_str());
    assert_eq!(
        (changed["detail"]["from"].as_str(), changed["detail"]["to"].as_str()),
        (Some("member"), Some("viewer"))
    );
    let revoked = entries.iter().find(|e| e["action"] == "key_revoked").unwrap();
    assert_eq!(revoked["target"], key_id.as_str());
    // Newest first.
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    let mut secrets_seen = vec![
        key.clone(),
        key[key.len() - 20..].to_owned(),
        app.admin_key.clone(),
        password.to_owned(),
        wrong_password.to_owned(),
        secret.clone(),
        first.clone(),
        cookie.trim_start_matches("atelier_session=").to_owned(),
        csrf.clone(),
    ];
    secrets_seen.extend(recovery.iter().cloned());
    secrets_seen.extend(recovery.iter().map(|c| c.replace('-', "")));
    for entry in entries {
        let entry = entry.to_string();
        for secret in &secrets_seen {
            assert!(!entry.contains(secret.as_str()), "an audit entry holds a secret ({secret}): {entry}");
        }
    }

    let (member, _) = app.user("nosy@example.com", Role::Member).await;
    assert_error(member.get(app.url("/api/v1/audit")).send().await.unwrap(), 403, "forbidden").await;
}

// ---------------------------------------------------------------------------
// 7. The keys API.

#[tokio::test]
async fn keys_are_shown_once_and_stay_within_their_owner() {
    let app = TestApp::spawn().await;
    let (member, member_key) = app.user("keys@example.com", Role::Member).await;
    let (other, other_key) = app.user("other@example.com", Role::Member).await;
    let other_id = user_id_of(&other, &app).await;
    let member_id = user_id_of(&member, &app).await;

    let response = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "laptop" })).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("atl_") && secret.starts_with(&prefix) && secret.len() > prefix.len() + 32, "{created}");
    assert_eq!((created["role"].as_str(), created["user_id"].as_str()), (Some("member"), Some(member_id.as_str())));
    let laptop = client_with_key(Some(&secret));
    assert_eq!(json_of(&laptop, &app, "/api/v1/me").await["role"], "member");

    let listed = member.get(app.url("/api/v1/keys")).send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains(&secret) && !listed.contains(&member_key), "{listed}");
    assert!(!listed.contains(&secrets::token_hash(&secret)), "{listed}");
    assert!(!listed.contains(&secret[prefix.len() + 1..]), "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{listed}");
    assert!(keys.iter().any(|k| k["prefix"] == prefix.as_str() && k["id"] == created["id"]));
    assert!(keys.iter().all(|k| k.get("key").is_none() && k["user_id"] == member_id.as_str()));

    // No more than its own role…
    let response = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "up", "role": "admin" })).send().await;
    let raised: Value = response.unwrap().json().await.unwrap();
    assert_eq!(raised["role"], "member", "{raised}");
    let raised_client = client_with_key(raised["key"].as_str());
    assert_error(raised_client.get(app.url("/api/v1/users")).send().await.unwrap(), 403, "forbidden").await;
    // …and never for someone else.
    let response = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "theirs", "user_id": other_id }));
    assert_error(response.send().await.unwrap(), 403, "forbidden").await;
    let theirs: Value = other.get(app.url("/api/v1/keys")).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["keys"].as_array().unwrap().len(), 1, "{theirs}");
    // Another user's key is not found, and keeps working.
    let other_key_id = theirs["keys"][0]["id"].as_str().unwrap().to_owned();
    let response = member.delete(app.url(&format!("/api/v1/keys/{other_key_id}"))).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
    assert_eq!(client_with_key(Some(&other_key)).get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    assert_error(member.get(app.url("/api/v1/keys?all=true")).send().await.unwrap(), 403, "forbidden").await;

    // An admin can do all three.
    let response =
        app.post("/api/v1/keys", &json!({ "name": "for other", "user_id": other_id, "role": "viewer" })).await;
    assert_eq!(response.status(), 201);
    let made: Value = response.json().await.unwrap();
    assert_eq!((made["user_id"].as_str(), made["role"].as_str()), (Some(other_id.as_str()), Some("viewer")));
    let made_client = client_with_key(made["key"].as_str());
    let me = json_of(&made_client, &app, "/api/v1/me").await;
    assert_eq!((me["user_id"].as_str(), me["role"].as_str()), (Some(other_id.as_str()), Some("viewer")));
    let revoked = app.delete(&format!("/api/v1/keys/{other_key_id}")).await;
    assert_eq!(revoked.status(), 200);
    assert!(revoked.json::<Value>().await.unwrap()["revoked_at"].is_string());
    assert_unauthorized(client_with_key(Some(&other_key)).get(app.url("/api/v1/me")).send().await.unwrap(), "revoked")
        .await;
    let all: Value = app.get("/api/v1/keys?all=true").await.json().await.unwrap();
    // The admin's, the member's three and the other's two.
    assert_eq!(all["keys"].as_array().unwrap().len(), 6, "{all}");
    // A member revokes its own.
    let own = member.delete(app.url(&format!("/api/v1/keys/{}", created["id"].as_str().unwrap()))).send().await;
    assert_eq!(own.unwrap().status(), 200);
    assert_unauthorized(laptop.get(app.url("/api/v1/me")).send().await.unwrap(), "revoked by its owner").await;
}

// ---------------------------------------------------------------------------
// 8. The QR code API.

#[tokio::test]
async fn qrcodes_answer_the_image_and_keep_it_in_the_callers_gallery() {
    let app = TestApp::spawn().await;
    let (member, _) = app.user("qr@example.com", Role::Member).await;
    let (stranger, _) = app.user("stranger@example.com", Role::Member).await;
    let (viewer, _) = app.user("looker@example.com", Role::Viewer).await;
    let text = "https://atelier.example/qr?x=1";

    let response = member.post(app.url("/api/v1/qrcodes")).json(&json!({ "text": text })).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "image/png");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let task_id = response.headers()["x-task-id"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/api/v1/assets/img_"), "{location}");
    let png = response.bytes().await.unwrap();
    let decoded = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(decoded);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    assert_eq!(grids[0].decode().unwrap().1, text);

    let stored = member.get(app.url(&location)).send().await.unwrap();
    assert_eq!(stored.status(), 200);
    assert_eq!(stored.bytes().await.unwrap(), png);
    let task = json_of(&member, &app, &format!("/api/v1/tasks/{task_id}")).await;
    assert_eq!((task["model"].as_str(), task["status"].as_str()), (Some("qr"), Some("completed")));
    let asset_id = location.rsplit('/').next().unwrap();
    assert_eq!(task["images"][0]["image_id"], asset_id);

    let response =
        member.post(app.url("/api/v1/qrcodes")).json(&json!({ "text": text, "format": "svg" })).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let svg = response.text().await.unwrap();
    assert!(svg.contains("<svg"), "{svg}");

    let mine = json_of(&member, &app, "/api/v1/assets").await.to_string();
    assert!(mine.contains(asset_id), "{mine}");
    let theirs = json_of(&stranger, &app, "/api/v1/assets").await;
    assert_eq!(theirs["images"], json!([]));
    assert_error(stranger.get(app.url(&location)).send().await.unwrap(), 404, "not_found").await;

    let response = viewer.post(app.url("/api/v1/qrcodes")).json(&json!({ "text": text })).send().await.unwrap();
    assert_error(response, 403, "forbidden").await;
    assert_error(
        client_with_key(None).post(app.url("/api/v1/qrcodes")).json(&json!({ "text": text })).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn the_session_probe_answers_200_whether_signed_in_or_not() {
    let app = TestApp::spawn().await;
    let password = "correct horse battery";
    create_user(&app, "probe@example.com", password, "member").await;
    let anonymous = client_with_key(None);
    let probe = |client: &reqwest::Client| client.get(app.url("/api/v1/sessions/current")).send();

    let answer = probe(&anonymous).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({ "signed_in": false }));
    let forged = with_cookie("atelier_session=forged", None);
    assert_eq!(probe(&forged).await.unwrap().json::<Value>().await.unwrap(), json!({ "signed_in": false }));

    let response = sign_in(&app, "probe@example.com", password, None).await;
    let (cookie, _) = session_cookie(&response);
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let state: Value = probe(&with_cookie(&cookie, None)).await.unwrap().json().await.unwrap();
    assert_eq!(state["signed_in"], true);
    assert_eq!(state["me"]["email"], "probe@example.com");
    assert_eq!(state["me"]["csrf_token"], csrf.as_str());
    assert_eq!(state["me"]["signed_in_with"], "session");

    // A key is not a browser session: the probe looks at the cookie only.
    let with_key: Value = probe(&app.http).await.unwrap().json().await.unwrap();
    assert_eq!(with_key, json!({ "signed_in": false }));

    let signed = with_cookie(&cookie, Some(&csrf));
    assert_eq!(signed.delete(app.url("/api/v1/sessions/current")).send().await.unwrap().status(), 204);
    let after: Value = probe(&signed).await.unwrap().json().await.unwrap();
    assert_eq!(after, json!({ "signed_in": false }));
}
