//! The web studio's files: served from the binary at `/` and `/studio/…`, with
//! their types, a strict content security policy and revalidation by ETag.
//! (The studio itself is driven in Chromium by `e2e/`, run from `scripts/test`.)

use crate::helpers::{TestApp, client_with_key};

#[tokio::test]
async fn the_studio_is_served_without_a_key_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    let browser = client_with_key(None);
    let page = browser.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html");
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    for directive in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains("/studio/js/main.js") && html.contains("/studio/app.css"), "{html}");

    for (path, kind) in [
        ("/studio/js/main.js", "text/javascript"),
        ("/studio/app.css", "text/css"),
        ("/studio/icon.svg", "image/svg+xml"),
    ] {
        let response = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], kind, "{path}");
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
    }
}

#[tokio::test]
async fn studio_files_revalidate_by_etag_and_unknown_ones_are_a_json_404() {
    let app = TestApp::spawn().await;
    let browser = client_with_key(None);
    let first = browser.get(app.url("/studio/js/api.js")).send().await.unwrap();
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = browser.get(app.url("/studio/js/api.js")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = browser.get(app.url("/studio/js/api.js")).header("if-none-match", "\"stale\"").send().await.unwrap();
    assert_eq!(other.status(), 200);

    for path in ["/studio/nope.js", "/studio/../Cargo.toml", "/studio/js/../../src/main.rs"] {
        let response = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
}
