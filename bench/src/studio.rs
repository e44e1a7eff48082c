//! The web studio, in process: its page weight, first visits and reloads.

use std::time::Instant;

use anyhow::{Context, Result};

use crate::plan::Plan;
use crate::report::Report;
use crate::server::quiet_app;

/// The web studio's weight and how fast the router serves it, in process: a cold
/// first visit (the page and every file it loads, gzip accepted as browsers do) and
/// a revalidating reload (each file asked with its ETag, answered 304).
pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    use tower::ServiceExt;

    let scope = "in-process";
    // An English first visit loads every file but the Japanese and Chinese
    // dictionaries (a visit in either language adds its own) and three.js under
    // vendor/ (loaded when a 3D model is first shown).
    let (lazy, files): (Vec<_>, Vec<_>) = atelier::studio::files()
        .into_iter()
        .partition(|file| file.path.starts_with("js/i18n/") || file.path.starts_with("vendor/"));
    let (viewer, dictionaries): (Vec<_>, Vec<_>) = lazy.into_iter().partition(|file| file.path.starts_with("vendor/"));
    let viewer: usize = viewer.iter().map(|file| file.gzipped_bytes).sum();
    let bytes: usize = files.iter().map(|file| file.bytes).sum();
    let gzipped: usize = files.iter().map(|file| file.gzipped_bytes).sum();
    let dictionary = dictionaries.iter().map(|file| file.gzipped_bytes).max().unwrap_or_default();
    report.add(
        scope,
        "studio page weight (a first visit, English)",
        format!("{:.1}", gzipped as f64 / 1024.0),
        "KiB",
        format!(
            "{} files gzipped ({:.1} KiB uncompressed): HTML, CSS, JavaScript modules, icons; Japanese or Chinese adds up to {:.1} KiB; the first 3D model shown adds three.js, {:.1} KiB",
            files.len(),
            bytes as f64 / 1024.0,
            dictionary as f64 / 1024.0,
            viewer as f64 / 1024.0
        ),
    );
    let loads: usize = if plan.quick { 500 } else { 5_000 };
    let in_flight = 16;
    eprintln!("[{scope}] studio: {loads} first visits and {loads} reloads, {in_flight} in flight");
    let (_dir, app) = quiet_app().await?;
    let router = atelier::router::router(app.state.clone());
    let mut paths = vec!["/".to_owned()];
    paths.extend(files.iter().filter(|file| file.path != "index.html").map(|file| format!("/studio/{}", file.path)));
    let get = |path: &str| axum::http::Request::get(path).header("accept-encoding", "gzip, deflate, br, zstd");
    let mut etags = Vec::new();
    for path in &paths {
        let response = router.clone().oneshot(get(path).body(axum::body::Body::empty())?).await?;
        anyhow::ensure!(response.status() == 200, "{path} answered {}", response.status());
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).context("an etag")?.to_owned();
        etags.push((path.clone(), etag));
    }
    let etags = std::sync::Arc::new(etags);
    for (label, revalidate) in [("studio first visits", false), ("studio reloads (304 per file)", true)] {
        let started = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..in_flight {
            let (router, etags) = (router.clone(), etags.clone());
            handles.push(tokio::spawn(async move {
                for _ in 0..loads / in_flight {
                    for (path, etag) in etags.iter() {
                        let mut request = get(path);
                        if revalidate {
                            request = request.header("if-none-match", etag);
                        }
                        let response = router.clone().oneshot(request.body(axum::body::Body::empty())?).await?;
                        let expected = if revalidate { 304 } else { 200 };
                        anyhow::ensure!(response.status() == expected, "{path} answered {}", response.status());
                        axum::body::to_bytes(response.into_body(), 1 << 22).await?;
                    }
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for handle in handles {
            handle.await??;
        }
        let done = (loads / in_flight) * in_flight;
        let rate = done as f64 / started.elapsed().as_secs_f64();
        report.add(
            scope,
            label,
            format!("{rate:.0}"),
            "pages/s",
            format!("{} requests per page through the router, {in_flight} in flight, no network", paths.len()),
        );
    }
    Ok(())
}
