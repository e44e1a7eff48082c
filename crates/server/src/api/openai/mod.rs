//! The OpenAI-compatible API under `/v1`: the OpenAI SDKs, with `base_url` set to
//! this server's `/v1` and an Atelier API key as their key, reach every Atelier
//! model. Images (`images/generations`, `images/edits`), speech (`audio/speech`),
//! videos (`videos`), text (`chat/completions`) and the model list answer in
//! OpenAI's shapes, errors included ([`error`]); every call is a durable task, seen
//! in the API and the studio like any other. A request's parameters reach each
//! model in its own names ([`fit`]). These routes are OpenAI's published API, so
//! they are left out of Atelier's own OpenAPI document.

mod chat;
mod edits;
mod error;
mod fit;
mod images;
mod models;
mod run;
mod speech;
mod videos;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use error::OpenAiError;
pub use error::reshape;

/// The routes, to nest at `/v1` behind authentication; `max_upload_bytes` bounds an
/// edit's or a video's files as it bounds uploads.
pub fn routes(max_upload_bytes: usize) -> Router<AppState> {
    let files = DefaultBodyLimit::max(max_upload_bytes);
    Router::new()
        .route("/models", get(models::list))
        .route("/models/{*id}", get(models::get))
        .route("/images/generations", post(images::generate))
        .route("/images/edits", post(edits::edit).layer(files))
        .route("/audio/speech", post(speech::speak))
        .route("/videos", post(videos::create).layer(files))
        .route("/videos/{id}", get(videos::get).delete(videos::delete))
        .route("/videos/{id}/content", get(videos::content))
        .route("/chat/completions", post(chat::complete))
}

/// An unknown path under `/v1`, in OpenAI's words.
pub use error::not_found;

/// A JSON body, read as OpenAI reads it: malformed JSON is a 400, and so is a body
/// whose fields have the wrong types (OpenAI has no 422).
fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, OpenAiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !content_type.is_empty() && !content_type.starts_with("application/json") {
        return Err(OpenAiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            format!("send the body as application/json (got {content_type})"),
        ));
    }
    serde_json::from_slice(body).map_err(|error| {
        let message = format!("We could not parse the JSON body of your request: {error}");
        if error.is_data() {
            OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).code("invalid_type")
        } else {
            OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).code("invalid_json")
        }
    })
}
