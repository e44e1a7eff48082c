//! `[providers.comfyui]`: the ComfyUI servers (one or several, one service), the
//! folder of the user's own workflow templates, and how its prompts are followed.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kit::{ConfigError, check_url};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComfyUiConfig {
    /// The servers' base URLs (`http://127.0.0.1:8188`); each prompt goes to the one
    /// with the fewest of Atelier's in flight. Empty: not usable.
    pub urls: Vec<String>,
    /// A folder of workflow templates (`*.json`, in the shape of the shipped ones),
    /// each a model named after its file. Empty: the shipped ones only.
    pub templates_dir: Option<PathBuf>,
    /// One HTTP call.
    pub request_timeout_secs: u64,
    /// A prompt is looked at this often at first, later less often.
    pub first_poll_ms: u64,
    /// Follow a running prompt's progress over ComfyUI's WebSocket (`/ws`);
    /// `/history` alone otherwise.
    pub websocket: bool,
}

impl Default for ComfyUiConfig {
    fn default() -> Self {
        Self { urls: Vec::new(), templates_dir: None, request_timeout_secs: 60, first_poll_ms: 500, websocket: true }
    }
}

pub(super) struct Settings {
    pub urls: Vec<String>,
    pub templates_dir: Option<PathBuf>,
    pub request_timeout: Duration,
    pub first_poll: Duration,
    pub websocket: bool,
}

impl ComfyUiConfig {
    pub(super) fn settings(&self) -> Result<Settings, ConfigError> {
        let mut urls = Vec::new();
        for url in &self.urls {
            check_url("providers.comfyui.urls", url)?;
            urls.push(url.trim().trim_end_matches('/').to_owned());
        }
        if let Some(dir) = &self.templates_dir
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(ConfigError::new(
                "providers.comfyui.templates_dir",
                format!("{} is not a folder", dir.display()),
            ));
        }
        Ok(Settings {
            urls,
            templates_dir: self.templates_dir.clone().filter(|dir| !dir.as_os_str().is_empty()),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            first_poll: Duration::from_millis(self.first_poll_ms.max(10)),
            websocket: self.websocket,
        })
    }
}
