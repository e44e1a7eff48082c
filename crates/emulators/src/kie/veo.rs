//! Veo 3 (docs/providers/kie.md 1.3): `POST /api/v1/veo/generate`,
//! `GET /api/v1/veo/record-info?taskId=`, `GET /api/v1/veo/get-1080p-video`,
//! and Veo's own record and callback shapes (a Veo task's [`Family`] is a
//! [`VeoTask`]).
//!
//! Results are real mp4 files (the fixtures). Records report `resolution:
//! "720p"`, so a client that wants 1080p must ask `get-1080p-video`, which
//! answers code 400 "1080P is processing" for the first
//! `hd_pending_requests` requests of a task, then the file's URL.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::task::{
    self, Family, NewTask, Product, Task, TaskState, optional_bool, optional_choice, optional_int, optional_string,
    optional_urls, refuse_unknown,
};
use super::{Endpoint, KieState, envelope_error, envelope_ok};

const KNOWN: [&str; 12] = [
    "prompt",
    "imageUrls",
    "model",
    "generationType",
    "aspect_ratio",
    "aspectRatio",
    "seeds",
    "callBackUrl",
    "enableFallback",
    "enableTranslation",
    "watermark",
    "resolution",
];

/// What a valid generate request makes.
struct VeoJob {
    aspect_ratio: String,
    cost: f64,
}

/// Checks a generate body as the protocol's table describes; the error names the field.
fn validate(request: &Map<String, Value>) -> Result<VeoJob, String> {
    refuse_unknown(request, &KNOWN, "veo/generate")?;
    let prompt = optional_string(request, "prompt", 10_000)?.ok_or("prompt is required")?;
    if prompt.trim().is_empty() {
        return Err("prompt must not be empty".to_string());
    }
    let model = optional_choice(request, "model", &["veo3", "veo3_fast", "veo3_lite"])?.unwrap_or("veo3_fast");
    let images = optional_urls(request, "imageUrls")?;
    if images.len() > 3 {
        return Err(format!("imageUrls takes at most 3 images, got {}", images.len()));
    }
    let types = ["TEXT_2_VIDEO", "FIRST_AND_LAST_FRAMES_2_VIDEO", "REFERENCE_2_VIDEO"];
    let inferred = match images.len() {
        0 => "TEXT_2_VIDEO",
        1 | 2 => "FIRST_AND_LAST_FRAMES_2_VIDEO",
        _ => "REFERENCE_2_VIDEO",
    };
    let generation_type = optional_choice(request, "generationType", &types)?.unwrap_or(inferred);
    match (generation_type, images.len()) {
        ("TEXT_2_VIDEO", 0) | ("FIRST_AND_LAST_FRAMES_2_VIDEO", 1 | 2) | ("REFERENCE_2_VIDEO", 1..=3) => {}
        (kind, n) => return Err(format!("imageUrls: {kind} does not take {n} images")),
    }
    if generation_type == "REFERENCE_2_VIDEO" && model != "veo3_fast" {
        return Err("generationType REFERENCE_2_VIDEO works with model veo3_fast only".to_string());
    }
    let ratios = ["16:9", "9:16", "Auto"];
    let aspect = match optional_choice(request, "aspect_ratio", &ratios)? {
        Some(ratio) => ratio,
        None => optional_choice(request, "aspectRatio", &ratios)?.unwrap_or("16:9"),
    };
    optional_int(request, "seeds", 10_000, 99_999)?;
    optional_bool(request, "enableFallback")?;
    optional_bool(request, "enableTranslation")?;
    optional_string(request, "watermark", 200)?;
    optional_choice(request, "resolution", &["720p", "1080p", "4k"])?;
    let cost = match model {
        "veo3" => 250.0,
        "veo3_lite" => 30.0,
        _ => 60.0,
    };
    Ok(VeoJob { aspect_ratio: aspect.to_string(), cost })
}

/// `POST /api/v1/veo/generate`.
pub(super) async fn generate(State(state): State<Arc<KieState>>, request: Request) -> Response {
    let (request, fault, base_url) = match task::read_create(&state, request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let callback_url = match task::callback_url(&request) {
        Ok(url) => url,
        Err(msg) => return envelope_error(422, &msg),
    };
    let job = match validate(&request) {
        Ok(job) => job,
        Err(msg) => return envelope_error(422, &msg),
    };
    let portrait = job.aspect_ratio == "9:16";
    let new = NewTask {
        id_prefix: "veo_task_",
        family: Box::new(VeoTask { aspect_ratio: job.aspect_ratio }),
        param: Value::Object(request).to_string(),
        product: Product::Videos { count: 1, portrait },
        cost: job.cost,
        callback_url,
    };
    task::create(&state, new, fault, base_url)
}

/// `GET /api/v1/veo/record-info?taskId=`.
pub(super) async fn record_info(State(state): State<Arc<KieState>>, request: Request) -> Response {
    task::record_info(state, request, Endpoint::VeoRecordInfo).await
}

/// What a Veo task keeps beyond the shared fields.
struct VeoTask {
    /// `16:9`, `9:16` or `Auto`: `originUrls` appear when it is not 16:9.
    aspect_ratio: String,
}

impl VeoTask {
    /// `response` once successful: `originUrls` only when the ratio is not 16:9.
    fn info(&self, task: &Task) -> Value {
        let mut info = json!({ "taskId": task.id, "resultUrls": task.result_urls(), "resolution": "720p" });
        if self.aspect_ratio != "16:9" {
            info["originUrls"] = json!(task.result_urls());
        }
        info
    }
}

impl Family for VeoTask {
    fn record_info(&self) -> Endpoint {
        Endpoint::VeoRecordInfo
    }

    /// The record-info `data`.
    fn record(&self, task: &Task) -> Value {
        let failed = task.state == TaskState::Fail;
        json!({
            "taskId": task.id,
            "paramJson": task.param,
            "completeTime": task.complete_ms,
            "createTime": task.create_ms,
            "response": if task.state == TaskState::Success { self.info(task) } else { Value::Null },
            "successFlag": task.state.success_flag(),
            "errorCode": if failed { json!(501) } else { Value::Null },
            "errorMessage": if failed { json!("Generation failed") } else { Value::Null },
            "fallbackFlag": false,
        })
    }

    /// Veo's callback body.
    fn callback_body(&self, task: &Task, _remained_credits: f64) -> Value {
        if task.state == TaskState::Success {
            let mut info = self.info(task);
            if let Some(info) = info.as_object_mut() {
                info.remove("taskId");
            }
            json!({"code": 200, "msg": "Veo3.1 video generated successfully.",
                "data": {"taskId": task.id, "info": info, "fallbackFlag": false}})
        } else {
            json!({"code": 501, "msg": "Generation failed", "data": {"taskId": task.id, "fallbackFlag": false}})
        }
    }

    fn has_1080p(&self) -> bool {
        true
    }
}

/// `GET /api/v1/veo/get-1080p-video?taskId=&index=`.
pub(super) async fn get_1080p(State(state): State<Arc<KieState>>, request: Request) -> Response {
    let query = Query::<HashMap<String, String>>::try_from_uri(request.uri()).map(|q| q.0).unwrap_or_default();
    let Some(id) = query.get("taskId").filter(|id| !id.is_empty()) else {
        return envelope_error(400, "taskId parameter is required");
    };
    if query.get("index").is_some_and(|index| index != "0") {
        return envelope_error(422, "index is out of range: the task made 1 video");
    }
    let pending = state.config.hd_pending_requests;
    let mut inner = state.inner();
    let Some(task) = inner.tasks.get_mut(id).filter(|task| task.family.has_1080p()) else {
        return envelope_error(422, "record is null");
    };
    if task.state != TaskState::Success {
        return envelope_error(422, "record status is not success");
    }
    task.hd_requests += 1;
    if task.hd_requests <= pending {
        return envelope_error(
            400,
            "1080P is processing. It is expected to be completed in 1-2 minutes. Please check back shortly.",
        );
    }
    envelope_ok(json!({ "resultUrl": format!("{}/files/{}/1080p.mp4", task.base_url, task.id) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn generate_bodies_are_checked_like_the_table() {
        let url = "https://x/a.png";
        assert!(validate(&body(json!({"prompt": "x"}))).is_ok());
        let old = validate(&body(json!({"prompt": "x", "aspectRatio": "9:16"}))).expect("old spelling");
        assert_eq!(old.aspect_ratio, "9:16");
        let cases = [
            (json!({}), "prompt"),
            (json!({"prompt": "x", "model": "veo4"}), "model"),
            (json!({"prompt": "x", "imageUrls": [url, url, url, url]}), "imageUrls"),
            (json!({"prompt": "x", "imageUrls": ["not a url"]}), "imageUrls"),
            (json!({"prompt": "x", "generationType": "TEXT_2_VIDEO", "imageUrls": [url]}), "imageUrls"),
            (
                json!({"prompt": "x", "generationType": "REFERENCE_2_VIDEO", "model": "veo3", "imageUrls": [url]}),
                "generationType",
            ),
            (json!({"prompt": "x", "imageUrls": [url, url, url], "model": "veo3_lite"}), "generationType"),
            (json!({"prompt": "x", "aspect_ratio": "1:1"}), "aspect_ratio"),
            (json!({"prompt": "x", "seeds": 5}), "seeds"),
            (json!({"prompt": "x", "resolution": "8k"}), "resolution"),
            (json!({"prompt": "x", "enableTranslation": "yes"}), "enableTranslation"),
            (json!({"prompt": "x", "duration": 8}), "duration"),
        ];
        for (request, field) in cases {
            let err = validate(&body(request.clone())).err().unwrap_or_default();
            assert!(err.contains(field), "{request}: {err:?}");
        }
    }
}
