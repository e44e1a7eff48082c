//! Downloads: content type, ETag, Cache-Control, Range; thumbnails; tags; metadata.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, client_with_key};

async fn one_image(app: &TestApp) -> (String, Value) {
    let id = app.create_placeholder("a blue lake", json!({ "seed": 3, "width": 512, "height": 256 })).await;
    let task = app.wait_for_end(&id).await;
    (id, task["images"][0].clone())
}

#[tokio::test]
async fn downloads_honour_etag_and_range() {
    let app = TestApp::spawn().await;
    let (_, image) = one_image(&app).await;
    let url = image["url"].as_str().unwrap();
    let full = app.get(url).await;
    assert_eq!(full.status(), 200);
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", image["sha256"].as_str().unwrap()));
    assert_eq!(full.headers()["cache-control"], "private, max-age=31536000, immutable");
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    let bytes = full.bytes().await.unwrap();

    let not_modified = app.http.get(app.url(url)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(not_modified.status(), 304);

    let part = app.http.get(app.url(url)).header("range", "bytes=8-23").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 8-23/{}", bytes.len()));
    assert_eq!(part.bytes().await.unwrap(), bytes.slice(8..24));
    let tail = app.http.get(app.url(url)).header("range", "bytes=-4").send().await.unwrap();
    assert_eq!(tail.bytes().await.unwrap(), bytes.slice(bytes.len() - 4..));
    let beyond =
        app.http.get(app.url(url)).header("range", format!("bytes={}-", bytes.len() + 10)).send().await.unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], format!("bytes */{}", bytes.len()));

    // The PNG carries its generation parameters in a text chunk.
    let chunks = atelier_assets::png_text::read_png_text(&bytes);
    let (_, parameters) = chunks.iter().find(|(key, _)| key == "parameters").expect("a parameters chunk");
    let parameters: Value = serde_json::from_str(parameters).unwrap();
    assert_eq!(parameters["input"]["prompt"], "a blue lake");
    assert_eq!(parameters["model"], "placeholder");
}

/// Files answer requests with credentials: a shared cache (a CDN, a proxy) must not
/// keep them (RFC 9111 §3.5), or it would hand them to anyone with the URL, even
/// after the owner deleted them. Browsers may keep them for good (immutable), apart
/// per credentials (`Vary`); the studio's own files are the public ones.
#[tokio::test]
async fn private_files_stay_out_of_shared_caches() {
    let app = TestApp::spawn().await;
    let (_, image) = one_image(&app).await;
    let upload_id = app
        .upload("plain.png", "image/png", app.get(image["url"].as_str().unwrap()).await.bytes().await.unwrap().to_vec())
        .await;
    let share = app
        .post(&format!("/api/v1/assets/{}/share", image["image_id"].as_str().unwrap()), &json!({ "ttl_secs": 60 }))
        .await;
    let link = share.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    let owned = [
        image["url"].as_str().unwrap().to_owned(),
        image["thumbnail_url"].as_str().unwrap().to_owned(),
        format!("/api/v1/uploads/{upload_id}/content"),
    ];
    for url in &owned {
        let answer = app.get(url).await;
        assert_eq!(answer.status(), 200, "{url}");
        let headers = answer.headers();
        assert_eq!(headers["cache-control"], "private, max-age=31536000, immutable", "{url}");
        assert_eq!(headers["vary"], "Authorization, Cookie", "{url}");
        let etag = headers["etag"].clone();
        let revalidated = app.http.get(app.url(url)).header("if-none-match", etag).send().await.unwrap();
        assert_eq!(revalidated.status(), 304, "{url}");
        assert_eq!(revalidated.headers()["cache-control"], "private, max-age=31536000, immutable", "{url}");
    }
    let shared = client_with_key(None).get(app.url(&link)).send().await.unwrap();
    assert_eq!(shared.status(), 200);
    assert_eq!(shared.headers()["cache-control"], "private, max-age=31536000, immutable");
    assert!(shared.headers().get("vary").is_none(), "a signed link's answer does not depend on credentials");
    let studio = client_with_key(None).get(app.url("/")).send().await.unwrap();
    assert_eq!(studio.status(), 200);
    assert!(studio.headers()["cache-control"].to_str().unwrap().starts_with("public"), "{:?}", studio.headers());
}

#[tokio::test]
async fn thumbnails_are_webp_within_256() {
    let app = TestApp::spawn().await;
    let (_, image) = one_image(&app).await;
    let thumbnail = app.get(image["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!(thumbnail.headers()["content-type"], "image/webp");
    let decoded = image::load_from_memory(&thumbnail.bytes().await.unwrap()).expect("a valid WebP");
    assert_eq!((decoded.width(), decoded.height()), (256, 128));
}

#[tokio::test]
async fn tags_and_the_gallery() {
    let app = TestApp::spawn().await;
    let (task_id, image) = one_image(&app).await;
    let image_id = image["image_id"].as_str().unwrap();
    let tag_url = format!("/api/v1/assets/{image_id}/tags");
    assert_eq!(app.post(&tag_url, &json!({ "tag": "lake" })).await.status(), 204);
    assert_error(app.post(&tag_url, &json!({ "tag": "a,b" })).await, 422, "validation_error").await;
    assert_error(app.post("/api/v1/assets/img_0123/tags", &json!({ "tag": "x" })).await, 404, "not_found").await;
    let gallery: Value = app.get("/api/v1/assets?tag=lake").await.json().await.unwrap();
    assert_eq!(gallery["images"][0]["image_id"], image_id);
    assert_eq!(gallery["images"][0]["tags"], json!(["lake"]));
    let none: Value = app.get("/api/v1/assets?tag=forest").await.json().await.unwrap();
    assert!(none["images"].as_array().unwrap().is_empty());
    // The task list filters by its outputs' tags too.
    let other = app.create_placeholder("a dry field", json!({})).await;
    app.wait_for_end(&other).await;
    let tasks: Value = app.get("/api/v1/tasks?tag=lake").await.json().await.unwrap();
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(tasks["tasks"][0]["task_id"], task_id.as_str());
    let untagged: Value = app.get("/api/v1/tasks?tag=forest").await.json().await.unwrap();
    assert!(untagged["tasks"].as_array().unwrap().is_empty());
    assert_eq!(app.delete(&format!("{tag_url}/lake")).await.status(), 204);
    assert_error(app.delete(&format!("{tag_url}/lake")).await, 404, "not_found").await;
}

/// The image ids of a gallery (or history) page, and its next cursor.
async fn gallery(app: &TestApp, query: &str) -> (Vec<String>, Option<String>) {
    let response = app.get(&format!("/api/v1/assets?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.unwrap();
    let ids = page["images"].as_array().unwrap().iter().map(|i| i["image_id"].as_str().unwrap().to_owned()).collect();
    (ids, page["next_cursor"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn the_gallery_filters_by_model_and_creation_time() {
    let app = TestApp::spawn().await;
    let image_of = |task: &Value| task["images"][0]["image_id"].as_str().unwrap().to_owned();
    let first = app.create_placeholder("first", json!({})).await;
    let first = image_of(&app.wait_for_end(&first).await);
    let second = app.create_placeholder("second", json!({})).await;
    let second = image_of(&app.wait_for_end(&second).await);
    // A time between the placeholders' outputs and the QR code's, to the millisecond.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let qr = app.create("local/qr", json!({ "text": "hi" })).await;
    let qr = image_of(&app.wait_for_end(&qr).await);
    for image in [&first, &qr] {
        assert_eq!(app.post(&format!("/api/v1/assets/{image}/tags"), &json!({ "tag": "keep" })).await.status(), 204);
    }
    let ids = |ids: &[&String]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();

    // The model, as `service/model` or a bare name.
    assert_eq!(gallery(&app, "").await.0, ids(&[&qr, &second, &first]));
    assert_eq!(gallery(&app, "model=local/placeholder").await.0, ids(&[&second, &first]));
    assert_eq!(gallery(&app, "model=placeholder").await.0, ids(&[&second, &first]));
    assert_eq!(gallery(&app, "model=Local/QR").await.0, ids(&[&qr]));
    assert_eq!(gallery(&app, "model=qr").await.0, ids(&[&qr]));
    assert!(gallery(&app, "model=other/placeholder").await.0.is_empty());
    assert_eq!(gallery(&app, "model=placeholder&tag=keep").await.0, ids(&[&first]));

    // Creation time: at or after `created_after`, before `created_before`.
    assert_eq!(gallery(&app, &format!("created_after={between}")).await.0, ids(&[&qr]));
    assert_eq!(gallery(&app, &format!("created_before={between}")).await.0, ids(&[&second, &first]));
    assert_eq!(gallery(&app, &format!("created_before={between}&tag=keep")).await.0, ids(&[&first]));
    assert!(gallery(&app, &format!("created_after={between}&model=placeholder")).await.0.is_empty());
    assert!(gallery(&app, "created_after=2999-01-01T00:00:00Z").await.0.is_empty());
    let all = "created_after=2000-01-01T00:00:00Z&created_before=2999-01-01T00:00:00Z";
    assert_eq!(gallery(&app, all).await.0, ids(&[&qr, &second, &first]));

    // Pages keep the filters.
    let (page, cursor) = gallery(&app, &format!("model=placeholder&{all}&limit=1")).await;
    assert_eq!(page, ids(&[&second]));
    let cursor = cursor.expect("a next page");
    let (page, cursor) = gallery(&app, &format!("model=placeholder&{all}&limit=1&cursor={cursor}")).await;
    assert_eq!((page, cursor), (ids(&[&first]), None));
    assert_eq!(gallery(&app, "model=placeholder&limit=2").await, (ids(&[&second, &first]), None));

    // Seed 004's history takes the same filters.
    let history: Value = app.get("/api/v1/history?model=qr").await.json().await.unwrap();
    assert_eq!(history["images"].as_array().unwrap().len(), 1);
    assert_eq!(history["images"][0]["image_id"], qr.as_str());

    for (query, field) in [
        ("created_after=yesterday", "created_after"),
        ("created_before=2024-13-01T00:00:00Z", "created_before"),
        ("created_after=2024-01-01", "created_after"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
    ] {
        for route in ["/api/v1/assets", "/api/v1/history"] {
            let body = assert_error(app.get(&format!("{route}?{query}")).await, 422, "validation_error").await;
            assert_eq!(body["details"]["field"], field, "{route}?{query}: {body}");
        }
    }
}

#[tokio::test]
async fn qr_codes_decode_to_their_text() {
    let app = TestApp::spawn().await;
    let task = app.create("local/qr", json!({ "text": "https://atelier.example/ок", "size": 300 })).await;
    let task = app.wait_for_end(&task).await;
    let png = app.get(task["images"][0]["url"].as_str().unwrap()).await.bytes().await.unwrap();
    let decoded = image::load_from_memory(&png).unwrap().to_luma8();
    assert_eq!((decoded.width(), decoded.height()), (300, 300));
    let mut prepared = rqrr::PreparedImage::prepare(decoded);
    let grids = prepared.detect_grids();
    let (_, content) = grids[0].decode().expect("decodes");
    assert_eq!(content, "https://atelier.example/ок");
}
