//! `[telemetry]`: traces exported over OTLP (`crate::telemetry::otlp`), off unless
//! an endpoint is set.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Empty: no traces. A collector's OTLP/HTTP address (`http://localhost:4318`):
    /// spans go to `<endpoint>/v1/traces` as protobuf.
    pub otlp_endpoint: String,
    /// The `service.name` the spans carry.
    pub service_name: String,
    /// The share of new traces kept, 0 to 1; a task's run follows the decision of
    /// the request that created it.
    pub sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { otlp_endpoint: String::new(), service_name: "atelier".into(), sample_ratio: 1.0 }
    }
}

impl TelemetryConfig {
    /// Where spans are sent, when traces are on.
    pub fn traces_url(&self) -> anyhow::Result<Option<url::Url>> {
        let endpoint = self.otlp_endpoint.trim();
        if endpoint.is_empty() {
            return Ok(None);
        }
        let mut url = url::Url::parse(endpoint).with_context(|| {
            format!("telemetry.otlp_endpoint {endpoint:?} is not a URL such as http://localhost:4318")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("telemetry.otlp_endpoint must be an http:// or https:// URL");
        }
        if !url.path().ends_with("/v1/traces") {
            let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        Ok(Some(url))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.traces_url()?;
        if self.service_name.trim().is_empty() {
            bail!("telemetry.service_name must not be empty");
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            bail!("telemetry.sample_ratio must be between 0 and 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_collector_base() {
        let traces = |endpoint: &str| {
            let config = TelemetryConfig { otlp_endpoint: endpoint.into(), ..TelemetryConfig::default() };
            config.traces_url().expect("valid").map(String::from)
        };
        assert_eq!(traces(""), None);
        assert_eq!(traces("http://localhost:4318").as_deref(), Some("http://localhost:4318/v1/traces"));
        assert_eq!(traces("http://collector:4318/otlp/").as_deref(), Some("http://collector:4318/otlp/v1/traces"));
        assert_eq!(traces("https://c.example/v1/traces").as_deref(), Some("https://c.example/v1/traces"));
    }

    #[test]
    fn bad_values_name_their_key() {
        for config in [
            TelemetryConfig { otlp_endpoint: "localhost 4318".into(), ..TelemetryConfig::default() },
            TelemetryConfig { otlp_endpoint: "grpc://localhost:4317".into(), ..TelemetryConfig::default() },
        ] {
            assert!(config.validate().expect_err("invalid").to_string().contains("telemetry.otlp_endpoint"));
        }
        let ratio = TelemetryConfig { sample_ratio: 1.5, ..TelemetryConfig::default() };
        assert!(ratio.validate().expect_err("invalid").to_string().contains("telemetry.sample_ratio"));
        let name = TelemetryConfig { service_name: " ".into(), ..TelemetryConfig::default() };
        assert!(name.validate().expect_err("invalid").to_string().contains("telemetry.service_name"));
    }
}
