//! Bad input gets a clear error in the one shape, never a 500.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn malformed_and_misshapen_bodies() {
    let app = TestApp::spawn().await;
    let malformed =
        app.http.post(app.url("/api/v1/tasks")).header("content-type", "application/json").body("{bad").send();
    assert_error(malformed.await.unwrap(), 400, "malformed_json").await;
    let no_type = app.http.post(app.url("/api/v1/tasks")).body("{}").send();
    assert_error(no_type.await.unwrap(), 415, "unsupported_media_type").await;

    let unknown =
        assert_error(app.post("/api/v1/tasks", &json!({ "modle": "x" })).await, 422, "validation_error").await;
    assert_eq!(unknown["details"]["field"], "modle");
    let wrong_type = app.post("/api/v1/tasks", &json!({ "input": { "prompt": "x", "width": "wide" } })).await;
    assert_eq!(assert_error(wrong_type, 422, "validation_error").await["details"]["field"], "width");
    for (field, value) in
        [("width", json!(63)), ("height", json!(2049)), ("num_images", json!(5)), ("num_images", json!(0))]
    {
        let mut input = json!({ "prompt": "x" });
        input[field] = value;
        let body =
            assert_error(app.post("/api/v1/tasks", &json!({ "input": input })).await, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], field, "{body}");
    }
    assert_error(app.post("/api/v1/tasks", &json!({ "input": "text" })).await, 422, "validation_error").await;
    assert_error(app.post("/api/v1/tasks", &json!({ "input": {}, "priority": 1000 })).await, 422, "validation_error")
        .await;
    let unusable =
        assert_error(app.post("/api/v1/tasks", &json!({ "model": "local/instant" })).await, 422, "model_unavailable")
            .await;
    assert_eq!(unusable["details"]["config_key"], "engines.instant.enabled");
    assert_eq!(unusable["details"]["env_var"], "ATELIER__ENGINES__INSTANT__ENABLED");
    let bad_key = app.http.post(app.url("/api/v1/tasks")).header("idempotency-key", "").json(&json!({})).send();
    assert_error(bad_key.await.unwrap(), 422, "validation_error").await;
    let huge = "x".repeat(11 * 1024 * 1024);
    let too_big = app.http.post(app.url("/api/v1/tasks")).header("content-type", "application/json").body(huge).send();
    assert_error(too_big.await.unwrap(), 413, "payload_too_large").await;
    let callback = app.http.post(app.url("/api/v1/callbacks/kie")).body("x".repeat(11 * 1024 * 1024)).send();
    assert_error(callback.await.unwrap(), 413, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::spawn().await;
    assert_error(app.get("/api/v1/nothing").await, 404, "not_found").await;
    let response = app.http.put(app.url("/api/v1/tasks")).send().await.unwrap();
    assert_error(response, 405, "method_not_allowed").await;
    assert_error(app.get("/api/v1/images/img_nothing").await, 404, "not_found").await;
    assert_error(app.get("/api/v1/tasks/01234567-0123-7123-8123-0123456789ab/events").await, 404, "not_found").await;
}

#[tokio::test]
async fn the_openapi_document_and_docs_page() {
    let app = TestApp::spawn().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"), "{}", spec["openapi"]);
    for path in ["/api/v1/tasks", "/api/v1/tasks/{id}/events", "/api/v1/generate", "/api/v1/history", "/api/v1/models"]
    {
        assert!(spec["paths"].get(path).is_some(), "{path} missing from the spec");
    }
    // Each manga phase's result has its schema, as the pipeline checks changes with it.
    for name in [
        "MangaConcept",
        "MangaCharacters",
        "MangaPlot",
        "MangaPages",
        "MangaArt",
        "MangaLettering",
        "MangaReport",
        "MangaBook",
        "MangaDocument",
    ] {
        let schema = &spec["components"]["schemas"][name];
        assert!(
            schema["type"].is_string() && schema.get("properties").or(schema.get("items")).is_some(),
            "{name}: {schema}"
        );
    }
    assert_eq!(
        spec["components"]["schemas"]["MangaDocument"]["required"],
        json!(["concept", "characters", "plot", "pages", "art", "lettering", "report", "book"])
    );
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("cdn."), "the docs page must not load from a CDN");
    // Its scripts are served by the server itself, embedded at build time.
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"] {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 100, "{asset} is empty");
    }
}
