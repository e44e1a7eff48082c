//! What the WebUI has on disk and in its settings: checkpoints
//! (`GET /sdapi/v1/sd-models`), samplers (`GET /sdapi/v1/samplers`),
//! schedulers (`GET /sdapi/v1/schedulers`), and the options
//! (`GET`/`POST /sdapi/v1/options`, whose `sd_model_checkpoint` switches the
//! checkpoint), plus `POST /sdapi/v1/refresh-checkpoints`.
//!
//! Confirmed shapes (`modules/api/api.py`, `models.py`): a checkpoint is
//! `{title, model_name, hash, sha256, filename, config}` with `title`
//! `"<file> [<hash>]"` and `hash` the first ten hex digits of the SHA-256; a
//! sampler `{name, aliases, options}` (`options` a map of strings); a scheduler
//! `{name, label, aliases, default_rho, need_inner_model}`; `POST options`
//! answers `null`, and an unknown `sd_model_checkpoint` raises
//! `RuntimeError("model '<name>' not found")` (500).
//!
//! Unconfirmed, the emulator's choices: checkpoint files live under
//! `/models/Stable-diffusion/`; the SHA-256 of `v1-5-pruned-emaonly.safetensors`
//! and `sd_xl_base_1.0.safetensors` are the published ones, any other's is the
//! SHA-256 of its name; a checkpoint is named by its title, file name, model
//! name, short hash or SHA-256 (A1111's `checkpoint_aliases`); the samplers'
//! names, aliases and options are WebUI 1.10's; `GET options` answers a few
//! common settings plus whatever was set.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::A1111State;
use super::errors;

/// Where checkpoint files are said to live.
pub(super) const MODELS_DIR: &str = "/models/Stable-diffusion";
/// The version the infotexts and `info` name.
pub(super) const VERSION: &str = "v1.10.1";

/// The checkpoints a default configuration has (one SDXL among them).
pub const DEFAULT_CHECKPOINTS: [&str; 3] =
    ["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors", "dreamshaper_8.safetensors"];

/// The samplers a default configuration has (WebUI 1.10's, in its order).
pub const DEFAULT_SAMPLERS: [&str; 15] = [
    "DPM++ 2M",
    "DPM++ SDE",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Heun",
    "DPM++ 2S a",
    "DPM++ 3M SDE",
    "Euler a",
    "Euler",
    "LMS",
    "Heun",
    "DPM2",
    "DPM2 a",
    "DDIM",
    "PLMS",
    "UniPC",
];

/// The published SHA-256 of well-known checkpoints.
const KNOWN_HASHES: [(&str, &str); 2] = [
    ("v1-5-pruned-emaonly.safetensors", "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"),
    ("sd_xl_base_1.0.safetensors", "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6ffb6c59d7b5b"),
];

/// A known sampler: its name, aliases, and options.
type KnownSampler = (&'static str, &'static [&'static str], &'static [(&'static str, &'static str)]);

/// WebUI 1.10's samplers.
const KNOWN_SAMPLERS: [KnownSampler; 20] = [
    ("DPM++ 2M", &["k_dpmpp_2m"], &[("scheduler", "karras")]),
    ("DPM++ SDE", &["k_dpmpp_sde"], &[("scheduler", "karras"), ("second_order", "True"), ("brownian_noise", "True")]),
    ("DPM++ 2M SDE", &["k_dpmpp_2m_sde"], &[("scheduler", "exponential"), ("brownian_noise", "True")]),
    (
        "DPM++ 2M SDE Heun",
        &["k_dpmpp_2m_sde_heun"],
        &[("scheduler", "exponential"), ("brownian_noise", "True"), ("solver_type", "heun")],
    ),
    ("DPM++ 2S a", &["k_dpmpp_2s_a"], &[("scheduler", "karras"), ("uses_ensd", "True"), ("second_order", "True")]),
    (
        "DPM++ 3M SDE",
        &["k_dpmpp_3m_sde"],
        &[("scheduler", "exponential"), ("discard_next_to_last_sigma", "True"), ("brownian_noise", "True")],
    ),
    ("Euler a", &["k_euler_a", "k_euler_ancestral"], &[("uses_ensd", "True")]),
    ("Euler", &["k_euler"], &[]),
    ("LMS", &["k_lms"], &[]),
    ("Heun", &["k_heun"], &[("second_order", "True")]),
    (
        "DPM2",
        &["k_dpm_2"],
        &[("scheduler", "karras"), ("discard_next_to_last_sigma", "True"), ("second_order", "True")],
    ),
    (
        "DPM2 a",
        &["k_dpm_2_a"],
        &[
            ("scheduler", "karras"),
            ("discard_next_to_last_sigma", "True"),
            ("uses_ensd", "True"),
            ("second_order", "True"),
        ],
    ),
    ("DPM fast", &["k_dpm_fast"], &[("uses_ensd", "True")]),
    ("DPM adaptive", &["k_dpm_ad"], &[("uses_ensd", "True")]),
    ("Restart", &["restart"], &[("scheduler", "karras"), ("second_order", "True")]),
    ("DDIM", &["ddim"], &[]),
    ("DDIM CFG++", &["ddim_cfgpp"], &[]),
    ("PLMS", &["plms"], &[]),
    ("UniPC", &["unipc"], &[]),
    ("LCM", &["k_lcm"], &[]),
];

/// WebUI 1.10's schedulers: name, label, aliases, default_rho, need_inner_model.
pub(super) const SCHEDULERS: [(&str, &str, Option<&str>, f64, bool); 12] = [
    ("automatic", "Automatic", None, -1.0, false),
    ("uniform", "Uniform", None, -1.0, true),
    ("karras", "Karras", None, 7.0, false),
    ("exponential", "Exponential", None, -1.0, false),
    ("polyexponential", "Polyexponential", None, 1.0, false),
    ("sgm_uniform", "SGM Uniform", Some("SGMUniform"), -1.0, true),
    ("kl_optimal", "KL Optimal", None, -1.0, false),
    ("align_your_steps", "Align Your Steps", None, -1.0, false),
    ("simple", "Simple", None, -1.0, true),
    ("normal", "Normal", None, -1.0, true),
    ("ddim", "DDIM", None, -1.0, true),
    ("beta", "Beta", None, -1.0, true),
];

/// One checkpoint file.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Checkpoint {
    /// Its path under the models directory (`v1-5-pruned-emaonly.safetensors`).
    pub(super) name: String,
    /// `<name> [<hash>]`.
    pub(super) title: String,
    /// The name without its extension, `/` read as `_`.
    pub(super) model_name: String,
    /// The first ten hex digits of `sha256`.
    pub(super) hash: String,
    pub(super) sha256: String,
}

impl Checkpoint {
    pub(super) fn new(name: &str) -> Self {
        let name = name.trim().trim_start_matches('/').to_owned();
        let sha256 = KNOWN_HASHES.iter().find(|(known, _)| *known == name).map_or_else(
            || Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect(),
            |(_, hash)| (*hash).to_owned(),
        );
        let hash = sha256[..10].to_owned();
        let flat = name.replace(['/', '\\'], "_");
        let model_name = match flat.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_owned(),
            _ => flat,
        };
        Self { title: format!("{name} [{hash}]"), name, model_name, hash, sha256 }
    }

    /// Whether `alias` names this checkpoint (title, file name, model name, hash, SHA-256).
    pub(super) fn is_named(&self, alias: &str) -> bool {
        let alias = alias.trim();
        [&self.title, &self.name, &self.model_name, &self.hash, &self.sha256]
            .iter()
            .any(|known| known.as_str() == alias)
            || alias == format!("{} [{}]", self.model_name, self.hash)
    }

    fn json(&self) -> Value {
        json!({
            "title": self.title,
            "model_name": self.model_name,
            "hash": self.hash,
            "sha256": self.sha256,
            "filename": format!("{MODELS_DIR}/{}", self.name),
            "config": null,
        })
    }
}

/// One sampler.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sampler {
    pub(super) name: String,
    aliases: Vec<String>,
    options: Map<String, Value>,
}

impl Sampler {
    pub(super) fn new(name: &str) -> Self {
        let known = KNOWN_SAMPLERS.iter().find(|(known, _, _)| *known == name);
        let aliases =
            known.map(|(_, aliases, _)| aliases.iter().map(|a| (*a).to_owned()).collect()).unwrap_or_default();
        let options = known
            .map(|(_, _, options)| options.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect())
            .unwrap_or_default();
        Self { name: name.to_owned(), aliases, options }
    }

    fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The checkpoints and samplers of a run.
pub(super) struct Catalog {
    pub(super) checkpoints: Vec<Checkpoint>,
    pub(super) samplers: Vec<Sampler>,
}

impl Catalog {
    pub(super) fn new(checkpoints: &[String], samplers: &[String]) -> Self {
        Self {
            checkpoints: checkpoints.iter().filter(|c| !c.trim().is_empty()).map(|c| Checkpoint::new(c)).collect(),
            samplers: samplers.iter().map(|s| Sampler::new(s)).collect(),
        }
    }

    /// The checkpoint `alias` names.
    pub(super) fn checkpoint(&self, alias: &str) -> Option<usize> {
        self.checkpoints.iter().position(|c| c.is_named(alias))
    }

    /// The sampler (and the scheduler, for the older `"DPM++ 2M Karras"`
    /// names) that `name` names: a sampler's name or alias, any case.
    pub(super) fn sampler(&self, name: &str) -> Option<(&str, Option<&'static str>)> {
        if let Some(sampler) = self.samplers.iter().find(|s| s.is_named(name)) {
            return Some((&sampler.name, None));
        }
        SCHEDULERS.iter().find_map(|(scheduler, label, alias, _, _)| {
            let base = [Some(*label), *alias]
                .into_iter()
                .flatten()
                .find_map(|suffix| name.strip_suffix(suffix).and_then(|rest| rest.strip_suffix(' ')))?;
            let sampler = self.samplers.iter().find(|s| s.is_named(base))?;
            Some((sampler.name.as_str(), Some(*scheduler)))
        })
    }
}

/// A scheduler's name from a request (its name, label or alias; `automatic` otherwise).
pub(super) fn scheduler(requested: Option<&str>) -> &'static str {
    let Some(requested) = requested.map(str::trim).filter(|r| !r.is_empty()) else { return "automatic" };
    SCHEDULERS
        .iter()
        .find(|(name, label, alias, _, _)| {
            name.eq_ignore_ascii_case(requested)
                || label.eq_ignore_ascii_case(requested)
                || alias.is_some_and(|a| a.eq_ignore_ascii_case(requested))
        })
        .map_or("automatic", |(name, _, _, _, _)| name)
}

/// A scheduler's label (`Automatic`).
pub(super) fn scheduler_label(name: &str) -> &'static str {
    SCHEDULERS.iter().find(|(n, _, _, _, _)| *n == name).map_or("Automatic", |(_, label, _, _, _)| label)
}

/// `GET /sdapi/v1/sd-models`.
pub(super) async fn sd_models(State(state): State<Arc<A1111State>>) -> Response {
    Json(state.catalog.checkpoints.iter().map(Checkpoint::json).collect::<Vec<_>>()).into_response()
}

/// `GET /sdapi/v1/samplers`.
pub(super) async fn samplers(State(state): State<Arc<A1111State>>) -> Response {
    let samplers: Vec<Value> = state
        .catalog
        .samplers
        .iter()
        .map(|s| json!({ "name": s.name, "aliases": s.aliases, "options": s.options }))
        .collect();
    Json(samplers).into_response()
}

/// `GET /sdapi/v1/schedulers`.
pub(super) async fn schedulers() -> Response {
    let schedulers: Vec<Value> = SCHEDULERS
        .iter()
        .map(|(name, label, alias, rho, inner)| {
            json!({
                "name": name,
                "label": label,
                "aliases": alias.map(|a| vec![a]),
                "default_rho": rho,
                "need_inner_model": inner,
            })
        })
        .collect();
    Json(schedulers).into_response()
}

/// `GET /sdapi/v1/options`: common settings, what was set, and the current checkpoint.
pub(super) async fn get_options(State(state): State<Arc<A1111State>>) -> Response {
    let inner = state.inner();
    let mut options = json!({
        "samples_format": "png",
        "jpeg_quality": 80,
        "sd_vae": "Automatic",
        "CLIP_stop_at_last_layers": 1,
        "live_previews_enable": true,
        "show_progress_every_n_steps": 10,
        "img2img_fix_steps": false,
        "eta_noise_seed_delta": 0,
        "api_enable_requests": true,
        "api_forbid_local_requests": true,
    });
    if let Value::Object(options) = &mut options {
        options.extend(inner.options.iter().map(|(k, v)| (k.clone(), v.clone())));
        let current = inner.current.and_then(|i| state.catalog.checkpoints.get(i));
        options.insert("sd_model_checkpoint".into(), json!(current.map(|c| c.title.as_str())));
        options.insert("sd_checkpoint_hash".into(), json!(current.map(|c| c.sha256.as_str())));
    }
    Json(options).into_response()
}

/// `POST /sdapi/v1/options`: stores the settings; `sd_model_checkpoint`
/// switches the checkpoint (stored as its title), or raises when unknown.
pub(super) async fn set_options(State(state): State<Arc<A1111State>>, body: Body) -> Response {
    let fields = match super::generate::json_body(body).await {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    let switch = match fields.get("sd_model_checkpoint") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => match state.catalog.checkpoint(name) {
            Some(index) => Some(index),
            None => return errors::raised("RuntimeError", &format!("model '{name}' not found")),
        },
        Some(other) => return errors::raised("RuntimeError", &format!("model {other} not found")),
    };
    let mut inner = state.inner();
    for (key, value) in fields {
        if key != "sd_model_checkpoint" {
            inner.options.insert(key, value);
        }
    }
    if let Some(index) = switch {
        inner.current = Some(index);
        inner.stats.checkpoint_switches += 1;
    }
    Json(Value::Null).into_response()
}

/// `POST /sdapi/v1/refresh-checkpoints` (the list is the configuration's).
pub(super) async fn refresh_checkpoints() -> Response {
    Json(Value::Null).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_named_every_way_a1111_takes() {
        let sd15 = Checkpoint::new("v1-5-pruned-emaonly.safetensors");
        assert_eq!(sd15.title, "v1-5-pruned-emaonly.safetensors [6ce0161689]");
        assert_eq!((sd15.model_name.as_str(), sd15.hash.as_str()), ("v1-5-pruned-emaonly", "6ce0161689"));
        for alias in ["v1-5-pruned-emaonly.safetensors [6ce0161689]", "v1-5-pruned-emaonly", "6ce0161689"] {
            assert!(sd15.is_named(alias), "{alias}");
        }
        assert!(!sd15.is_named("v1-5"));
        let nested = Checkpoint::new("SDXL/juggernaut.safetensors");
        assert_eq!(nested.model_name, "SDXL_juggernaut");
        assert_eq!(nested.hash.len(), 10);
    }

    #[test]
    fn samplers_are_named_by_name_alias_or_with_a_scheduler() {
        let names: Vec<String> = DEFAULT_SAMPLERS.iter().map(|s| (*s).to_owned()).collect();
        let catalog = Catalog::new(&[], &names);
        assert_eq!(catalog.sampler("Euler a"), Some(("Euler a", None)));
        assert_eq!(catalog.sampler("k_euler_a"), Some(("Euler a", None)));
        assert_eq!(catalog.sampler("euler A"), Some(("Euler a", None)));
        assert_eq!(catalog.sampler("DPM++ 2M Karras"), Some(("DPM++ 2M", Some("karras"))));
        assert_eq!(catalog.sampler("Nope"), None);
        assert_eq!(scheduler(Some("Karras")), "karras");
        assert_eq!(scheduler(Some("whatever")), "automatic");
        assert_eq!(scheduler_label("sgm_uniform"), "SGM Uniform");
    }
}
