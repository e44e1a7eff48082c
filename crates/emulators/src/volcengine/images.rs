//! A finished job's images, in the result `data`: `binary_data_base64` (real
//! PNGs, base64) or, with `return_url`, `image_urls` pointing at the emulator's
//! own `GET /files/<id>.png` (public, as the real service's signed object URLs
//! are; the other field is `null`). Images are drawn by `crate::render` from
//! the run's seed, the `req_key`, the request's digest and the image's index, at
//! the job's width×height; a URL's image is drawn when it is fetched.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::VolcState;
use super::params::{Job, Output, ReqKey};
use crate::render::render_png;

/// One result image, drawn when asked for.
#[derive(Debug, Clone)]
pub(super) struct ImageSpec {
    width: u32,
    height: u32,
    req_key: ReqKey,
    digest: [u8; 32],
    index: u32,
}

impl ImageSpec {
    fn render(&self, seed: u64) -> Result<Vec<u8>, image::ImageError> {
        render_png(self.width, self.height, seed, self.req_key.as_str(), &self.digest, self.index)
    }
}

/// The image fields of a finished job's `data` (`binary_data_base64`,
/// `image_urls`); `name` names its files (`<name>_<n>.png`). `Err` when an
/// image could not be drawn.
pub(super) async fn result_fields(
    state: &VolcState,
    job: &Job,
    name: &str,
    output: &Output,
    base_url: &str,
) -> Result<Value, String> {
    let specs: Vec<ImageSpec> = (0..job.count)
        .map(|index| ImageSpec {
            width: job.width,
            height: job.height,
            req_key: job.req_key,
            digest: job.digest,
            index,
        })
        .collect();
    if output.return_url {
        let mut urls = Vec::with_capacity(specs.len());
        let mut inner = state.inner();
        for (index, spec) in specs.into_iter().enumerate() {
            let file = format!("{name}_{index}");
            urls.push(format!("{base_url}/files/{file}.png"));
            inner.files.insert(file, spec);
        }
        return Ok(json!({ "binary_data_base64": null, "image_urls": urls }));
    }
    let seed = state.config.seed;
    let rendered =
        tokio::task::spawn_blocking(move || specs.iter().map(|spec| spec.render(seed)).collect::<Result<Vec<_>, _>>())
            .await;
    match rendered {
        Ok(Ok(pngs)) => {
            let encoded: Vec<String> =
                pngs.iter().map(|png| base64::engine::general_purpose::STANDARD.encode(png)).collect();
            Ok(json!({ "binary_data_base64": encoded, "image_urls": null }))
        }
        Ok(Err(e)) => Err(format!("could not encode an image: {e}")),
        Err(e) => Err(format!("the image renderer stopped: {e}")),
    }
}

/// `GET /files/{id}.png`: a result image handed out as a URL; 404 for any other name.
pub(super) async fn serve_file(State(state): State<Arc<VolcState>>, Path(file): Path<String>) -> Response {
    let spec = file.strip_suffix(".png").and_then(|id| state.inner().files.get(id).cloned());
    let Some(spec) = spec else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let seed = state.config.seed;
    match tokio::task::spawn_blocking(move || spec.render(seed)).await {
        Ok(Ok(png)) => ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "public, max-age=86400")], png)
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "volcengine emulator: could not encode a result image");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "volcengine emulator: the image renderer stopped");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
    }
}
