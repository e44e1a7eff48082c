//! Midjourney (docs/providers/kie.md 1.4): `POST /api/v1/mj/generate`,
//! `GET /api/v1/mj/record-info?taskId=`, and Midjourney's own record and
//! callback shapes (the callback's `resultUrls` is a plain string array, unlike
//! record-info's objects); a Midjourney task's [`Family`] is an [`MjTask`].
//!
//! Image types make 4 images (drawn like the market's); video types make
//! `videoBatchSize` real mp4 files.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::task::{
    self, Family, ImageJob, NewTask, Product, Task, TaskState, optional_bool, optional_choice, optional_int,
    optional_string, optional_urls, present, refuse_unknown,
};
use super::{Endpoint, KieState, envelope_error};

const KNOWN: [&str; 16] = [
    "taskType",
    "speed",
    "prompt",
    "fileUrl",
    "fileUrls",
    "aspectRatio",
    "version",
    "variety",
    "stylization",
    "weirdness",
    "ow",
    "waterMark",
    "enableTranslation",
    "callBackUrl",
    "videoBatchSize",
    "motion",
];
const TASK_TYPES: [&str; 6] =
    ["mj_txt2img", "mj_img2img", "mj_style_reference", "mj_omni_reference", "mj_video", "mj_video_hd"];
const RATIOS: [&str; 11] = ["1:2", "9:16", "2:3", "3:4", "5:6", "6:5", "4:3", "3:2", "1:1", "16:9", "2:1"];

/// What a valid generate request makes.
struct MjJob {
    task_type: String,
    product: Product,
    cost: f64,
}

/// Checks a generate body as the protocol's table describes; the error names the field.
fn validate(request: &Map<String, Value>) -> Result<MjJob, String> {
    refuse_unknown(request, &KNOWN, "mj/generate")?;
    let task_type = optional_choice(request, "taskType", &TASK_TYPES)?.ok_or("taskType is required")?;
    let prompt = optional_string(request, "prompt", 2000)?.ok_or("prompt is required")?;
    if prompt.trim().is_empty() {
        return Err("prompt must not be empty".to_string());
    }
    let mut files = optional_urls(request, "fileUrls")?;
    match present(request, "fileUrl") {
        None => {}
        Some(Value::String(url)) if url.starts_with("http://") || url.starts_with("https://") => {
            files.push(url.clone());
        }
        Some(other) => return Err(format!("fileUrl must be an http(s) URL, got {other}")),
    }
    let video = task_type.starts_with("mj_video");
    if task_type != "mj_txt2img" && files.is_empty() {
        return Err(format!("fileUrls: {task_type} needs an input image"));
    }
    if video && files.len() != 1 {
        return Err(format!("fileUrls: {task_type} takes exactly 1 image, got {}", files.len()));
    }
    optional_choice(request, "speed", &["relaxed", "fast", "turbo"])?;
    let aspect = optional_choice(request, "aspectRatio", &RATIOS)?.unwrap_or("1:1");
    match present(request, "version") {
        None => {}
        Some(Value::String(v)) if ["7", "6.1", "6", "5.2", "5.1", "niji6"].contains(&v.as_str()) => {}
        Some(other) => return Err(format!("version must be one of 7, 6.1, 6, 5.2, 5.1, niji6, got {other}")),
    }
    if optional_int(request, "variety", 0, 100)?.is_some_and(|v| v % 5 != 0) {
        return Err("variety must be a multiple of 5".to_string());
    }
    optional_int(request, "stylization", 0, 1000)?;
    optional_int(request, "weirdness", 0, 3000)?;
    optional_int(request, "ow", 1, 1000)?;
    optional_string(request, "waterMark", 200)?;
    optional_bool(request, "enableTranslation")?;
    optional_choice(request, "motion", &["high", "low"])?;
    let batch = optional_int(request, "videoBatchSize", 1, 4)?.unwrap_or(1);
    if ![1, 2, 4].contains(&batch) {
        return Err(format!("videoBatchSize must be 1, 2 or 4, got {batch}"));
    }
    let (w, h) = aspect
        .split_once(':')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .unwrap_or((1, 1));
    let (product, cost) = if video {
        let count = u32::try_from(batch).unwrap_or(1);
        let per_video = if task_type == "mj_video_hd" { 40.0 } else { 20.0 };
        (Product::Videos { count, portrait: h > w }, per_video * f64::from(count))
    } else {
        let (width, height) = if w >= h { (512, 512 * h / w) } else { (512 * w / h, 512) };
        let mut hasher = Sha256::new();
        for part in [task_type, prompt] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        (Product::Images(ImageJob { width, height, count: 4, prompt_hash: hasher.finalize().into() }), 8.0)
    };
    Ok(MjJob { task_type: task_type.to_string(), product, cost })
}

/// `POST /api/v1/mj/generate`.
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
    let new = NewTask {
        id_prefix: "mj_task_",
        family: Box::new(MjTask { task_type: job.task_type }),
        param: Value::Object(request).to_string(),
        product: job.product,
        cost: job.cost,
        callback_url,
    };
    task::create(&state, new, fault, base_url)
}

/// `GET /api/v1/mj/record-info?taskId=`.
pub(super) async fn record_info(State(state): State<Arc<KieState>>, request: Request) -> Response {
    task::record_info(state, request, Endpoint::MjRecordInfo).await
}

/// What a Midjourney task keeps beyond the shared fields.
struct MjTask {
    /// `mj_txt2img`, `mj_video`…, as asked.
    task_type: String,
}

impl Family for MjTask {
    fn record_info(&self) -> Endpoint {
        Endpoint::MjRecordInfo
    }

    /// The record-info `data`.
    fn record(&self, task: &Task) -> Value {
        let failed = task.state == TaskState::Fail;
        let result_info = if task.state == TaskState::Success {
            let urls: Vec<Value> = task.result_urls().into_iter().map(|url| json!({ "resultUrl": url })).collect();
            json!({ "resultUrls": urls })
        } else {
            Value::Null
        };
        json!({
            "taskId": task.id,
            "taskType": self.task_type,
            "paramJson": task.param,
            "completeTime": task.complete_ms,
            "createTime": task.create_ms,
            "resultInfoJson": result_info,
            "successFlag": task.state.success_flag(),
            "errorCode": if failed { json!(500) } else { Value::Null },
            "errorMessage": if failed { json!("Image generation failed") } else { Value::Null },
        })
    }

    /// Midjourney's callback body.
    fn callback_body(&self, task: &Task, _remained_credits: f64) -> Value {
        if task.state == TaskState::Success {
            json!({"code": 200, "msg": "success",
                "data": {"taskId": task.id, "promptJson": task.param, "resultUrls": task.result_urls()}})
        } else {
            json!({"code": 500, "msg": "Image generation failed",
                "data": {"taskId": task.id, "promptJson": task.param, "resultUrls": []}})
        }
    }
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
    fn image_types_make_four_images_and_video_types_videos() {
        let txt = validate(&body(json!({"taskType": "mj_txt2img", "prompt": "x", "aspectRatio": "16:9"}))).expect("ok");
        assert!(matches!(txt.product, Product::Images(ImageJob { count: 4, width: 512, height: 288, .. })));
        let video = validate(&body(
            json!({"taskType": "mj_video", "prompt": "x", "fileUrls": ["https://a/b.png"], "videoBatchSize": 2}),
        ))
        .expect("ok");
        assert!(matches!(video.product, Product::Videos { count: 2, portrait: false }));
        let single = validate(&body(json!({"taskType": "mj_img2img", "prompt": "x", "fileUrl": "https://a/b.png"})));
        assert!(single.is_ok());
    }

    #[test]
    fn generate_bodies_are_checked_like_the_table() {
        let url = "https://a/b.png";
        let cases = [
            (json!({"prompt": "x"}), "taskType"),
            (json!({"taskType": "mj_upscale", "prompt": "x"}), "taskType"),
            (json!({"taskType": "mj_txt2img"}), "prompt"),
            (json!({"taskType": "mj_img2img", "prompt": "x"}), "fileUrls"),
            (json!({"taskType": "mj_video", "prompt": "x", "fileUrls": [url, url]}), "fileUrls"),
            (json!({"taskType": "mj_txt2img", "prompt": "x", "speed": "warp"}), "speed"),
            (json!({"taskType": "mj_txt2img", "prompt": "x", "aspectRatio": "7:3"}), "aspectRatio"),
            (json!({"taskType": "mj_txt2img", "prompt": "x", "version": 7}), "version"),
            (json!({"taskType": "mj_txt2img", "prompt": "x", "variety": 3}), "variety"),
            (json!({"taskType": "mj_txt2img", "prompt": "x", "stylization": 1001}), "stylization"),
            (json!({"taskType": "mj_txt2img", "prompt": "x", "weirdness": -1}), "weirdness"),
            (json!({"taskType": "mj_omni_reference", "prompt": "x", "fileUrls": [url], "ow": 0}), "ow"),
            (json!({"taskType": "mj_video", "prompt": "x", "fileUrls": [url], "videoBatchSize": 3}), "videoBatchSize"),
            (json!({"taskType": "mj_video", "prompt": "x", "fileUrls": [url], "motion": "mid"}), "motion"),
            (json!({"taskType": "mj_txt2img", "prompt": "x", "aspect_ratio": "1:1"}), "aspect_ratio"),
        ];
        for (request, field) in cases {
            let err = validate(&body(request.clone())).err().unwrap_or_default();
            assert!(err.contains(field), "{request}: {err:?}");
        }
    }
}
