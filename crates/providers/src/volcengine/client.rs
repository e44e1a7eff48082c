//! Calls to the visual API: `POST /?Action=…&Version=2022-08-31` with a JSON body,
//! signed ([`Signer`]), read through the envelope ([`wire::read`]).

use std::sync::Arc;
use std::time::Duration;

use atelier_core::ports::{ErrorClass, ProviderError};
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use super::signer::Signer;
use super::wire;
use crate::kit::{ApiClient, Phase};

/// The visual API's version for every action used here.
pub const VERSION: &str = "2022-08-31";
/// The signing service of the visual APIs.
const SERVICE: &str = "cv";

pub struct VolcClient {
    api: ApiClient,
    base: reqwest::Url,
}

impl VolcClient {
    pub fn new(
        access_key_id: &str,
        secret_access_key: &str,
        base_url: &str,
        region: &str,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let base = reqwest::Url::parse(&format!("{base_url}/")).map_err(|error| {
            ProviderError::new(ErrorClass::ClientError, format!("the VolcEngine base URL is not a URL: {error}"))
        })?;
        let signer = Arc::new(Signer::new(access_key_id, secret_access_key, region, SERVICE));
        Ok(Self { api: ApiClient::new("VolcEngine", signer, timeout)?, base })
    }

    /// Calls `action` with `body`; returns the answer's `data`.
    pub async fn call(&self, action: &str, body: &Value, phase: Phase) -> Result<Value, ProviderError> {
        let mut url = self.base.clone();
        url.query_pairs_mut().append_pair("Action", action).append_pair("Version", VERSION);
        let bytes = serde_json::to_vec(body).map_err(|error| {
            ProviderError::new(ErrorClass::ClientError, format!("encoding a VolcEngine request: {error}"))
        })?;
        let request = self.api.request(Method::POST, url).header(CONTENT_TYPE, "application/json").body(bytes);
        let reply = self.api.send(request, phase).await?;
        wire::read(&reply)
    }

    /// Downloads a result URL (no credentials).
    pub async fn download(&self, url: &str) -> Result<(Bytes, Option<String>), ProviderError> {
        self.api.download(url).await
    }
}
