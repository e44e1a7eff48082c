//! `[providers.volcengine]`: the access key pair (each also from a file named by
//! its `_file` key), where the visual API is, and the options every request
//! carries (results as URLs or inline, the visible logo, the AIGC metadata).

use std::path::PathBuf;
use std::time::Duration;

use atelier_core::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::kit::{ConfigError, PollSchedule, check_url, optional, secret};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolcEngineConfig {
    /// The access key id (AK). Empty: VolcEngine's models are listed but not usable.
    pub access_key_id: Secret,
    pub access_key_id_file: Option<PathBuf>,
    /// The secret access key (SK).
    pub secret_access_key: Secret,
    pub secret_access_key_file: Option<PathBuf>,
    /// The visual API's address.
    pub base_url: String,
    /// The signing region (`cn-north-1` for the visual APIs).
    pub region: String,
    /// A synchronous generation answers in one request, so this is long.
    pub request_timeout_secs: u64,
    /// Asynchronous jobs are polled this often at first, later less often.
    pub first_poll_ms: u64,
    /// Ask for result URLs (valid 24 h; Atelier downloads them at once) instead of
    /// images inline in the answer.
    pub return_url: bool,
    /// Put VolcEngine's visible "AI generated" mark on the images.
    pub add_logo: bool,
    /// Where: 0 bottom right, 1 bottom left, 2 top left, 3 top right.
    pub logo_position: u8,
    /// 0 Chinese, 1 English.
    pub logo_language: u8,
    /// Custom text for the mark (empty: VolcEngine's own).
    pub logo_text: String,
    /// AIGC metadata embedded in the images (China's labelling rules): set
    /// `aigc_producer_id` to send it.
    pub aigc_content_producer: String,
    pub aigc_producer_id: String,
    pub aigc_content_propagator: String,
    pub aigc_propagate_id: String,
}

impl Default for VolcEngineConfig {
    fn default() -> Self {
        Self {
            access_key_id: Secret::default(),
            access_key_id_file: None,
            secret_access_key: Secret::default(),
            secret_access_key_file: None,
            base_url: "https://visual.volcengineapi.com".into(),
            region: "cn-north-1".into(),
            request_timeout_secs: 120,
            first_poll_ms: 2000,
            return_url: false,
            add_logo: false,
            logo_position: 0,
            logo_language: 0,
            logo_text: String::new(),
            aigc_content_producer: String::new(),
            aigc_producer_id: String::new(),
            aigc_content_propagator: String::new(),
            aigc_propagate_id: String::new(),
        }
    }
}

/// What the section says, checked, its secrets read.
pub(super) struct Settings {
    /// Both keys, or neither (not usable).
    pub keys: Option<(String, String)>,
    pub base_url: String,
    pub region: String,
    pub request_timeout: Duration,
    pub polls: PollSchedule,
    /// `return_url`, `logo_info` and `aigc_meta` as the API writes them.
    pub options: Value,
}

impl VolcEngineConfig {
    pub(super) fn settings(&self) -> Result<Settings, ConfigError> {
        check_url("providers.volcengine.base_url", &self.base_url)?;
        let access =
            secret(&self.access_key_id, self.access_key_id_file.as_deref(), "providers.volcengine.access_key_id_file")?;
        let secret_key = secret(
            &self.secret_access_key,
            self.secret_access_key_file.as_deref(),
            "providers.volcengine.secret_access_key_file",
        )?;
        let keys = match (access, secret_key) {
            (Some(access), Some(secret_key)) => Some((access, secret_key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new("providers.volcengine.secret_access_key", "is needed with access_key_id"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new("providers.volcengine.access_key_id", "is needed with secret_access_key"));
            }
        };
        if self.region.trim().is_empty() {
            return Err(ConfigError::new("providers.volcengine.region", "must not be empty"));
        }
        if self.logo_position > 3 {
            return Err(ConfigError::new("providers.volcengine.logo_position", "must be 0, 1, 2 or 3"));
        }
        if self.logo_language > 1 {
            return Err(ConfigError::new("providers.volcengine.logo_language", "must be 0 (Chinese) or 1 (English)"));
        }
        Ok(Settings {
            keys,
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            region: self.region.trim().to_owned(),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            polls: PollSchedule::new(Duration::from_millis(self.first_poll_ms.max(10))),
            options: self.options(),
        })
    }

    fn options(&self) -> Value {
        let mut options = json!({ "return_url": self.return_url });
        if self.add_logo {
            let mut logo = json!({
                "add_logo": true,
                "position": self.logo_position,
                "language": self.logo_language,
            });
            if let Some(text) = optional(&self.logo_text) {
                logo["logo_text_content"] = json!(text);
            }
            options["logo_info"] = logo;
        }
        if let Some(producer_id) = optional(&self.aigc_producer_id) {
            let mut meta = json!({ "producer_id": producer_id });
            for (key, value) in [
                ("content_producer", &self.aigc_content_producer),
                ("content_propagator", &self.aigc_content_propagator),
                ("propagate_id", &self.aigc_propagate_id),
            ] {
                if let Some(value) = optional(value) {
                    meta[key] = json!(value);
                }
            }
            options["aigc_meta"] = meta;
        }
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_in_pairs_and_options_are_the_apis() {
        let none = VolcEngineConfig::default().settings().unwrap_or_else(|e| panic!("{e}"));
        assert!(none.keys.is_none());
        assert_eq!(none.options, json!({ "return_url": false }));
        let half = VolcEngineConfig { access_key_id: Secret::new("ak"), ..VolcEngineConfig::default() };
        assert_eq!(half.settings().err().map(|e| e.key).as_deref(), Some("providers.volcengine.secret_access_key"));
        let full = VolcEngineConfig {
            access_key_id: Secret::new("ak"),
            secret_access_key: Secret::new("sk"),
            add_logo: true,
            logo_language: 1,
            logo_text: "AI".into(),
            aigc_producer_id: "p-1".into(),
            ..VolcEngineConfig::default()
        };
        let settings = full.settings().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.keys, Some(("ak".into(), "sk".into())));
        assert_eq!(
            settings.options,
            json!({
                "return_url": false,
                "logo_info": { "add_logo": true, "position": 0, "language": 1, "logo_text_content": "AI" },
                "aigc_meta": { "producer_id": "p-1" },
            })
        );
    }
}
