//! The node classes the emulator knows (a realistic subset of ComfyUI's core
//! `nodes.py` and `comfy_extras/nodes_upscale_model.py`), their inputs with
//! their types, defaults and ranges, their outputs, and how `GET /object_info`
//! describes them.
//!
//! Classes: `CheckpointLoaderSimple`, `CLIPTextEncode`, `EmptyLatentImage`,
//! `KSampler`, `VAEDecode`, `VAEEncode`, `LoadImage`, `SaveImage` and
//! `PreviewImage` (the output nodes), `ImageScale`, `ImageScaleBy`,
//! `LatentUpscale`, `LatentUpscaleBy`, `UpscaleModelLoader`,
//! `ImageUpscaleWithModel`.
//!
//! Confirmed in ComfyUI's code: the inputs' names, types, defaults and ranges
//! (`MAX_RESOLUTION` 16384), the outputs, `OUTPUT_NODE`, the object_info keys
//! (`input`, `input_order`, `output`, `output_is_list`, `output_name`, `name`,
//! `display_name`, `description`, `python_module`, `category`, `output_node`)
//! and the combo shape `[[choices…], {options}]`. Unconfirmed, the emulator's
//! choices: the descriptions and tooltips are left out or shortened; every
//! input is written `[type, {options}]` (ComfyUI writes the options only where
//! a node has some, or a tooltip).

use serde_json::{Map, Value, json};

use super::ComfyUiEmulatorConfig;

/// ComfyUI's `MAX_RESOLUTION`.
pub(super) const MAX_RESOLUTION: i128 = 16384;

/// The samplers of ComfyUI's `KSampler.SAMPLERS` (comfy/samplers.py).
pub const DEFAULT_SAMPLERS: [&str; 37] = [
    "euler",
    "euler_cfg_pp",
    "euler_ancestral",
    "euler_ancestral_cfg_pp",
    "heun",
    "heunpp2",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpm_fast",
    "dpm_adaptive",
    "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde",
    "dpmpp_sde_gpu",
    "dpmpp_2m",
    "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu",
    "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu",
    "ddpm",
    "lcm",
    "ipndm",
    "ipndm_v",
    "deis",
    "res_multistep",
    "res_multistep_cfg_pp",
    "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp",
    "gradient_estimation",
    "er_sde",
    "seeds_2",
    "seeds_3",
    "ddim",
    "uni_pc",
    "uni_pc_bh2",
];

/// The schedulers of ComfyUI's `KSampler.SCHEDULERS`.
pub const DEFAULT_SCHEDULERS: [&str; 9] = [
    "simple",
    "sgm_uniform",
    "karras",
    "exponential",
    "ddim_uniform",
    "beta",
    "normal",
    "linear_quadratic",
    "kl_optimal",
];

/// The checkpoints a default emulator has.
pub const DEFAULT_CHECKPOINTS: [&str; 3] =
    ["v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors", "sd_xl_refiner_1.0.safetensors"];

/// The upscale models a default emulator has.
pub const DEFAULT_UPSCALE_MODELS: [&str; 3] = ["RealESRGAN_x4plus.pth", "4x-UltraSharp.pth", "RealESRGAN_x2plus.pth"];

const IMAGE_SCALE_METHODS: &[&str] = &["nearest-exact", "bilinear", "area", "bicubic", "lanczos"];
const LATENT_SCALE_METHODS: &[&str] = &["nearest-exact", "bilinear", "area", "bicubic", "bislerp"];
const CROP_METHODS: &[&str] = &["disabled", "center"];

/// Where a combo's choices come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Choices {
    Checkpoints,
    Samplers,
    Schedulers,
    UpscaleModels,
    /// The images in the input folder (`LoadImage`).
    InputImages,
    Fixed(&'static [&'static str]),
}

/// What an input takes: a widget value, or a link to another node's output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Int { default: i128, min: i128, max: i128, step: i128 },
    Float { default: f64, min: f64, max: f64, step: f64 },
    Text { default: Option<&'static str>, multiline: bool },
    Combo(Choices),
    Link(&'static str),
}

/// One input of a class.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
}

/// One node class.
#[derive(Debug)]
pub(super) struct Class {
    pub(super) name: &'static str,
    display_name: &'static str,
    description: &'static str,
    category: &'static str,
    python_module: &'static str,
    pub(super) inputs: &'static [Input],
    /// The output types (`RETURN_TYPES`).
    pub(super) outputs: &'static [&'static str],
    output_names: &'static [&'static str],
    pub(super) output_node: bool,
    /// Hidden inputs (SaveImage's prompt and PNG info).
    hidden: bool,
}

const fn link(name: &'static str, kind: &'static str) -> Input {
    Input { name, kind: Kind::Link(kind) }
}

const fn int(name: &'static str, default: i128, min: i128, max: i128, step: i128) -> Input {
    Input { name, kind: Kind::Int { default, min, max, step } }
}

const fn float(name: &'static str, default: f64, min: f64, max: f64, step: f64) -> Input {
    Input { name, kind: Kind::Float { default, min, max, step } }
}

const fn combo(name: &'static str, choices: Choices) -> Input {
    Input { name, kind: Kind::Combo(choices) }
}

/// Every class, in `object_info`'s order.
pub(super) const CLASSES: &[Class] = &[
    Class {
        name: "KSampler",
        display_name: "KSampler",
        description: "Uses the provided model, positive and negative conditioning to denoise the latent image.",
        category: "sampling",
        python_module: "nodes",
        inputs: &[
            link("model", "MODEL"),
            int("seed", 0, 0, u64::MAX as i128, 1),
            int("steps", 20, 1, 10000, 1),
            float("cfg", 8.0, 0.0, 100.0, 0.1),
            combo("sampler_name", Choices::Samplers),
            combo("scheduler", Choices::Schedulers),
            link("positive", "CONDITIONING"),
            link("negative", "CONDITIONING"),
            link("latent_image", "LATENT"),
            float("denoise", 1.0, 0.0, 1.0, 0.01),
        ],
        outputs: &["LATENT"],
        output_names: &["LATENT"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "CheckpointLoaderSimple",
        display_name: "Load Checkpoint",
        description: "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
        category: "loaders",
        python_module: "nodes",
        inputs: &[combo("ckpt_name", Choices::Checkpoints)],
        outputs: &["MODEL", "CLIP", "VAE"],
        output_names: &["MODEL", "CLIP", "VAE"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "CLIPTextEncode",
        display_name: "CLIP Text Encode (Prompt)",
        description: "Encodes a text prompt using a CLIP model into an embedding that can be used to guide the \
                      diffusion model towards generating specific images.",
        category: "conditioning",
        python_module: "nodes",
        inputs: &[Input { name: "text", kind: Kind::Text { default: None, multiline: true } }, link("clip", "CLIP")],
        outputs: &["CONDITIONING"],
        output_names: &["CONDITIONING"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "VAEDecode",
        display_name: "VAE Decode",
        description: "Decodes latent images back into pixel space images.",
        category: "latent",
        python_module: "nodes",
        inputs: &[link("samples", "LATENT"), link("vae", "VAE")],
        outputs: &["IMAGE"],
        output_names: &["IMAGE"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "VAEEncode",
        display_name: "VAE Encode",
        description: "",
        category: "latent",
        python_module: "nodes",
        inputs: &[link("pixels", "IMAGE"), link("vae", "VAE")],
        outputs: &["LATENT"],
        output_names: &["LATENT"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "EmptyLatentImage",
        display_name: "Empty Latent Image",
        description: "Create a new batch of empty latent images to be denoised via sampling.",
        category: "latent",
        python_module: "nodes",
        inputs: &[
            int("width", 512, 16, MAX_RESOLUTION, 8),
            int("height", 512, 16, MAX_RESOLUTION, 8),
            int("batch_size", 1, 1, 4096, 1),
        ],
        outputs: &["LATENT"],
        output_names: &["LATENT"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "LatentUpscale",
        display_name: "Upscale Latent",
        description: "",
        category: "latent",
        python_module: "nodes",
        inputs: &[
            link("samples", "LATENT"),
            combo("upscale_method", Choices::Fixed(LATENT_SCALE_METHODS)),
            int("width", 512, 0, MAX_RESOLUTION, 8),
            int("height", 512, 0, MAX_RESOLUTION, 8),
            combo("crop", Choices::Fixed(CROP_METHODS)),
        ],
        outputs: &["LATENT"],
        output_names: &["LATENT"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "LatentUpscaleBy",
        display_name: "Upscale Latent By",
        description: "",
        category: "latent",
        python_module: "nodes",
        inputs: &[
            link("samples", "LATENT"),
            combo("upscale_method", Choices::Fixed(LATENT_SCALE_METHODS)),
            float("scale_by", 1.5, 0.01, 8.0, 0.01),
        ],
        outputs: &["LATENT"],
        output_names: &["LATENT"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "SaveImage",
        display_name: "Save Image",
        description: "Saves the input images to your ComfyUI output directory.",
        category: "image",
        python_module: "nodes",
        inputs: &[
            link("images", "IMAGE"),
            Input { name: "filename_prefix", kind: Kind::Text { default: Some("ComfyUI"), multiline: false } },
        ],
        outputs: &[],
        output_names: &[],
        output_node: true,
        hidden: true,
    },
    Class {
        name: "PreviewImage",
        display_name: "Preview Image",
        description: "Saves the input images to your ComfyUI output directory.",
        category: "image",
        python_module: "nodes",
        inputs: &[link("images", "IMAGE")],
        outputs: &[],
        output_names: &[],
        output_node: true,
        hidden: true,
    },
    Class {
        name: "LoadImage",
        display_name: "Load Image",
        description: "",
        category: "image",
        python_module: "nodes",
        inputs: &[combo("image", Choices::InputImages)],
        outputs: &["IMAGE", "MASK"],
        output_names: &["IMAGE", "MASK"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "ImageScale",
        display_name: "Upscale Image",
        description: "",
        category: "image/upscaling",
        python_module: "nodes",
        inputs: &[
            link("image", "IMAGE"),
            combo("upscale_method", Choices::Fixed(IMAGE_SCALE_METHODS)),
            int("width", 512, 0, MAX_RESOLUTION, 1),
            int("height", 512, 0, MAX_RESOLUTION, 1),
            combo("crop", Choices::Fixed(CROP_METHODS)),
        ],
        outputs: &["IMAGE"],
        output_names: &["IMAGE"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "ImageScaleBy",
        display_name: "Upscale Image By",
        description: "",
        category: "image/upscaling",
        python_module: "nodes",
        inputs: &[
            link("image", "IMAGE"),
            combo("upscale_method", Choices::Fixed(IMAGE_SCALE_METHODS)),
            float("scale_by", 1.0, 0.01, 8.0, 0.01),
        ],
        outputs: &["IMAGE"],
        output_names: &["IMAGE"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "UpscaleModelLoader",
        display_name: "Load Upscale Model",
        description: "",
        category: "loaders",
        python_module: "comfy_extras.nodes_upscale_model",
        inputs: &[combo("model_name", Choices::UpscaleModels)],
        outputs: &["UPSCALE_MODEL"],
        output_names: &["UPSCALE_MODEL"],
        output_node: false,
        hidden: false,
    },
    Class {
        name: "ImageUpscaleWithModel",
        display_name: "Upscale Image (using Model)",
        description: "",
        category: "image/upscaling",
        python_module: "comfy_extras.nodes_upscale_model",
        inputs: &[link("upscale_model", "UPSCALE_MODEL"), link("image", "IMAGE")],
        outputs: &["IMAGE"],
        output_names: &["IMAGE"],
        output_node: false,
        hidden: false,
    },
];

/// The class named `name`.
pub(super) fn class(name: &str) -> Option<&'static Class> {
    CLASSES.iter().find(|c| c.name == name)
}

/// The lists the combos choose from, now.
pub(super) struct Lists<'a> {
    pub(super) config: &'a ComfyUiEmulatorConfig,
    /// The images in the input folder, sorted.
    pub(super) input_images: Vec<String>,
}

impl Lists<'_> {
    pub(super) fn choices(&self, choices: Choices) -> Vec<String> {
        match choices {
            Choices::Checkpoints => self.config.checkpoints.clone(),
            Choices::Samplers => self.config.samplers.clone(),
            Choices::Schedulers => self.config.schedulers.clone(),
            Choices::UpscaleModels => self.config.upscale_models.clone(),
            Choices::InputImages => self.input_images.clone(),
            Choices::Fixed(list) => list.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// An input as object_info writes it, and as validation errors quote it
    /// (`input_config`): `[type, {options}]`.
    pub(super) fn config(&self, input: &Input) -> Value {
        match input.kind {
            Kind::Int { default, min, max, step } => {
                let mut options = json!({
                    "default": int_value(default),
                    "min": int_value(min),
                    "max": int_value(max),
                    "step": int_value(step),
                });
                if input.name == "seed" {
                    options["control_after_generate"] = json!(true);
                }
                json!(["INT", options])
            }
            Kind::Float { default, min, max, step } => {
                let mut options = json!({ "default": default, "min": min, "max": max, "step": step });
                if input.name == "cfg" {
                    options["round"] = json!(0.01);
                }
                json!(["FLOAT", options])
            }
            Kind::Text { default, multiline } => {
                let mut options = Map::new();
                if multiline {
                    options.insert("multiline".into(), json!(true));
                    options.insert("dynamicPrompts".into(), json!(true));
                }
                if let Some(default) = default {
                    options.insert("default".into(), json!(default));
                }
                json!(["STRING", options])
            }
            Kind::Combo(choices) => {
                let options = if choices == Choices::InputImages { json!({ "image_upload": true }) } else { json!({}) };
                json!([self.choices(choices), options])
            }
            Kind::Link(kind) => json!([kind, {}]),
        }
    }

    /// `GET /object_info`'s entry for `class`.
    pub(super) fn object_info(&self, class: &Class) -> Value {
        let required: Map<String, Value> =
            class.inputs.iter().map(|input| (input.name.to_owned(), self.config(input))).collect();
        let mut input = json!({ "required": required });
        let mut order = json!({ "required": class.inputs.iter().map(|i| i.name).collect::<Vec<_>>() });
        if class.hidden {
            input["hidden"] = json!({ "prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO" });
            order["hidden"] = json!(["prompt", "extra_pnginfo"]);
        }
        json!({
            "input": input,
            "input_order": order,
            "output": class.outputs,
            "output_is_list": class.outputs.iter().map(|_| false).collect::<Vec<_>>(),
            "output_name": class.output_names,
            "name": class.name,
            "display_name": class.display_name,
            "description": class.description,
            "python_module": class.python_module,
            "category": class.category,
            "output_node": class.output_node,
        })
    }

    /// `GET /object_info`.
    pub(super) fn all(&self) -> Value {
        let all: Map<String, Value> = CLASSES.iter().map(|c| (c.name.to_owned(), self.object_info(c))).collect();
        Value::Object(all)
    }
}

/// A Python int (up to `u64::MAX`) as JSON.
fn int_value(i: i128) -> Value {
    super::python::int_json(i)
}

/// How much an upscale model enlarges (from its name: `RealESRGAN_x4plus`,
/// `4x-UltraSharp`, `8x_NMKD-Superscale`; 4 when the name does not say).
pub(super) fn upscale_factor(model_name: &str) -> u32 {
    let stem = model_name.rsplit_once('.').map_or(model_name, |(stem, _)| stem);
    let factor = stem.split(|c: char| !c.is_ascii_alphanumeric()).find_map(|token| {
        let token = token.to_ascii_lowercase();
        let leading: String = token.chars().take_while(char::is_ascii_digit).collect();
        if !leading.is_empty() && token[leading.len()..].starts_with('x') {
            return leading.parse::<u32>().ok();
        }
        let after_x: String = token.strip_prefix('x')?.chars().take_while(char::is_ascii_digit).collect();
        after_x.parse::<u32>().ok()
    });
    factor.filter(|f| (1..=8).contains(f)).unwrap_or(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscale_factors_come_from_model_names() {
        assert_eq!(upscale_factor("RealESRGAN_x4plus.pth"), 4);
        assert_eq!(upscale_factor("RealESRGAN_x2plus.pth"), 2);
        assert_eq!(upscale_factor("4x-UltraSharp.pth"), 4);
        assert_eq!(upscale_factor("8x_NMKD-Superscale_150000_G.pth"), 8);
        assert_eq!(upscale_factor("SwinIR_2x.pth"), 2);
        assert_eq!(upscale_factor("mystery.safetensors"), 4);
    }

    #[test]
    fn object_info_describes_inputs_and_outputs() {
        let config = ComfyUiEmulatorConfig::default();
        let lists = Lists { config: &config, input_images: vec!["example.png".into()] };
        let info = lists.all();
        assert_eq!(
            info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0][1],
            "sd_xl_base_1.0.safetensors"
        );
        assert_eq!(info["CheckpointLoaderSimple"]["output"], json!(["MODEL", "CLIP", "VAE"]));
        assert_eq!(info["KSampler"]["input"]["required"]["seed"][1]["max"], json!(u64::MAX));
        assert_eq!(
            info["KSampler"]["input"]["required"]["steps"],
            json!(["INT", { "default": 20, "min": 1, "max": 10000, "step": 1 }])
        );
        assert_eq!(info["KSampler"]["input_order"]["required"][0], "model");
        assert_eq!(info["LoadImage"]["input"]["required"]["image"], json!([["example.png"], { "image_upload": true }]));
        assert_eq!(info["SaveImage"]["output_node"], true);
        assert_eq!(info["UpscaleModelLoader"]["input"]["required"]["model_name"][0][0], "RealESRGAN_x4plus.pth");
        assert!(CLASSES.iter().all(|c| c.outputs.len() == c.output_names.len()));
    }
}
