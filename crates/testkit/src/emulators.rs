//! Emulators of the providers' protocols for tests: each started on a loopback port
//! with test timings and the faults a test names, and the configuration that points
//! an app at it.

use std::collections::BTreeMap;
use std::time::Duration;

use atelier::config::{Config, Secret};
use atelier_emulators::a1111::{A1111Emulator, A1111EmulatorConfig};
use atelier_emulators::comfyui::{ComfyUiEmulator, ComfyUiEmulatorConfig};
use atelier_emulators::faults::{FaultPlan, FaultRule, RuleEndpoint};
use atelier_emulators::google::{GoogleEmulator, GoogleEmulatorConfig};
use atelier_emulators::kie::{KieEmulator, KieEmulatorConfig};
use atelier_emulators::openai::{Flavour, OpenAiEmulator, OpenAiEmulatorConfig};
use atelier_emulators::sdcpp::{SdCppEmulator, SdCppEmulatorConfig};
use atelier_emulators::stability::{StabilityEmulator, StabilityEmulatorConfig};
use atelier_emulators::volcengine::{VolcEngineEmulator, VolcEngineEmulatorConfig};
use serde_json::Value;

/// The key the emulators accept.
pub const KIE_KEY: &str = "test-key";
/// The OpenAI emulators' key: a test checks it never shows in an answer.
pub const OPENAI_KEY: &str = "sk-test-secret-0123456789";
/// The Google emulator's key.
pub const GOOGLE_KEY: &str = "AIza-test-google-key";
/// The VolcEngine emulator's key pair.
pub const VOLC_ACCESS_KEY: &str = "AKLT-test-access";
pub const VOLC_SECRET_KEY: &str = "test-secret-key==";

/// An emulator running on a loopback port.
#[derive(Clone)]
pub struct Emulator {
    pub base: String,
    http: reqwest::Client,
}

impl Emulator {
    /// Kie.ai: finishing after two polls, callbacks 200 ms after a task ends.
    pub async fn kie(faults: &[&str], tweak: impl FnOnce(&mut KieEmulatorConfig)) -> Self {
        let plan = plan(faults, atelier_emulators::kie::parse_fault_rule);
        let mut config = KieEmulatorConfig {
            faults: plan,
            steps_to_finish: 2,
            callback_delay: Duration::from_millis(200),
            ..KieEmulatorConfig::default()
        };
        tweak(&mut config);
        Self::spawn(|listener| KieEmulator::new(config).serve(listener)).await
    }

    /// OpenAI or Azure OpenAI: videos done after two polls; Azure serves
    /// `gpt-image-1` from a deployment named `images-prod`.
    pub async fn openai(flavour: Flavour, faults: &[&str]) -> Self {
        let plan = plan(faults, atelier_emulators::openai::parse_fault_rule);
        let config = OpenAiEmulatorConfig {
            flavour,
            api_key: OPENAI_KEY.into(),
            faults: plan,
            deployments: BTreeMap::from([
                ("images-prod".to_owned(), "gpt-image-1".to_owned()),
                ("chat-prod".to_owned(), "gpt-4o-mini".to_owned()),
            ]),
            steps_to_finish: 2,
            poll_after_ms: 50,
            timeout_fault_duration: Duration::from_secs(3),
            ..OpenAiEmulatorConfig::default()
        };
        Self::spawn(|listener| OpenAiEmulator::new(config).serve(listener)).await
    }

    /// VolcEngine's visual API: jobs done after two polls, `timeout` held 3 s.
    pub async fn volcengine(faults: &[&str], tweak: impl FnOnce(&mut VolcEngineEmulatorConfig)) -> Self {
        let plan = plan(faults, atelier_emulators::volcengine::parse_fault_rule);
        let mut config = VolcEngineEmulatorConfig {
            access_key_id: VOLC_ACCESS_KEY.into(),
            secret_access_key: VOLC_SECRET_KEY.into(),
            faults: plan,
            steps_to_finish: 2,
            timeout_fault_duration: Duration::from_secs(3),
            ..VolcEngineEmulatorConfig::default()
        };
        tweak(&mut config);
        Self::spawn(|listener| VolcEngineEmulator::new(config).serve(listener)).await
    }

    /// Google's Gemini API: Veo operations done after two polls, `timeout` held 3 s.
    pub async fn google(faults: &[&str], tweak: impl FnOnce(&mut GoogleEmulatorConfig)) -> Self {
        let plan = plan(faults, atelier_emulators::google::parse_fault_rule);
        let mut config = GoogleEmulatorConfig {
            api_key: GOOGLE_KEY.into(),
            faults: plan,
            steps_to_finish: 2,
            timeout_fault_duration: Duration::from_secs(3),
            ..GoogleEmulatorConfig::default()
        };
        tweak(&mut config);
        Self::spawn(|listener| GoogleEmulator::new(config).serve(listener)).await
    }

    /// Points `[providers.google]` at this emulator, polling first after 50 ms.
    pub fn point_google(&self, config: &mut Config) {
        let google = &mut config.providers.google;
        google.api_key = Secret::new(GOOGLE_KEY);
        google.base_url = format!("{}/v1beta", self.base);
        google.first_poll_ms = 50;
        google.request_timeout_secs = 5;
    }

    /// AUTOMATIC1111: generations of `step_ms` per sampling step, one at a time.
    pub async fn a1111(faults: &[&str], tweak: impl FnOnce(&mut A1111EmulatorConfig)) -> Self {
        let plan = plan(faults, atelier_emulators::a1111::parse_fault_rule);
        let mut config = A1111EmulatorConfig {
            faults: plan,
            timeout_fault_duration: Duration::from_secs(3),
            ..A1111EmulatorConfig::default()
        };
        tweak(&mut config);
        Self::spawn(|listener| A1111Emulator::new(config).serve(listener)).await
    }

    /// ComfyUI: prompts run one at a time, `step_ms` per sampling step.
    pub async fn comfyui(faults: &[&str], tweak: impl FnOnce(&mut ComfyUiEmulatorConfig)) -> Self {
        let plan = plan(faults, atelier_emulators::comfyui::parse_fault_rule);
        let mut config = ComfyUiEmulatorConfig {
            faults: plan,
            timeout_fault_duration: Duration::from_secs(3),
            ..ComfyUiEmulatorConfig::default()
        };
        tweak(&mut config);
        Self::spawn(|listener| ComfyUiEmulator::new(config).serve(listener)).await
    }

    /// Stability AI's REST v2beta, accepting the key `test-key`.
    pub async fn stability(faults: &[&str], tweak: impl FnOnce(&mut StabilityEmulatorConfig)) -> Self {
        let plan = plan(faults, atelier_emulators::stability::parse_fault_rule);
        let mut config = StabilityEmulatorConfig {
            faults: plan,
            timeout_fault_duration: Duration::from_secs(3),
            ..StabilityEmulatorConfig::default()
        };
        tweak(&mut config);
        Self::spawn(|listener| StabilityEmulator::new(config).serve(listener)).await
    }

    /// Points `[providers.stability]` at this emulator.
    pub fn point_stability(&self, config: &mut Config) {
        config.providers.stability.api_key = Secret::new("test-key");
        config.providers.stability.base_url = self.base.clone();
        config.providers.stability.request_timeout_secs = 5;
    }

    /// stable-diffusion.cpp's `sd-server`.
    pub async fn sdcpp(faults: &[&str], tweak: impl FnOnce(&mut SdCppEmulatorConfig)) -> Self {
        let plan = plan(faults, atelier_emulators::sdcpp::parse_fault_rule);
        let mut config = SdCppEmulatorConfig {
            faults: plan,
            timeout_fault_duration: Duration::from_secs(3),
            ..SdCppEmulatorConfig::default()
        };
        tweak(&mut config);
        Self::spawn(|listener| SdCppEmulator::new(config).serve(listener)).await
    }

    /// Points `[providers.volcengine]` at this emulator, polling first after 50 ms.
    pub fn point_volcengine(&self, config: &mut Config) {
        let volcengine = &mut config.providers.volcengine;
        volcengine.access_key_id = Secret::new(VOLC_ACCESS_KEY);
        volcengine.secret_access_key = Secret::new(VOLC_SECRET_KEY);
        volcengine.base_url = self.base.clone();
        volcengine.first_poll_ms = 50;
        volcengine.request_timeout_secs = 5;
    }

    /// Serves an emulator on a loopback port.
    async fn spawn<F>(serve: impl FnOnce(tokio::net::TcpListener) -> F) -> Self
    where
        F: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(serve(listener));
        Self { base, http: reqwest::Client::new() }
    }

    /// The emulator's call counters (`/__emulator/stats`).
    pub async fn stats(&self) -> Value {
        let response = self.http.get(format!("{}/__emulator/stats", self.base)).send().await.expect("stats");
        response.json().await.expect("json")
    }

    /// Points `[providers.kie]` at this emulator (API and uploads), polling first
    /// after `first_poll_ms`.
    pub fn point_kie(&self, config: &mut Config, first_poll_ms: u64) {
        let kie = &mut config.providers.kie;
        kie.api_key = Secret::new(KIE_KEY);
        kie.base_url = self.base.clone();
        kie.upload_base_url = self.base.clone();
        kie.first_poll_ms = first_poll_ms;
        kie.request_timeout_secs = 5;
    }

    /// Points `[providers.openai]` or `[providers.azure]` at this emulator.
    pub fn point_openai(&self, config: &mut Config, flavour: Flavour) {
        match flavour {
            Flavour::OpenAi => {
                let openai = &mut config.providers.openai;
                openai.api_key = Secret::new(OPENAI_KEY);
                openai.base_url = format!("{}/v1", self.base);
                openai.request_timeout_secs = 20;
                openai.first_poll_ms = 50;
            }
            Flavour::Azure => {
                let azure = &mut config.providers.azure;
                azure.api_key = Secret::new(OPENAI_KEY);
                azure.endpoint = self.base.clone();
                azure.deployments = BTreeMap::from([
                    ("gpt-image-1".to_owned(), "images-prod".to_owned()),
                    ("gpt-4o-mini".to_owned(), "chat-prod".to_owned()),
                ]);
                azure.request_timeout_secs = 20;
                azure.first_poll_ms = 50;
            }
        }
    }
}

impl Emulator {
    /// Points `[providers.llm]` (an OpenAI-compatible chat server of your own) at
    /// this OpenAI emulator, its models read from the server's list.
    pub fn point_llm(&self, config: &mut Config) {
        let llm = &mut config.providers.llm;
        llm.base_url = format!("{}/v1", self.base);
        llm.api_key = Secret::new(OPENAI_KEY);
        llm.request_timeout_secs = 20;
    }
}

/// Signs Kie's callbacks with `key` and points `callback_url` at the app.
pub fn kie_callbacks(config: &mut Config, app_base: &str, key: &str) {
    config.providers.kie.callback_url = format!("{app_base}/api/v1/callbacks/kie");
    config.providers.kie.webhook_hmac_key = Secret::new(key);
}

/// A test's fault rules as an emulator's plan.
fn plan<E: RuleEndpoint>(faults: &[&str], parse: fn(&str) -> Result<FaultRule<E>, String>) -> FaultPlan<E> {
    faults.iter().fold(FaultPlan::none(), |plan, rule| plan.with(parse(rule).expect("a fault rule")))
}
