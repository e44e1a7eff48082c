//! Figure 8: the providers of the second part, through their emulators at zero
//! latency: VolcEngine (a synchronous General 3.0 call per task, and Jimeng 3.1
//! jobs submitted then polled), Google (Imagen's synchronous `:predict`, and Veo
//! operations polled then downloaded), Stability AI, and the self-hosted servers
//! (AUTOMATIC1111, stable-diffusion.cpp, ComfyUI); and the cost of signing one
//! VolcEngine request, in process.

use std::time::Instant;

use anyhow::Result;
use atelier_providers::volcengine::signer::Signer;
use serde_json::json;

use crate::emulated;
use crate::emulator::{Credentials, Emulated, FAST_POLL_MS, UrlSetting, api_key, no_credentials};
use crate::plan::Plan;
use crate::report::{Report, thousands};

impl Emulated {
    /// VolcEngine: `model` is `general_v3.0` (synchronous) or `jimeng_v3.1` (a job,
    /// done at its first result poll).
    fn volcengine(model: &'static str) -> Emulated {
        let synchronous = model == "general_v3.0";
        Emulated {
            subcommand: "volcengine",
            banner: "VolcEngine emulator listening on http://",
            credentials: Credentials {
                flags: ["--access-key-id", "bench-ak", "--secret-access-key", "bench-sk"].map(str::to_owned).to_vec(),
                settings: vec![("ACCESS_KEY_ID", "bench-ak".to_owned()), ("SECRET_ACCESS_KEY", "bench-sk".to_owned())],
            },
            flags: ["--steps", "0"].map(str::to_owned).to_vec(),
            section: "VOLCENGINE",
            base_path: "",
            url_setting: UrlSetting::BaseUrl,
            first_poll_ms: FAST_POLL_MS,
            extra_env: Vec::new(),
            model: if synchronous { "volcengine/general_v3.0" } else { "volcengine/jimeng_v3.1" },
            body: if synchronous {
                |i| json!({"model": "volcengine/general_v3.0", "input": {"prompt": format!("bench {i}"), "width": 512, "height": 512}})
            } else {
                |i| json!({"model": "volcengine/jimeng_v3.1", "input": {"prompt": format!("bench {i}"), "width": 512, "height": 512}})
            },
            create_counter: if synchronous { "cv_process" } else { "submit_task" },
            create_call: if synchronous { "CVProcess" } else { "CVSync2AsyncSubmitTask" },
            other_counters: if synchronous { &[] } else { &["get_result"] },
            setup: format!("steps 0, 512x512, signed requests ({})", if synchronous { "sync" } else { "async job" }),
        }
    }

    /// Google: `imagen4` (synchronous, one 1K image) or `veo3` (an operation done at
    /// its first poll, then the video downloaded with the key).
    fn google(model: &'static str) -> Emulated {
        let video = model == "veo3";
        Emulated {
            subcommand: "google",
            banner: "Google emulator listening on http://",
            credentials: api_key(),
            flags: ["--steps", "0"].map(str::to_owned).to_vec(),
            section: "GOOGLE",
            base_path: "/v1beta",
            url_setting: UrlSetting::BaseUrl,
            first_poll_ms: FAST_POLL_MS,
            extra_env: Vec::new(),
            model: if video { "google/veo-3" } else { "google/imagen-4" },
            body: if video {
                |i| json!({"model": "google/veo-3", "input": {"prompt": format!("bench {i}")}})
            } else {
                |i| json!({"model": "google/imagen-4", "input": {"prompt": format!("bench {i}"), "aspect_ratio": "1:1"}})
            },
            create_counter: if video { "predict_long_running" } else { "predict" },
            create_call: if video { "predictLongRunning" } else { "predict" },
            other_counters: if video { &["operations", "files"] } else { &[] },
            setup: if video { "steps 0, the 320x180 sample MP4".to_owned() } else { "fast variant, 1:1".to_owned() },
        }
    }
}

impl Emulated {
    /// A self-hosted Stable Diffusion server (`a1111`, `sdcpp`, `comfyui`), at once
    /// (no sampling time): one 512x512 image per task.
    fn self_hosted(subcommand: &'static str) -> Emulated {
        let (banner, section, model, create_counter, create_call): (_, _, _, _, &'static str) = match subcommand {
            "a1111" => ("AUTOMATIC1111 emulator listening on http://", "A1111", "a1111/default", "txt2img", "txt2img"),
            "sdcpp" => {
                ("stable-diffusion.cpp emulator listening on http://", "SDCPP", "sdcpp/default", "txt2img", "txt2img")
            }
            _ => (
                "ComfyUI emulator listening on http://",
                "COMFYUI",
                "comfyui/txt2img",
                "prompts_queued",
                "POST /prompt",
            ),
        };
        Emulated {
            subcommand,
            banner,
            credentials: no_credentials(),
            flags: Vec::new(),
            section,
            base_path: "",
            url_setting: UrlSetting::Urls,
            first_poll_ms: if subcommand == "comfyui" { FAST_POLL_MS } else { 0 },
            extra_env: Vec::new(),
            model,
            body: match subcommand {
                "a1111" => {
                    |i| json!({"model": "a1111/default", "input": {"prompt": format!("bench {i}"), "width": 512, "height": 512, "steps": 1}})
                }
                "sdcpp" => {
                    |i| json!({"model": "sdcpp/default", "input": {"prompt": format!("bench {i}"), "width": 512, "height": 512, "steps": 1}})
                }
                _ => {
                    |i| json!({"model": "comfyui/txt2img", "input": {"prompt": format!("bench {i}"), "width": 512, "height": 512, "steps": 1}})
                }
            },
            create_counter,
            create_call,
            other_counters: &[],
            setup: "512x512, no sampling time, one server".to_owned(),
        }
    }

    /// Stability AI's Stable Image Core: one synchronous multipart call per task.
    fn stability() -> Emulated {
        Emulated {
            subcommand: "stability",
            banner: "Stability AI emulator listening on http://",
            credentials: api_key(),
            flags: Vec::new(),
            section: "STABILITY",
            base_path: "",
            url_setting: UrlSetting::BaseUrl,
            first_poll_ms: 0,
            extra_env: Vec::new(),
            model: "stability/core",
            body: |i| json!({"model": "stability/core", "input": {"prompt": format!("bench {i}")}}),
            create_counter: "core",
            create_call: "generate/core",
            other_counters: &[],
            setup: "1:1 png, about one megapixel".to_owned(),
        }
    }
}

/// Signing cost: one VolcEngine signature (canonical request, two SHA-256 and five
/// HMAC-SHA256), over a typical 200-byte body.
fn signing(report: &mut Report) {
    let signer = Signer::new("AKLTbench", "bench-secret", "cn-north-1", "cv");
    let url = reqwest::Url::parse("https://visual.volcengineapi.com/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31");
    let Ok(url) = url else { return };
    let body =
        json!({"req_key": "jimeng_t2i_v31", "prompt": "a red fox at dawn, watercolour, soft light", "width": 1328,
                      "height": 1328, "seed": -1, "use_pre_llm": true})
        .to_string();
    let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
    let n = 20_000;
    let now = chrono::Utc::now();
    let started = Instant::now();
    let mut length = 0;
    for _ in 0..n {
        length += signer.sign("POST", &url, &headers, body.as_bytes(), now).authorization.len();
    }
    let each = started.elapsed().as_secs_f64() / f64::from(n) * 1e6;
    report.add(
        "providers",
        "VolcEngine signature",
        format!("{each:.1}"),
        "µs each",
        format!(
            "{} signatures of a {}-byte body, one thread ({length} bytes of headers)",
            thousands(n as usize),
            body.len()
        ),
    );
}

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let section_started = Instant::now();
    signing(report);
    let runs = [
        ("volcengine/sqlite", Emulated::volcengine("general_v3.0")),
        ("volcengine/sqlite", Emulated::volcengine("jimeng_v3.1")),
        ("google/sqlite", Emulated::google("imagen4")),
        ("google/sqlite", Emulated::google("veo3")),
        ("stability/sqlite", Emulated::stability()),
        ("a1111/sqlite", Emulated::self_hosted("a1111")),
        ("sdcpp/sqlite", Emulated::self_hosted("sdcpp")),
        ("comfyui/sqlite", Emulated::self_hosted("comfyui")),
    ];
    for (scope, provider) in &runs {
        if let Err(error) = emulated::throughput(plan, scope, provider, plan.provider_tasks, report).await {
            report.remark(format!("{scope}: {} throughput run failed: {error:#}", provider.model));
        }
    }
    eprintln!("[providers] done in {:.0} s", section_started.elapsed().as_secs_f64());
    Ok(())
}
