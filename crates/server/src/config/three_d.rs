//! `[pull]` (remote workers, the pull protocol) and `[three_d]` (seed 002's 3D job
//! routes: which models run them, and what happens with no GPU worker).

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// `[pull]`: models that remote workers serve by pulling tasks over HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PullConfig {
    /// Models (`service/model`) left to remote workers, beside the `trellis`
    /// service's, which only remote workers run.
    pub models: Vec<String>,
    /// The longest a worker's claim waits for work before answering with none.
    pub max_wait_secs: u64,
    /// A model has a worker while one serving it asked for work this recently.
    pub seen_within_secs: u64,
    /// The most a worker may upload as one task's outputs, in bytes.
    pub max_output_bytes: u64,
    /// The longest a pulled task may run, from its first claim: a worker still
    /// renewing its lease after this is told to stop, and the task fails as timed
    /// out (504 `engine_timeout` on seed 002's routes).
    pub max_run_secs: u64,
}

impl Default for PullConfig {
    fn default() -> Self {
        Self {
            models: Vec::new(),
            max_wait_secs: 30,
            seen_within_secs: 90,
            max_output_bytes: 512 * 1024 * 1024,
            max_run_secs: 1800,
        }
    }
}

impl PullConfig {
    pub fn settings(&self) -> atelier_core::pull::PullSettings {
        atelier_core::pull::PullSettings {
            max_wait: Duration::from_secs(self.max_wait_secs),
            seen_within: Duration::from_secs(self.seen_within_secs),
            max_output_bytes: self.max_output_bytes,
            max_run: Duration::from_secs(self.max_run_secs),
            ..atelier_core::pull::PullSettings::default()
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1..=300).contains(&self.max_wait_secs) {
            bail!("pull.max_wait_secs must be between 1 and 300");
        }
        if self.seen_within_secs < self.max_wait_secs {
            bail!("pull.seen_within_secs must be at least pull.max_wait_secs (a waiting worker is a seen one)");
        }
        if !(1..=86_400).contains(&self.max_run_secs) {
            bail!("pull.max_run_secs must be between 1 and 86400");
        }
        if self.max_output_bytes < 1024 {
            bail!("pull.max_output_bytes must be at least 1024");
        }
        if let Some(bad) = self.models.iter().find(|model| !model.contains('/')) {
            bail!("pull.models: {bad:?} must be service/model");
        }
        Ok(())
    }
}

/// `[three_d]`: seed 002's routes (`/api/v1/generate/image-to-3d`, `text-to-3d`,
/// `/api/v1/jobs/…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThreeDConfig {
    /// The model that turns a picture into 3D.
    pub image_model: String,
    /// The model that turns text into 3D directly; empty: text to a picture
    /// (`text_image_model`) and the picture to 3D (`image_model`), as TRELLIS advises.
    pub text_model: String,
    /// The picture step of text to 3D.
    pub text_image_model: String,
    /// Runs a job on this model when its own runs on remote workers and none was
    /// seen lately, and says so on the job; empty: answer 503 with `Retry-After`.
    pub fallback: String,
    /// How long the result URLs a job's answers carry stay valid, in seconds.
    pub result_link_secs: u64,
}

impl Default for ThreeDConfig {
    fn default() -> Self {
        Self {
            image_model: "trellis/trellis-image-large".into(),
            text_model: String::new(),
            text_image_model: "local/placeholder".into(),
            fallback: "local/relief".into(),
            result_link_secs: 24 * 3600,
        }
    }
}

impl ThreeDConfig {
    pub fn settings(&self) -> atelier_core::three_d::ThreeDSettings {
        atelier_core::three_d::ThreeDSettings {
            image_model: self.image_model.trim().to_owned(),
            text_model: self.text_model.trim().to_owned(),
            text_image_model: self.text_image_model.trim().to_owned(),
            fallback: self.fallback.trim().to_owned(),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.image_model.trim().is_empty() || self.text_image_model.trim().is_empty() {
            bail!("three_d.image_model and three_d.text_image_model must name models");
        }
        if !(60..=7 * 24 * 3600).contains(&self.result_link_secs) {
            bail!("three_d.result_link_secs must be between 60 and 604800");
        }
        Ok(())
    }
}
