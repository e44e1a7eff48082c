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
    assert_eq!(first.headers()["cache-control"], "public, no-cache");
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

#[tokio::test]
async fn text_files_are_gzipped_for_browsers_that_accept_it() {
    let app = TestApp::spawn().await;
    let browser = client_with_key(None);
    let get = |path: &'static str, encoding: &'static str| {
        let request = browser.get(app.url(path)).header("accept-encoding", encoding);
        async move { request.send().await.unwrap() }
    };
    let plain = get("/studio/js/main.js", "identity").await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["vary"], "accept-encoding");
    let plain_etag = plain.headers()["etag"].to_str().unwrap().to_owned();
    let source = plain.bytes().await.unwrap();

    let packed = get("/studio/js/main.js", "gzip, deflate, br").await;
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    assert_eq!(packed.headers()["content-type"], "text/javascript");
    let etag = packed.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag, plain_etag, "each encoding has its own ETag");
    let body = packed.bytes().await.unwrap();
    assert!(body.len() < source.len() / 2, "{} of {} bytes", body.len(), source.len());
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut unpacked).unwrap();
    assert_eq!(unpacked, source);

    // Revalidation per representation; the page itself is gzipped too.
    let again = browser
        .get(app.url("/studio/js/main.js"))
        .header("accept-encoding", "gzip")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let index = get("/", "gzip").await;
    assert_eq!((index.status().as_u16(), index.headers()["content-encoding"].to_str().unwrap()), (200, "gzip"));
    assert_eq!(get("/", "gzip;q=0").await.headers().get("content-encoding"), None);
}
