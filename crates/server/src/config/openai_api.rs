//! `[openai_api]`: the OpenAI-compatible routes under `/v1` (the OpenAI SDKs'
//! `base_url`), which answer in OpenAI's shapes for any Atelier model.

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiApiConfig {
    /// Serve `/v1/…` at all.
    pub enabled: bool,
    /// How long a synchronous call (images, speech, chat) waits for its task. Past
    /// it the answer is a 504 naming the task, which keeps running; keep it below
    /// your clients' own timeout (the SDKs' default is 600 s), or a client that
    /// gives up first and retries makes a second task.
    pub max_wait_secs: u64,
    /// How long a `response_format: "url"` image link lasts (OpenAI's last an hour).
    pub url_ttl_secs: u64,
}

impl Default for OpenAiApiConfig {
    fn default() -> Self {
        Self { enabled: true, max_wait_secs: 300, url_ttl_secs: 3600 }
    }
}

impl OpenAiApiConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1..=3600).contains(&self.max_wait_secs) {
            bail!("openai_api.max_wait_secs must be between 1 and 3600");
        }
        if !(60..=604_800).contains(&self.url_ttl_secs) {
            bail!("openai_api.url_ttl_secs must be between 60 and 604800 (a week)");
        }
        Ok(())
    }
}
