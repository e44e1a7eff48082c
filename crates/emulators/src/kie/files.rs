//! Result files: `GET /files/{taskId}/{n}.png` for images, `{n}.mp4` for
//! videos (and Veo's `1080p.mp4`), public like real result URLs.
//!
//! Each image is drawn on request, deterministically from the run's seed, the
//! task id, the prompt hash and the image's index: a diagonal gradient with a
//! few discs and bars, at a small size that follows the aspect ratio. Videos
//! are the real mp4 fixtures (landscape or portrait).

use std::io::Cursor;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use image::{ImageFormat, Rgb, RgbImage};
use sha2::{Digest, Sha256};

use super::KieState;
use super::task::{Product, TaskState};

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

/// Draws one result image and encodes it as PNG.
pub(super) fn render_png(
    width: u32,
    height: u32,
    seed: u64,
    task_id: &str,
    prompt_hash: &[u8; 32],
    index: u32,
) -> Result<Vec<u8>, image::ImageError> {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update((task_id.len() as u64).to_le_bytes());
    hasher.update(task_id.as_bytes());
    hasher.update(prompt_hash);
    hasher.update(index.to_le_bytes());
    let d: [u8; 32] = hasher.finalize().into();

    let (from, to) = ([d[0], d[1], d[2]], [d[3], d[4], d[5]]);
    let span = (width + height).max(1) as f32;
    let mut img = RgbImage::from_fn(width, height, |x, y| {
        let t = (x + y) as f32 / span;
        Rgb(std::array::from_fn(|c| (f32::from(from[c]) * (1.0 - t) + f32::from(to[c]) * t) as u8))
    });

    // Four shapes, each from six bytes: kind, centre x, centre y, size, and a hue pair.
    for shape in d[6..30].chunks_exact(6) {
        let cx = u32::from(shape[1]) * width / 255;
        let cy = u32::from(shape[2]) * height / 255;
        let size = width.min(height) / 10 + u32::from(shape[3]) * width.min(height) / 1020;
        let color = Rgb([shape[4], shape[5], shape[0] ^ shape[4]]);
        let (x0, x1) = (cx.saturating_sub(size), (cx + size).min(width));
        let (y0, y1) = (cy.saturating_sub(size), (cy + size).min(height));
        for y in y0..y1 {
            for x in x0..x1 {
                let inside = if shape[0] % 2 == 0 {
                    let (dx, dy) = (i64::from(x) - i64::from(cx), i64::from(y) - i64::from(cy));
                    dx * dx + dy * dy <= i64::from(size) * i64::from(size)
                } else {
                    // A bar: full width of the box, a third of its height.
                    y.abs_diff(cy) <= size / 3
                };
                if inside {
                    img.put_pixel(x, y, color);
                }
            }
        }
    }

    let mut png = Cursor::new(Vec::new());
    img.write_to(&mut png, ImageFormat::Png)?;
    Ok(png.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_pngs_of_the_asked_size() {
        let hash = [7u8; 32];
        let a = render_png(640, 360, 1, "task_google_1_1", &hash, 0).expect("png");
        let b = render_png(640, 360, 1, "task_google_1_1", &hash, 0).expect("png");
        let c = render_png(640, 360, 1, "task_google_1_1", &hash, 1).expect("png");
        assert_eq!(a, b);
        assert_ne!(a, c);
        let decoded = image::load_from_memory_with_format(&a, ImageFormat::Png).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (640, 360));
    }
}
