//! OpenAI's Videos API over Atelier's video models: `POST /v1/videos` makes a task
//! and answers at once (the video's id is the task's), `GET /v1/videos/{id}` is the
//! task as a Video object (with `openai-poll-after-ms`, which the SDKs' `poll`
//! honours), `GET /v1/videos/{id}/content` its file, `DELETE` removes it.

use atelier_core::account::Principal;
use atelier_core::catalog::Modality;
use atelier_core::task::{Task, TaskStatus};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::OpenAiError;
use super::fit::Fit;
use super::run;
use crate::api::auth::Caller;
use crate::app::AppState;

/// How long a client should wait between polls of an unfinished video.
const POLL_AFTER_MS: u32 = 1000;

/// Fields that give a video's length, by model (Sora, Veo, Kie's Sora, the slideshow).
const LENGTH_FIELDS: [&str; 4] = ["seconds", "duration_seconds", "n_frames", "duration"];

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<Value>), OpenAiError> {
    let (fields, reference) = read_form(&state, &caller, &headers, request).await?;
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::trim).filter(|text| !text.is_empty());
    let spec = run::resolve(&state, text("model"), Modality::Video)?;
    let mut fit = Fit::new(&spec.input_schema);
    let Some(prompt) = text("prompt") else { return Err(OpenAiError::invalid("prompt", "prompt is required")) };
    if !fit.set_first(&["prompt", "text"], json!(prompt)) && !fit.set_first(&["captions"], json!([prompt])) {
        return Err(OpenAiError::invalid("prompt", "this model takes no prompt"));
    }
    if let Some(seconds) = text("seconds") {
        let field = LENGTH_FIELDS
            .iter()
            .find(|field| fit.has(field))
            .ok_or_else(|| OpenAiError::invalid("seconds", "this model does not take a length; leave seconds out"))?;
        let value = typed(spec.input_schema.pointer(&format!("/properties/{field}")), seconds)
            .ok_or_else(|| OpenAiError::invalid("seconds", format!("seconds must be a number (got {seconds:?})")))?;
        fit.set_first(&[field], value);
    }
    fit.size(text("size"))?;
    fit.files(reference.into_iter().collect(), "input_reference")?;
    let known = ["model", "prompt", "seconds", "size", "input_reference"];
    let extra: Map<String, Value> = fields.into_iter().filter(|(name, _)| !known.contains(&name.as_str())).collect();
    fit.extras(extra)?;
    let task = run::create(&state, &caller, &headers, &spec, fit.finish()).await?;
    Ok((StatusCode::OK, Json(video(&task))))
}

/// The form's text fields, and the `input_reference` as an input the model takes
/// (a file stored as an upload, or a `{image_url}` reference as the URL).
async fn read_form(
    state: &AppState,
    caller: &Principal,
    headers: &HeaderMap,
    request: Request,
) -> Result<(Map<String, Value>, Option<String>), OpenAiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("multipart/form-data") {
        let body = axum::body::Bytes::from_request(request, state).await.map_err(|rejection| {
            OpenAiError::new(rejection.status(), "invalid_request_error", rejection.body_text())
        })?;
        let mut fields: Map<String, Value> = super::json_body(headers, &body)?;
        let reference = match fields.remove("input_reference") {
            None | Some(Value::Null) => None,
            Some(Value::Object(reference)) => Some(reference_url(&reference)?),
            Some(Value::String(reference)) => Some(reference),
            Some(_) => return Err(OpenAiError::invalid("input_reference", "input_reference is {\"image_url\": …}")),
        };
        // JSON numbers (`"seconds": 8`) read as the form's text would.
        for value in fields.values_mut() {
            if let Value::Number(number) = value {
                *value = Value::String(number.to_string());
            }
        }
        return Ok((fields, reference));
    }
    let mut multipart = Multipart::from_request(request, state).await.map_err(|rejection| {
        OpenAiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("reading the form: {}", rejection.body_text()),
        )
    })?;
    let mut fields = Map::new();
    let mut reference = None;
    while let Some(field) = multipart.next_field().await.map_err(|error| {
        OpenAiError::new(error.status(), "invalid_request_error", format!("reading the form: {}", error.body_text()))
    })? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "input_reference" && field.file_name().is_some() {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|error| {
                OpenAiError::new(
                    error.status(),
                    "invalid_request_error",
                    format!("reading input_reference: {}", error.body_text()),
                )
            })?;
            let mime = atelier_assets::sniff_image_mime(&bytes).ok_or_else(|| {
                OpenAiError::invalid("input_reference", "input_reference must be a PNG, JPEG or WebP image")
            })?;
            // A bomb is refused from its header; the store decodes the rest.
            crate::api::uploads::inspect_image(&bytes, state.config.media.limits()).await.map_err(|refused| {
                OpenAiError::invalid("input_reference", format!("input_reference: {refused}")).code(refused.code())
            })?;
            let upload = state.tasks.create_upload(caller, &file_name, mime, bytes).await?;
            reference = Some(upload.id.to_string());
            continue;
        }
        let text = field.text().await.map_err(|error| {
            OpenAiError::new(error.status(), "invalid_request_error", format!("reading {name}: {}", error.body_text()))
        })?;
        if name == "input_reference" {
            let parsed: Map<String, Value> = serde_json::from_str(&text).map_err(|_| {
                OpenAiError::invalid("input_reference", "input_reference is a file or {\"image_url\": …}")
            })?;
            reference = Some(reference_url(&parsed)?);
            continue;
        }
        fields.insert(name, Value::String(text));
    }
    Ok((fields, reference))
}

fn reference_url(reference: &Map<String, Value>) -> Result<String, OpenAiError> {
    if reference.contains_key("file_id") {
        return Err(OpenAiError::invalid("input_reference", "file ids are not offered: send the file or an image_url"));
    }
    reference
        .get("image_url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| OpenAiError::invalid("input_reference", "input_reference is {\"image_url\": …}"))
}

/// A length given as text, in the type the model's field takes.
fn typed(property: Option<&Value>, text: &str) -> Option<Value> {
    let takes_string = property
        .and_then(|p| p.get("enum"))
        .and_then(Value::as_array)
        .is_some_and(|choices| choices.iter().any(|choice| choice.as_str() == Some(text)))
        || property.and_then(|p| p.get("type")) == Some(&json!("string"));
    if takes_string {
        return Some(json!(text));
    }
    let number: f64 = text.parse().ok()?;
    if number.fract() == 0.0 && number.abs() < 1e9 { Some(json!(number as i64)) } else { Some(json!(number)) }
}

pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, OpenAiError> {
    let task = find(&state, &caller, &id).await?;
    let mut response = Json(video(&task)).into_response();
    if !task.status.is_terminal() {
        response.headers_mut().insert("openai-poll-after-ms", HeaderValue::from(POLL_AFTER_MS));
    }
    Ok(response)
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let task = find(&state, &caller, &id).await?;
    state.tasks.delete(&caller, task.id).await?;
    Ok(Json(json!({ "id": task.id.to_string(), "deleted": true, "object": "video.deleted" })))
}

#[derive(Debug, Deserialize)]
pub struct ContentQuery {
    variant: Option<String>,
}

pub async fn content(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    query: Result<Query<ContentQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, OpenAiError> {
    let Query(query) = query.map_err(|rejection| OpenAiError::invalid("variant", rejection.body_text()))?;
    let task = find(&state, &caller, &id).await?;
    if task.status != TaskStatus::Completed {
        return Err(OpenAiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("video {} is {}: its content comes once it completes", task.id, status(task.status)),
        )
        .code("video_not_ready"));
    }
    let video = run::primary(&task).find(|asset| asset.mime.starts_with("video/"));
    let served = match query.variant.as_deref().unwrap_or("video") {
        "video" => {
            let asset = video.ok_or_else(|| run::failure(&task))?;
            let name = format!("{}.{}", task.id, atelier_assets::extension_for(&asset.mime));
            crate::api::assets::serve_blob(
                &state,
                crate::api::assets::Reader::Owner,
                &asset.blob_key,
                &asset.mime,
                &format!("\"{}\"", asset.sha256),
                &name,
                &headers,
            )
            .await
        }
        "thumbnail" => {
            let poster = video.and_then(|asset| asset.thumbnail_key.as_deref()).ok_or_else(|| {
                OpenAiError::new(StatusCode::NOT_FOUND, "invalid_request_error", "this video has no thumbnail")
                    .code("not_found")
            })?;
            crate::api::assets::serve_blob(
                &state,
                crate::api::assets::Reader::Owner,
                poster,
                "image/webp",
                &format!("\"{poster}\""),
                "thumbnail.webp",
                &headers,
            )
            .await
        }
        "spritesheet" => {
            return Err(OpenAiError::invalid("variant", "spritesheets are not made; ask for video or thumbnail"));
        }
        other => {
            return Err(OpenAiError::invalid(
                "variant",
                format!("variant {other:?} is not video, thumbnail or spritesheet"),
            ));
        }
    };
    served.map_err(OpenAiError::from)
}

async fn find(state: &AppState, caller: &Principal, id: &str) -> Result<Task, OpenAiError> {
    let missing =
        || OpenAiError::new(StatusCode::NOT_FOUND, "invalid_request_error", format!("no video {id}")).code("not_found");
    let task_id = crate::api::tasks::parse_task_id(id).map_err(|_| missing())?;
    let task = state.tasks.get(caller, task_id).await.map_err(|error| match error {
        atelier_core::CoreError::NotFound { .. } => missing(),
        other => other.into(),
    })?;
    let is_video =
        state.tasks.resolve_model(Some(&format!("{}/{}", task.service, task.model))).map(|spec| spec.modality);
    if !matches!(is_video, Ok(Modality::Video)) {
        return Err(missing());
    }
    Ok(task)
}

fn status(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Pending | TaskStatus::Retrying | TaskStatus::WaitingInput => "queued",
        TaskStatus::Processing => "in_progress",
        TaskStatus::Completed => "completed",
        TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Expired => "failed",
    }
}

/// The task as OpenAI's Video object.
fn video(task: &Task) -> Value {
    let output = run::primary(task).find(|asset| asset.mime.starts_with("video/"));
    let seconds = LENGTH_FIELDS
        .iter()
        .find_map(|field| task.input.get(*field).filter(|value| !value.is_null()))
        .map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_owned))
        .or_else(|| {
            output.and_then(|asset| asset.media.as_ref()?.duration_secs).map(|secs| format!("{}", secs.round()))
        });
    let size = task
        .input
        .get("size")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| output.and_then(|asset| Some(format!("{}x{}", asset.width?, asset.height?))));
    let error = (status(task.status) == "failed").then(|| {
        let (code, message) = task.error.as_ref().map_or((task.status.as_str(), "the video was not made"), |error| {
            (error.code.as_str(), error.message.as_str())
        });
        json!({ "code": code, "message": message })
    });
    json!({
        "id": task.id.to_string(),
        "object": "video",
        "model": format!("{}/{}", task.service, task.model),
        "status": status(task.status),
        "progress": if task.status == TaskStatus::Completed { 100 } else { task.progress },
        "created_at": run::unix_seconds(task.created_at),
        "completed_at": task.completed_at.map(run::unix_seconds),
        "expires_at": null,
        "prompt": task.input.get("prompt").and_then(Value::as_str),
        "remixed_from_video_id": null,
        "seconds": seconds,
        "size": size,
        "error": error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_the_type_each_model_wants() {
        let sora = json!({ "enum": ["4", "8", "12", 4, 8, 12], "type": ["string", "integer"] });
        assert_eq!(typed(Some(&sora), "8"), Some(json!("8")));
        let veo = json!({ "type": "integer" });
        assert_eq!(typed(Some(&veo), "8"), Some(json!(8)));
        let slideshow = json!({ "type": ["number", "null"] });
        assert_eq!(typed(Some(&slideshow), "2.5"), Some(json!(2.5)));
        assert_eq!(typed(Some(&veo), "eight"), None);
    }
}
