//! How models are named (seed 003, 3.1: the same model through several services).
//!
//! A model has one canonical name, the same under every service that offers it:
//! the maker's public name in lower case, words and versions joined by hyphens
//! (`imagen-4`, `veo-3`, `sora-2`, `dall-e-3`, `gpt-4o`, `gemini-2.0-flash`), so that
//! `service` alone chooses the route. A task names `service/model`, or the model
//! alone when one service offers it (or `[routing]` lists its services).
//!
//! Other spellings are accepted, case-insensitively:
//! - a service's former ids, which each model lists as its aliases
//!   (`kie/sora2` before the names were made one);
//! - seed 003's constants (`IMAGEN4`, `SORA2`, `DALL_E_3`, …), under any service
//!   that offers the model.

use super::ModelSpec;

/// Seed 003's `GenerationModel` constants and the canonical names they stand for.
/// `GEMINI_2_0` and `GPT_4O` are the seed's "multimodal" models; Atelier offers them
/// as the text models of those names.
pub const SEED_NAMES: [(&str, &str); 7] = [
    ("IMAGEN4", "imagen-4"),
    ("VEO3", "veo-3"),
    ("MIDJOURNEY", "midjourney"),
    ("SORA2", "sora-2"),
    ("DALL_E_3", "dall-e-3"),
    ("GEMINI_2_0", "gemini-2.0-flash"),
    ("GPT_4O", "gpt-4o"),
];

/// The canonical model a seed 003 constant names, case-insensitively.
pub fn seed_model(name: &str) -> Option<&'static str> {
    SEED_NAMES.iter().find(|(seed, _)| seed.eq_ignore_ascii_case(name)).map(|(_, model)| *model)
}

/// The seed 003 constant of a canonical model, when the seed names it.
pub fn seed_name(model: &str) -> Option<&'static str> {
    SEED_NAMES.iter().find(|(_, canonical)| *canonical == model).map(|(seed, _)| *seed)
}

/// Whether `name` (lower case, without the service) names this model: its canonical
/// name, one of its aliases, or its seed 003 constant.
pub fn names_model(spec: &ModelSpec, name: &str) -> bool {
    spec.model == name || spec.aliases.iter().any(|alias| alias == name) || seed_model(name) == Some(&spec.model)
}

/// Every other spelling of a model a task may write, for the catalogue: its former
/// ids (`kie/sora2`) and its seed 003 constant (`SORA2`).
pub fn other_names(spec: &ModelSpec) -> Vec<String> {
    let mut names: Vec<String> = spec.aliases.iter().map(|alias| format!("{}/{alias}", spec.service)).collect();
    names.extend(seed_name(&spec.model).map(str::to_owned));
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Modality;
    use crate::testing::Scripted;

    #[test]
    fn seed_constants_name_canonical_models_in_any_case() {
        assert_eq!(seed_model("SORA2"), Some("sora-2"));
        assert_eq!(seed_model("dall_e_3"), Some("dall-e-3"));
        assert_eq!(seed_model("Gemini_2_0"), Some("gemini-2.0-flash"));
        assert_eq!(seed_model("sora-2"), None, "the canonical name is not a seed constant");
        assert_eq!(seed_name("imagen-4"), Some("IMAGEN4"));
        assert_eq!(seed_name("gpt-image-1"), None);
    }

    #[test]
    fn a_model_answers_to_its_name_aliases_and_seed_constant() {
        let mut spec = Scripted::spec("kie", "sora-2", Modality::Video);
        spec.aliases = vec!["sora2".into()];
        for name in ["sora-2", "sora2"] {
            assert!(names_model(&spec, name), "{name}");
        }
        assert!(!names_model(&spec, "sora-2-pro"));
        assert_eq!(other_names(&spec), ["kie/sora2", "SORA2"]);
    }
}
