//! The market jobs API (docs/providers/kie.md 1.2): `POST /api/v1/jobs/createTask`,
//! `GET /api/v1/jobs/recordInfo?taskId=`, and the market callback.
//!
//! Models are a closed list ([`MarketModel`]); each validates its own `input`
//! and says what it produces: Imagen 4 images, Sora 2 videos (real mp4 files).
//! The task's life, credits and callbacks are `task.rs`'s; a market task's
//! [`Family`] is its model.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::task::{
    self, Family, ImageJob, NewTask, Product, Task, TaskState, optional_bool, optional_choice, optional_string,
    optional_urls, present, refuse_unknown,
};
use super::{Endpoint, KieState, credit, envelope_error};

/// The market models the emulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketModel {
    /// `google/imagen4-fast`.
    Imagen4Fast,
    /// `google/imagen4`.
    Imagen4,
    /// `google/imagen4-ultra`.
    Imagen4Ultra,
    /// `sora-2-text-to-video`.
    Sora2TextToVideo,
    /// `sora-2-image-to-video`.
    Sora2ImageToVideo,
    /// `sora-2-pro-text-to-video`.
    Sora2ProTextToVideo,
    /// `sora-2-pro-image-to-video`.
    Sora2ProImageToVideo,
}

impl MarketModel {
    /// Every known model.
    pub const ALL: [MarketModel; 7] = [
        MarketModel::Imagen4Fast,
        MarketModel::Imagen4,
        MarketModel::Imagen4Ultra,
        MarketModel::Sora2TextToVideo,
        MarketModel::Sora2ImageToVideo,
        MarketModel::Sora2ProTextToVideo,
        MarketModel::Sora2ProImageToVideo,
    ];

    /// The model for a wire id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == id)
    }

    /// The wire id.
    pub fn id(self) -> &'static str {
        match self {
            MarketModel::Imagen4Fast => "google/imagen4-fast",
            MarketModel::Imagen4 => "google/imagen4",
            MarketModel::Imagen4Ultra => "google/imagen4-ultra",
            MarketModel::Sora2TextToVideo => "sora-2-text-to-video",
            MarketModel::Sora2ImageToVideo => "sora-2-image-to-video",
            MarketModel::Sora2ProTextToVideo => "sora-2-pro-text-to-video",
            MarketModel::Sora2ProImageToVideo => "sora-2-pro-image-to-video",
        }
    }

    /// Credits one task costs.
    pub fn cost(self) -> f64 {
        match self {
            MarketModel::Imagen4Fast => 4.0,
            MarketModel::Imagen4 => 8.0,
            MarketModel::Imagen4Ultra => 12.0,
            MarketModel::Sora2TextToVideo | MarketModel::Sora2ImageToVideo => 30.0,
            MarketModel::Sora2ProTextToVideo | MarketModel::Sora2ProImageToVideo => 90.0,
        }
    }

    fn task_id_prefix(self) -> &'static str {
        if self.is_sora() { "task_sora2_" } else { "task_google_" }
    }

    fn is_sora(self) -> bool {
        matches!(
            self,
            MarketModel::Sora2TextToVideo
                | MarketModel::Sora2ImageToVideo
                | MarketModel::Sora2ProTextToVideo
                | MarketModel::Sora2ProImageToVideo
        )
    }

    /// Checks `input` as the protocol's table describes; the error names the field.
    fn validate(self, input: &Map<String, Value>) -> Result<Product, String> {
        if self.is_sora() { self.validate_sora(input) } else { self.validate_imagen(input).map(Product::Images) }
    }

    /// Sora 2 (docs/providers/kie.md 1.2, the [D] table).
    fn validate_sora(self, input: &Map<String, Value>) -> Result<Product, String> {
        let pro = matches!(self, MarketModel::Sora2ProTextToVideo | MarketModel::Sora2ProImageToVideo);
        let image = matches!(self, MarketModel::Sora2ImageToVideo | MarketModel::Sora2ProImageToVideo);
        let mut known =
            vec!["prompt", "aspect_ratio", "n_frames", "remove_watermark", "upload_method", "character_id_list"];
        if pro {
            known.push("size");
        }
        if image {
            known.push("image_urls");
        }
        refuse_unknown(input, &known, self.id())?;
        let prompt = optional_string(input, "prompt", 10_000)?.ok_or("prompt is required")?;
        if prompt.trim().is_empty() {
            return Err("prompt must not be empty".to_string());
        }
        let aspect = optional_choice(input, "aspect_ratio", &["portrait", "landscape"])?.unwrap_or("landscape");
        match present(input, "n_frames") {
            None => {}
            Some(Value::String(n)) if n == "10" || n == "15" => {}
            Some(other) => return Err(format!("n_frames must be the string \"10\" or \"15\", got {other}")),
        }
        optional_bool(input, "remove_watermark")?;
        optional_choice(input, "upload_method", &["s3", "oss"])?;
        if pro {
            optional_choice(input, "size", &["standard", "high"])?;
        }
        match present(input, "character_id_list") {
            None => {}
            Some(Value::Array(ids)) if ids.len() <= 5 && ids.iter().all(Value::is_string) => {}
            Some(_) => return Err("character_id_list must be at most 5 strings".to_string()),
        }
        if image {
            let urls = optional_urls(input, "image_urls")?;
            if urls.len() != 1 {
                return Err(format!("image_urls must hold exactly 1 URL, got {}", urls.len()));
            }
        }
        Ok(Product::Videos { count: 1, portrait: aspect == "portrait" })
    }

    fn validate_imagen(self, input: &Map<String, Value>) -> Result<ImageJob, String> {
        let (known, aspect_ratios, default_aspect): (&[&str], &[&str], &str) = match self {
            MarketModel::Imagen4Fast => (
                &["prompt", "negative_prompt", "aspect_ratio", "num_images", "seed"],
                &["1:1", "16:9", "9:16", "3:4", "4:3"],
                "16:9",
            ),
            // `num_images` on google/imagen4 is unconfirmed: accepted, and one image is made.
            MarketModel::Imagen4 => (
                &["prompt", "negative_prompt", "aspect_ratio", "num_images", "seed"],
                &["1:1", "16:9", "9:16", "3:4", "4:3", "auto"],
                "1:1",
            ),
            _ => {
                (&["prompt", "negative_prompt", "aspect_ratio", "seed"], &["1:1", "16:9", "9:16", "3:4", "4:3"], "1:1")
            }
        };
        refuse_unknown(input, known, self.id())?;
        let prompt = optional_string(input, "prompt", 5000)?.ok_or("prompt is required")?;
        if prompt.trim().is_empty() {
            return Err("prompt must not be empty".to_string());
        }
        let negative = optional_string(input, "negative_prompt", 5000)?.unwrap_or_default();

        let aspect = optional_string(input, "aspect_ratio", 16)?.unwrap_or(default_aspect);
        if !aspect_ratios.contains(&aspect) {
            return Err(format!("aspect_ratio must be one of {}, got `{aspect}`", aspect_ratios.join(", ")));
        }

        let num_images = match present(input, "num_images") {
            None => 1,
            Some(Value::String(n)) if matches!(n.as_str(), "1" | "2" | "3" | "4") => {
                n.parse::<u32>().map_err(|_| "num_images must be one of \"1\", \"2\", \"3\", \"4\"")?
            }
            Some(Value::String(n)) => {
                return Err(format!("num_images must be one of \"1\", \"2\", \"3\", \"4\", got \"{n}\""));
            }
            Some(other) => {
                return Err(format!("num_images must be a string, one of \"1\", \"2\", \"3\", \"4\", got {other}"));
            }
        };
        let count = if self == MarketModel::Imagen4Fast { num_images } else { 1 };

        let seed = match (self, present(input, "seed")) {
            (_, None) => String::new(),
            (MarketModel::Imagen4Fast, Some(Value::Number(n))) if n.is_i64() || n.is_u64() => n.to_string(),
            (MarketModel::Imagen4Fast, Some(other)) => return Err(format!("seed must be an integer, got {other}")),
            (_, Some(Value::String(s))) if s.chars().count() <= 500 => s.clone(),
            (_, Some(Value::String(_))) => return Err("seed must be at most 500 characters".to_string()),
            (_, Some(other)) => return Err(format!("seed must be a string (at most 500 characters), got {other}")),
        };

        let (width, height) = match aspect {
            "16:9" => (640, 360),
            "9:16" => (360, 640),
            "4:3" => (512, 384),
            "3:4" => (384, 512),
            _ => (512, 512),
        };
        let mut hasher = Sha256::new();
        for part in [self.id(), prompt, negative, &seed] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        Ok(ImageJob { width, height, count, prompt_hash: hasher.finalize().into() })
    }
}

/// Credits one task of `model` (a wire id), if the emulator knows the model.
pub fn model_cost(model: &str) -> Option<f64> {
    MarketModel::from_id(model).map(MarketModel::cost)
}

impl Family for MarketModel {
    fn record_info(&self) -> Endpoint {
        Endpoint::RecordInfo
    }

    /// The recordInfo `data`.
    fn record(&self, task: &Task) -> Value {
        let success = task.state == TaskState::Success;
        let failed = task.state == TaskState::Fail;
        let result_json = if success { json!({"resultUrls": task.result_urls()}).to_string() } else { String::new() };
        json!({
            "taskId": task.id,
            "model": self.id(),
            "state": task.state.as_str(),
            "param": task.param,
            "resultJson": result_json,
            "failCode": if failed { "500" } else { "" },
            "failMsg": if failed { "Internal server error" } else { "" },
            "costTime": if success { task.complete_ms.map(|c| c - task.create_ms) } else { None },
            "completeTime": task.complete_ms,
            "createTime": task.create_ms,
            "updateTime": task.update_ms,
        })
    }

    /// The market callback body once finished: the record, with the credits.
    fn callback_body(&self, task: &Task, remained_credits: f64) -> Value {
        let mut data = self.record(task);
        let consumed = if task.state == TaskState::Success { task.cost } else { 0.0 };
        if let Some(data) = data.as_object_mut() {
            data.insert("consumeCredits".into(), credit::credits_value(consumed));
            data.insert("remainedCredits".into(), credit::credits_value(remained_credits));
        }
        if task.state == TaskState::Success {
            json!({"code": 200, "msg": "Playground task completed successfully.", "data": data})
        } else {
            json!({"code": 501, "msg": "Playground task failed.", "data": data})
        }
    }
}

/// `POST /api/v1/jobs/createTask`.
pub(super) async fn create_task(State(state): State<Arc<KieState>>, request: Request) -> Response {
    let (request, fault, base_url) = match task::read_create(&state, request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let model = match request.get("model") {
        None | Some(Value::Null) => return envelope_error(422, "model is required"),
        Some(Value::String(model)) => match MarketModel::from_id(model) {
            Some(model) => model,
            None => return envelope_error(422, &format!("model `{model}` is not supported")),
        },
        Some(_) => return envelope_error(422, "model must be a string"),
    };
    let callback_url = match task::callback_url(&request) {
        Ok(url) => url,
        Err(msg) => return envelope_error(422, &msg),
    };
    let product = match request.get("input") {
        None | Some(Value::Null) => return envelope_error(422, "input is required"),
        Some(Value::Object(input)) => match model.validate(input) {
            Ok(product) => product,
            Err(msg) => return envelope_error(422, &msg),
        },
        Some(_) => return envelope_error(422, "input must be an object"),
    };
    let new = NewTask {
        id_prefix: model.task_id_prefix(),
        family: Box::new(model),
        param: Value::Object(request).to_string(),
        product,
        cost: model.cost(),
        callback_url,
    };
    task::create(&state, new, fault, base_url)
}

/// `GET /api/v1/jobs/recordInfo?taskId=`.
pub(super) async fn record_info(State(state): State<Arc<KieState>>, request: Request) -> Response {
    task::record_info(state, request, Endpoint::RecordInfo).await
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};

    use super::*;
    use crate::kie::webhook_signature;

    #[test]
    fn sora_models_check_their_fields() {
        let t2v = MarketModel::Sora2TextToVideo;
        let ok = t2v.validate(&input(json!({"prompt": "x", "n_frames": "15", "aspect_ratio": "portrait"})));
        assert!(matches!(ok, Ok(Product::Videos { count: 1, portrait: true })), "{ok:?}");
        let cases = [
            (t2v, json!({"prompt": "x", "n_frames": 10}), "n_frames"),
            (t2v, json!({"prompt": "x", "size": "high"}), "size"),
            (t2v, json!({"prompt": "x", "image_urls": ["https://a/b.png"]}), "image_urls"),
            (t2v, json!({"prompt": "x", "aspect_ratio": "16:9"}), "aspect_ratio"),
            (t2v, json!({"n_frames": "10"}), "prompt"),
            (MarketModel::Sora2ImageToVideo, json!({"prompt": "x"}), "image_urls"),
            (MarketModel::Sora2ProImageToVideo, json!({"prompt": "x", "image_urls": ["a", "b"]}), "image_urls"),
            (MarketModel::Sora2ProTextToVideo, json!({"prompt": "x", "size": "huge"}), "size"),
        ];
        for (model, body, field) in cases {
            let err = model.validate(&input(body.clone())).expect_err("invalid");
            assert!(err.contains(field), "{body}: {err}");
        }
        let pro = MarketModel::Sora2ProImageToVideo
            .validate(&input(json!({"prompt": "x", "image_urls": ["https://a/b.png"], "size": "high"})));
        assert!(pro.is_ok(), "{pro:?}");
    }

    fn input(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn imagen4_fast_num_images_is_a_string() {
        let fast = MarketModel::Imagen4Fast;
        let job = fast.validate_imagen(&input(json!({"prompt": "a cat", "num_images": "3"}))).expect("valid");
        assert_eq!((job.count, job.width, job.height), (3, 640, 360));
        for bad in [json!(2), json!("5"), json!("0"), json!(true)] {
            let err = fast.validate_imagen(&input(json!({"prompt": "a cat", "num_images": bad}))).expect_err("invalid");
            assert!(err.contains("num_images"), "{err}");
        }
    }

    #[test]
    fn seeds_are_integers_on_fast_and_strings_elsewhere() {
        assert!(MarketModel::Imagen4Fast.validate_imagen(&input(json!({"prompt": "x", "seed": 42}))).is_ok());
        let err =
            MarketModel::Imagen4Fast.validate_imagen(&input(json!({"prompt": "x", "seed": "42"}))).expect_err("string");
        assert!(err.contains("seed"));
        assert!(MarketModel::Imagen4.validate_imagen(&input(json!({"prompt": "x", "seed": "42"}))).is_ok());
        let err =
            MarketModel::Imagen4Ultra.validate_imagen(&input(json!({"prompt": "x", "seed": 42}))).expect_err("number");
        assert!(err.contains("seed"));
        let long = "9".repeat(501);
        assert!(MarketModel::Imagen4.validate_imagen(&input(json!({"prompt": "x", "seed": long}))).is_err());
    }

    #[test]
    fn prompts_aspect_ratios_and_unknown_fields() {
        let err = MarketModel::Imagen4.validate_imagen(&input(json!({}))).expect_err("no prompt");
        assert!(err.contains("prompt"));
        let long = "a".repeat(5001);
        assert!(MarketModel::Imagen4.validate_imagen(&input(json!({"prompt": long}))).is_err());
        let job =
            MarketModel::Imagen4.validate_imagen(&input(json!({"prompt": "x", "aspect_ratio": "auto"}))).expect("auto");
        assert_eq!((job.width, job.height, job.count), (512, 512, 1));
        let err = MarketModel::Imagen4Ultra
            .validate_imagen(&input(json!({"prompt": "x", "aspect_ratio": "auto"})))
            .expect_err("auto is imagen4 only");
        assert!(err.contains("aspect_ratio"));
        let err = MarketModel::Imagen4Ultra
            .validate_imagen(&input(json!({"prompt": "x", "num_images": "2"})))
            .expect_err("ultra has no num_images");
        assert!(err.contains("num_images"));
        let job =
            MarketModel::Imagen4.validate_imagen(&input(json!({"prompt": "x", "num_images": "2"}))).expect("accepted");
        assert_eq!(job.count, 1);
    }

    #[test]
    fn signature_matches_a_known_value() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), the RFC-style test vector.
        let sig = webhook_signature("key", "The quick brown fox jumps over the lazy dog", "");
        // Our message appends "." + timestamp, so compute the reference by hand instead:
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").expect("key");
        mac.update(b"The quick brown fox jumps over the lazy dog.");
        let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sig, expected);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").expect("key");
        mac.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }
}
