//! Result files: `GET /files/{taskId}/{n}.png` for images, `{n}.mp4` for
//! videos (and Veo's `1080p.mp4`), public like real result URLs.
//!
//! Each image is drawn on request, deterministically from the run's seed, the
//! task id, the prompt hash and the image's index: a diagonal gradient with a
//! few discs and bars, at a small size that follows the aspect ratio. Videos
//! are the real mp4 fixtures (landscape or portrait).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::KieState;
use super::task::{Product, TaskState};
use crate::render::render_png;

/// A 2-second 320×180 H.264 test pattern (see `fixtures/README.md`).
const SAMPLE_MP4: &[u8] = include_bytes!("../../fixtures/sample.mp4");
/// The same, 180×320.
const SAMPLE_PORTRAIT_MP4: &[u8] = include_bytes!("../../fixtures/sample-portrait.mp4");

/// `GET /files/{taskId}/{file}`: 404 unless the task succeeded and made that file.
pub(super) async fn serve_file(
    State(state): State<Arc<KieState>>,
    Path((task_id, file)): Path<(String, String)>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not Found").into_response();
    let product = {
        let inner = state.inner();
        match inner.tasks.get(&task_id) {
            Some(task) if task.state == TaskState::Success => {
                if file == "1080p.mp4" && !task.family.has_1080p() {
                    return not_found();
                }
                task.product.clone()
            }
            _ => return not_found(),
        }
    };
    let index = |suffix: &str| file.strip_suffix(suffix).and_then(|n| n.parse::<u32>().ok());
    match product {
        Product::Videos { count, portrait } => {
            let known = file == "1080p.mp4" || index(".mp4").is_some_and(|n| n < count);
            if !known {
                return not_found();
            }
            let bytes = if portrait { SAMPLE_PORTRAIT_MP4 } else { SAMPLE_MP4 };
            ([(header::CONTENT_TYPE, "video/mp4"), (header::CACHE_CONTROL, "public, max-age=86400")], bytes)
                .into_response()
        }
        Product::Images(job) => {
            let Some(index) = index(".png").filter(|n| *n < job.count) else { return not_found() };
            let seed = state.config.seed;
            let rendered = tokio::task::spawn_blocking(move || {
                render_png(job.width, job.height, seed, &task_id, &job.prompt_hash, index)
            })
            .await;
            png_response(rendered)
        }
    }
}

/// `GET /__emulator/sample.png`: a public image, to upload by URL in tests.
pub(super) async fn sample_png(State(state): State<Arc<KieState>>) -> Response {
    let seed = state.config.seed;
    png_response(tokio::task::spawn_blocking(move || render_png(256, 256, seed, "sample", &[0; 32], 0)).await)
}

fn png_response(rendered: Result<Result<Vec<u8>, image::ImageError>, tokio::task::JoinError>) -> Response {
    match rendered {
        Ok(Ok(png)) => ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "public, max-age=86400")], png)
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "kie emulator: could not encode a result image");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "kie emulator: the image renderer stopped");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
    }
}
