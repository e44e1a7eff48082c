//! The image models (docs/providers/openai.md 2.2): `gpt-image-1`, `gpt-image-1-mini`,
//! `gpt-image-1.5`, `dall-e-3`, `dall-e-2`, their typed parameters with each
//! model's rules, and `POST /images/generations` (JSON). A task with `images`
//! goes to `/images/edits` instead (`edits.rs`), with the same parameters.
//!
//! Atelier always stores the image itself: DALL·E is asked for `b64_json`, and a
//! `url` answer (the DALL·E default) is downloaded.

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, InputRef, Output, ProviderError};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Api, OpenAiClient, Phase};
use super::{OpenAi, OpenAiModel};
use crate::kit::Named;
use crate::kit::fields::{max_chars, optional_max_chars, required_text};
use crate::kit::params::{parse_params, to_json};
use async_trait::async_trait;
use atelier_core::ports::{Job, Submitted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageModel {
    GptImage1,
    GptImage1Mini,
    GptImage15,
    DallE3,
    DallE2,
}

const GPT_SIZES: &[&str] = &["auto", "1024x1024", "1536x1024", "1024x1536"];
const DALL_E_2_SIZES: &[&str] = &["256x256", "512x512", "1024x1024"];
const DALL_E_3_SIZES: &[&str] = &["1024x1024", "1792x1024", "1024x1792"];

impl ImageModel {
    pub const ALL: [Self; 5] = [Self::GptImage1, Self::GptImage1Mini, Self::GptImage15, Self::DallE3, Self::DallE2];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|model| model.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::GptImage1 => "gpt-image-1",
            Self::GptImage1Mini => "gpt-image-1-mini",
            Self::GptImage15 => "gpt-image-1.5",
            Self::DallE3 => "dall-e-3",
            Self::DallE2 => "dall-e-2",
        }
    }

    pub fn is_gpt(self) -> bool {
        !matches!(self, Self::DallE3 | Self::DallE2)
    }

    fn title(self) -> &'static str {
        match self {
            Self::GptImage1 => "GPT Image 1",
            Self::GptImage1Mini => "GPT Image 1 mini",
            Self::GptImage15 => "GPT Image 1.5",
            Self::DallE3 => "DALL·E 3",
            Self::DallE2 => "DALL·E 2",
        }
    }

    pub fn sizes(self) -> &'static [&'static str] {
        match self {
            Self::DallE2 => DALL_E_2_SIZES,
            Self::DallE3 => DALL_E_3_SIZES,
            _ => GPT_SIZES,
        }
    }

    fn default_size(self) -> &'static str {
        if self.is_gpt() { "auto" } else { "1024x1024" }
    }

    pub fn qualities(self) -> &'static [&'static str] {
        match self {
            Self::DallE2 => &["auto", "standard"],
            Self::DallE3 => &["auto", "standard", "hd"],
            _ => &["auto", "low", "medium", "high"],
        }
    }

    pub fn max_prompt(self) -> usize {
        match self {
            Self::DallE2 => 1000,
            Self::DallE3 => 4000,
            _ => 32000,
        }
    }

    pub fn max_n(self) -> u8 {
        if self == Self::DallE3 { 1 } else { 10 }
    }

    /// How many input images an edit takes; 0: no edits.
    pub fn max_images(self) -> usize {
        match self {
            Self::DallE3 => 0,
            Self::DallE2 => 1,
            _ => 16,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Png,
    Jpeg,
    Webp,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    Transparent,
    Opaque,
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Moderation {
    Low,
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    Vivid,
    Natural,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFidelity {
    High,
    Low,
}

/// The parameters of every image model; `validate` applies the model's rules and
/// fills in its defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageParams {
    pub prompt: String,
    #[serde(default = "one")]
    pub n: u8,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub quality: Option<String>,
    /// GPT image models only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<OutputFormat>,
    /// GPT image models with jpeg or webp only, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_compression: Option<u8>,
    /// GPT image models only; `transparent` needs png or webp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Background>,
    /// GPT image models only, generations only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<Moderation>,
    /// `dall-e-3` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Input images (URLs, data URIs, `upl_…`, `img_…`): an edit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// A PNG of the first image's size whose transparent pixels mark the area to edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// Edits with GPT image models other than `gpt-image-1-mini`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_fidelity: Option<InputFidelity>,
}

fn one() -> u8 {
    1
}

impl ImageParams {
    pub fn is_edit(&self) -> bool {
        !self.images.is_empty()
    }

    /// The format of the images asked for.
    pub fn format(&self) -> OutputFormat {
        self.output_format.unwrap_or(OutputFormat::Png)
    }
}

fn not_for(field: &str, who: &str) -> CoreError {
    CoreError::invalid(field, format!("is only taken by {who}"))
}

pub fn validate(model: ImageModel, input: &Value) -> Result<Value, CoreError> {
    let params = normalise(model, parse_params(input)?)?;
    to_json(&params)
}

/// Applies `model`'s rules to parsed parameters and fills in its defaults.
pub fn normalise(model: ImageModel, mut params: ImageParams) -> Result<ImageParams, CoreError> {
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, model.max_prompt())?;
    let max_n = model.max_n();
    if !(1..=max_n).contains(&params.n) {
        return Err(CoreError::invalid("n", format!("must be between 1 and {max_n} for {}", model.name())));
    }
    let size = params.size.get_or_insert_with(|| model.default_size().to_owned());
    if !model.sizes().contains(&size.as_str()) {
        return Err(CoreError::invalid(
            "size",
            format!("must be one of {} for {}", model.sizes().join(", "), model.name()),
        ));
    }
    let quality = params.quality.get_or_insert_with(|| "auto".to_owned());
    if !model.qualities().contains(&quality.as_str()) {
        return Err(CoreError::invalid(
            "quality",
            format!("must be one of {} for {}", model.qualities().join(", "), model.name()),
        ));
    }
    if model.is_gpt() {
        normalise_gpt(model, &mut params)?;
    } else {
        let gpt_only = [
            ("output_format", params.output_format.is_some()),
            ("output_compression", params.output_compression.is_some()),
            ("background", params.background.is_some()),
            ("moderation", params.moderation.is_some()),
            ("input_fidelity", params.input_fidelity.is_some()),
        ];
        if let Some((field, _)) = gpt_only.into_iter().find(|(_, set)| *set) {
            return Err(not_for(field, "the GPT image models"));
        }
    }
    match (model, params.style) {
        (ImageModel::DallE3, None) => params.style = Some(Style::Vivid),
        (ImageModel::DallE3, Some(_)) | (_, None) => {}
        (_, Some(_)) => return Err(not_for("style", "dall-e-3")),
    }
    optional_max_chars("user", params.user.as_deref(), 256)?;
    validate_edit(model, &params)?;
    Ok(params)
}

fn normalise_gpt(model: ImageModel, params: &mut ImageParams) -> Result<(), CoreError> {
    let format = *params.output_format.get_or_insert(OutputFormat::Png);
    if let Some(compression) = params.output_compression {
        if compression > 100 {
            return Err(CoreError::invalid("output_compression", "must be between 0 and 100"));
        }
        if format == OutputFormat::Png {
            return Err(CoreError::invalid("output_compression", "applies to jpeg and webp only"));
        }
    }
    let background = *params.background.get_or_insert(Background::Auto);
    if background == Background::Transparent && format == OutputFormat::Jpeg {
        return Err(CoreError::invalid("background", "transparent needs output_format png or webp"));
    }
    if params.is_edit() {
        if params.moderation.is_some() {
            return Err(CoreError::invalid("moderation", "is not taken by edits (with images)"));
        }
        if model == ImageModel::GptImage1Mini && params.input_fidelity.is_some() {
            return Err(CoreError::invalid("input_fidelity", "is not taken by gpt-image-1-mini"));
        }
    } else {
        params.moderation.get_or_insert(Moderation::Auto);
        if params.input_fidelity.is_some() {
            return Err(CoreError::invalid("input_fidelity", "applies to edits (with images) only"));
        }
    }
    Ok(())
}

fn validate_edit(model: ImageModel, params: &ImageParams) -> Result<(), CoreError> {
    if params.mask.is_some() && !params.is_edit() {
        return Err(CoreError::invalid("mask", "needs images to apply to"));
    }
    if !params.is_edit() {
        return Ok(());
    }
    match model.max_images() {
        0 => return Err(CoreError::invalid("images", format!("{} makes no edits", model.name()))),
        max if params.images.len() > max => {
            return Err(CoreError::invalid("images", format!("{} takes at most {max}", model.name())));
        }
        _ => {}
    }
    for (index, reference) in params.images.iter().enumerate() {
        InputRef::parse(reference).map_err(|reason| CoreError::invalid(&format!("images[{index}]"), reason))?;
    }
    if let Some(mask) = &params.mask {
        InputRef::parse(mask).map_err(|reason| CoreError::invalid("mask", reason))?;
    }
    Ok(())
}

/// The JSON body of `POST /images/generations`; `model` is the name the service
/// knows (Azure's deployment).
pub fn generation_body(model: ImageModel, wire_model: &str, params: &ImageParams) -> Value {
    let mut body = json!({
        "model": wire_model,
        "prompt": params.prompt,
        "n": params.n,
    });
    if let Some(size) = &params.size {
        body["size"] = json!(size);
    }
    if let Some(quality) = params.quality.as_deref().filter(|quality| *quality != "auto") {
        body["quality"] = json!(quality);
    }
    if model.is_gpt() {
        body["output_format"] = json!(params.format());
        if let Some(compression) = params.output_compression {
            body["output_compression"] = json!(compression);
        }
        if let Some(background) = params.background {
            body["background"] = json!(background);
        }
        if let Some(moderation) = params.moderation {
            body["moderation"] = json!(moderation);
        }
    } else {
        // DALL·E answers with a URL unless asked; GPT models refuse the field.
        body["response_format"] = json!("b64_json");
    }
    if let Some(style) = params.style {
        body["style"] = json!(style);
    }
    if let Some(user) = &params.user {
        body["user"] = json!(user);
    }
    body
}

pub async fn generate(
    client: &OpenAiClient,
    model: ImageModel,
    params: &ImageParams,
) -> Result<Vec<Output>, ProviderError> {
    let wire_model = client.target().deployment(model.name());
    let body = generation_body(model, &wire_model, params);
    let answer = client.post_json(&Api::ImageGenerations, model.name(), &body, Phase::Submit).await?;
    outputs(client, &answer.json()?, params.format()).await
}

/// The images of an `ImagesResponse`: each `data[]` item's `b64_json`, or its `url`
/// downloaded.
pub async fn outputs(
    client: &OpenAiClient,
    response: &Value,
    format: OutputFormat,
) -> Result<Vec<Output>, ProviderError> {
    let malformed = |why: &str| ProviderError::new(ErrorClass::MalformedResponse, format!("the images answer {why}"));
    let items = response.get("data").and_then(Value::as_array).ok_or_else(|| malformed("has no data"))?;
    if items.is_empty() {
        return Err(malformed("has no images"));
    }
    let mut outputs = Vec::with_capacity(items.len());
    for item in items {
        let bytes = match (item.get("b64_json").and_then(Value::as_str), item.get("url").and_then(Value::as_str)) {
            (Some(encoded), _) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| malformed("has a b64_json that is not base64"))?
                .into(),
            (None, Some(url)) => client.download(url).await?,
            (None, None) => return Err(malformed("has an image with neither b64_json nor url")),
        };
        let revised = item.get("revised_prompt").and_then(Value::as_str);
        outputs.push(image_output(bytes, format, revised)?);
    }
    Ok(outputs)
}

/// An output with its real format and size, read from the bytes.
pub fn image_output(
    bytes: bytes::Bytes,
    _asked: OutputFormat,
    revised_prompt: Option<&str>,
) -> Result<Output, ProviderError> {
    let parameters = revised_prompt.map(|revised| json!({ "revised_prompt": revised }).to_string());
    Ok(crate::kit::image::image_output(bytes, "the provider")?.with_parameters(parameters))
}

pub fn spec(service: &str, provider_title: &str, model: ImageModel, requires_config: Option<String>) -> ModelSpec {
    let mut properties = json!({
        "prompt": { "type": "string", "minLength": 1, "maxLength": model.max_prompt() },
        "n": { "type": "integer", "minimum": 1, "maximum": model.max_n(), "default": 1 },
        "size": { "type": "string", "enum": model.sizes(), "default": model.default_size() },
        "quality": { "type": "string", "enum": model.qualities(), "default": "auto" },
        "user": { "type": ["string", "null"], "maxLength": 256 },
    });
    if model.is_gpt() {
        properties["output_format"] = json!({ "type": "string", "enum": ["png", "jpeg", "webp"], "default": "png" });
        properties["output_compression"] = json!({ "type": ["integer", "null"], "minimum": 0, "maximum": 100,
            "description": "jpeg and webp only." });
        properties["background"] = json!({ "type": "string", "enum": ["transparent", "opaque", "auto"], "default": "auto",
            "description": "transparent needs png or webp." });
        properties["moderation"] = json!({ "type": ["string", "null"], "enum": ["low", "auto", null], "default": null,
            "description": "Generations only (auto by default)." });
    }
    if model == ImageModel::DallE3 {
        properties["style"] = json!({ "type": "string", "enum": ["vivid", "natural"], "default": "vivid" });
    }
    let max_images = model.max_images();
    if max_images > 0 {
        properties["images"] = json!({ "type": "array", "maxItems": max_images, "items": { "type": "string" },
            "description": "Images to edit (URL, data URI, upl_… or img_…): the task becomes an edit." });
        properties["mask"] = json!({ "type": ["string", "null"],
            "description": "A PNG the size of the first image; its transparent pixels are edited." });
        if model.is_gpt() && model != ImageModel::GptImage1Mini {
            properties["input_fidelity"] = json!({ "type": ["string", "null"], "enum": ["high", "low", null] });
        }
    }
    let edits = if max_images > 0 { " Edits with `images` (and an optional `mask`)." } else { "" };
    ModelSpec {
        service: service.to_owned(),
        model: model.name().to_owned(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: format!("{} ({provider_title})", model.title()),
        description: format!("{} image generation through {provider_title}.{edits}", model.title()),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["prompt"],
            "properties": properties,
        }),
        estimated_seconds: if model.is_gpt() { 40 } else { 15 },
        poll_timeout_secs: None,
        requires_config,
    }
}

impl Named for ImageModel {
    fn name(&self) -> &str {
        ImageModel::name(*self)
    }
}

#[async_trait]
impl OpenAiModel for ImageModel {
    fn spec(&self, service: &str, provider_title: &str, requires_config: Option<String>) -> ModelSpec {
        spec(service, provider_title, *self, requires_config)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(*self, input)
    }

    /// The images to edit, and the mask.
    fn input_files(&self, input: &Value) -> Vec<String> {
        let mut files = crate::kit::inputs::references(input.get("images"));
        files.extend(crate::kit::inputs::references(input.get("mask")));
        files
    }

    /// Generations and edits answer at once, with the images.
    async fn submit(&self, openai: &OpenAi<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let params: ImageParams = parse_params(job.input).map_err(super::invalid)?;
        let outputs = if params.is_edit() {
            super::edits::edit(openai.client, *self, &params, job.files).await?
        } else {
            generate(openai.client, *self, &params).await?
        };
        Ok(Submitted::Finished(outputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kit::schema::error_field;

    fn check(model: ImageModel, input: Value) -> Result<Value, String> {
        validate(model, &input).map_err(|error| error_field(&error))
    }

    #[test]
    fn each_model_has_its_own_rules() {
        use ImageModel::*;
        let cases = [
            (GptImage1, json!({ "prompt": " " }), "prompt"),
            (DallE2, json!({ "prompt": "x".repeat(1001) }), "prompt"),
            (DallE3, json!({ "prompt": "x".repeat(4001) }), "prompt"),
            (GptImage1, json!({ "prompt": "x", "n": 11 }), "n"),
            (GptImage1, json!({ "prompt": "x", "n": 0 }), "n"),
            (DallE3, json!({ "prompt": "x", "n": 2 }), "n"),
            (GptImage1, json!({ "prompt": "x", "size": "1792x1024" }), "size"),
            (DallE3, json!({ "prompt": "x", "size": "1536x1024" }), "size"),
            (DallE3, json!({ "prompt": "x", "size": "auto" }), "size"),
            (DallE2, json!({ "prompt": "x", "size": "1024x1792" }), "size"),
            (GptImage1, json!({ "prompt": "x", "quality": "hd" }), "quality"),
            (DallE3, json!({ "prompt": "x", "quality": "high" }), "quality"),
            (DallE2, json!({ "prompt": "x", "quality": "hd" }), "quality"),
            (DallE3, json!({ "prompt": "x", "output_format": "png" }), "output_format"),
            (DallE2, json!({ "prompt": "x", "background": "transparent" }), "background"),
            (DallE3, json!({ "prompt": "x", "moderation": "low" }), "moderation"),
            (GptImage1, json!({ "prompt": "x", "output_format": "gif" }), "output_format"),
            (GptImage1, json!({ "prompt": "x", "output_format": "jpeg", "background": "transparent" }), "background"),
            (GptImage1, json!({ "prompt": "x", "output_compression": 50 }), "output_compression"),
            (
                GptImage1,
                json!({ "prompt": "x", "output_format": "webp", "output_compression": 101 }),
                "output_compression",
            ),
            (GptImage1, json!({ "prompt": "x", "style": "vivid" }), "style"),
            (DallE2, json!({ "prompt": "x", "style": "natural" }), "style"),
            (GptImage1, json!({ "prompt": "x", "response_format": "url" }), "response_format"),
            (DallE3, json!({ "prompt": "x", "images": ["https://example.com/a.png"] }), "images"),
            (DallE2, json!({ "prompt": "x", "images": ["https://e.com/a.png", "https://e.com/b.png"] }), "images"),
            (GptImage1, json!({ "prompt": "x", "images": ["nope"] }), "images[0]"),
            (GptImage1, json!({ "prompt": "x", "mask": "https://example.com/m.png" }), "mask"),
            (GptImage1, json!({ "prompt": "x", "input_fidelity": "high" }), "input_fidelity"),
            (
                GptImage1Mini,
                json!({ "prompt": "x", "images": ["https://e.com/a.png"], "input_fidelity": "high" }),
                "input_fidelity",
            ),
            (GptImage1, json!({ "prompt": "x", "images": ["https://e.com/a.png"], "moderation": "low" }), "moderation"),
        ];
        for (model, input, field) in cases {
            assert_eq!(check(model, input.clone()), Err(field.to_owned()), "{} {input}", model.name());
        }
    }

    #[test]
    fn defaults_are_filled_per_model() {
        let gpt = check(ImageModel::GptImage1, json!({ "prompt": " a fox " })).expect("valid");
        assert_eq!(
            gpt,
            json!({ "prompt": "a fox", "n": 1, "size": "auto", "quality": "auto", "output_format": "png",
                "background": "auto", "moderation": "auto" })
        );
        let dalle3 = check(ImageModel::DallE3, json!({ "prompt": "a fox", "quality": "hd" })).expect("valid");
        assert_eq!(
            dalle3,
            json!({ "prompt": "a fox", "n": 1, "size": "1024x1024", "quality": "hd", "style": "vivid" })
        );
        let transparent = json!({ "prompt": "x", "output_format": "webp", "background": "transparent",
            "output_compression": 80, "images": ["data:image/png;base64,iVBORw0KGgo="],
            "mask": "https://example.com/m.png", "input_fidelity": "high", "n": 10 });
        assert!(check(ImageModel::GptImage15, transparent).is_ok());
        assert!(check(ImageModel::DallE2, json!({ "prompt": "x", "size": "256x256", "n": 10 })).is_ok());
    }

    #[test]
    fn request_bodies_use_the_wire_names() {
        let gpt: ImageParams = serde_json::from_value(
            check(
                ImageModel::GptImage1,
                json!({ "prompt": "p", "n": 2, "size": "1536x1024", "quality": "high", "output_format": "webp",
                    "output_compression": 70, "background": "transparent", "moderation": "low", "user": "u1" }),
            )
            .expect("valid"),
        )
        .expect("params");
        assert_eq!(
            generation_body(ImageModel::GptImage1, "gpt-image-1", &gpt),
            json!({ "model": "gpt-image-1", "prompt": "p", "n": 2, "size": "1536x1024", "quality": "high",
                "output_format": "webp", "output_compression": 70, "background": "transparent",
                "moderation": "low", "user": "u1" })
        );
        let dalle: ImageParams = serde_json::from_value(
            check(ImageModel::DallE3, json!({ "prompt": "p", "size": "1792x1024", "style": "natural" }))
                .expect("valid"),
        )
        .expect("params");
        assert_eq!(
            generation_body(ImageModel::DallE3, "my-dalle", &dalle),
            json!({ "model": "my-dalle", "prompt": "p", "n": 1, "size": "1792x1024",
                "response_format": "b64_json", "style": "natural" })
        );
    }

    #[test]
    fn outputs_read_their_real_format_and_size() {
        let mut png = std::io::Cursor::new(Vec::new());
        image::RgbaImage::new(3, 2).write_to(&mut png, image::ImageFormat::Png).expect("png");
        let output = image_output(png.into_inner().into(), OutputFormat::Png, Some("revised")).expect("output");
        assert_eq!((output.mime.as_str(), output.width, output.height), ("image/png", Some(3), Some(2)));
        assert_eq!(output.parameters.as_deref(), Some(r#"{"revised_prompt":"revised"}"#));
        assert!(image_output(bytes::Bytes::from_static(b"{\"not\":1}"), OutputFormat::Png, None).is_err());
    }
}
