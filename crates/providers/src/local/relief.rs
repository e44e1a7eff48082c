//! `local/relief`: seed 002's image to 3D without a GPU. The picture becomes a 2.5D
//! relief (`atelier_mesh::relief`: a height field from its luminance, on a base with
//! walls and a back, so a closed solid; a picture with a transparent background
//! keeps only its silhouette), written as GLB with the picture as its texture.
//! Honest about what it is: a relief of the picture, not a reconstruction of the
//! object it shows (that is TRELLIS's work, on a GPU).

use std::io::Cursor;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, InputRef, Job, Output, ProviderError};
use atelier_mesh::Quality;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{LocalEngine, SERVICE, parse_params, rejected, run_blocking, to_json};
use crate::kit::Named;

pub const MODEL: &str = "relief";
/// What the GLB says made it.
pub const GENERATOR: &str = "Atelier local/relief: a 2.5D relief of the picture, not a 3D reconstruction";
/// The largest picture decoded (pixels a side), and the texture's long side.
const MAX_SIDE: u32 = 12_000;
const TEXTURE_SIDE: u32 = 1024;

/// The input of `local/relief`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReliefParams {
    pub image: String,
    #[serde(default = "default_quality")]
    pub quality: String,
    #[serde(default = "default_formats")]
    pub output_formats: Vec<String>,
}

fn default_quality() -> String {
    "balanced".into()
}

fn default_formats() -> Vec<String> {
    vec!["glb".into()]
}

/// The formats this engine writes: GLB (textured), OBJ (zipped with its material
/// and texture) and STL (for printing; no texture).
pub const FORMATS: [&str; 3] = ["glb", "obj", "stl"];

fn parse(input: &Value) -> Result<ReliefParams, CoreError> {
    let params: ReliefParams = parse_params(input)?;
    InputRef::parse(&params.image).map_err(|reason| CoreError::invalid("image", reason))?;
    if Quality::parse(&params.quality).is_none() {
        return Err(CoreError::invalid("quality", format!("must be one of {}", Quality::NAMES.join(", "))));
    }
    if params.output_formats.is_empty() {
        return Err(CoreError::invalid("output_formats", "name at least one format"));
    }
    if let Some(unknown) = params.output_formats.iter().find(|format| !FORMATS.contains(&format.as_str())) {
        return Err(CoreError::invalid(
            "output_formats",
            format!("{unknown:?} is not a format this engine writes (it writes {})", FORMATS.join(", ")),
        ));
    }
    Ok(params)
}

pub struct Relief;

impl Named for Relief {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl LocalEngine for Relief {
    fn spec(&self) -> ModelSpec {
        ModelSpec {
            service: SERVICE.into(),
            model: MODEL.into(),
            aliases: Vec::new(),
            modality: Modality::Model3d,
            title: "Relief from an image (2.5D, not a 3D reconstruction)".into(),
            description: "Built in, no GPU: the picture becomes a relief, its brightness the height, on a base with \
                          walls and a back (a closed solid), as GLB with the picture as its texture; a cut-out (a \
                          transparent background) keeps only its silhouette. It is a relief of the picture, not a \
                          reconstruction of the object in it."
                .into(),
            input_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["image"],
                "properties": {
                    "image": {
                        "type": "string",
                        "minLength": 1,
                        "description": "The picture: an upload id (upl_…), an output id (img_…), an http(s) URL or a data: URI",
                    },
                    "quality": {
                        "type": "string",
                        "enum": Quality::NAMES,
                        "default": "balanced",
                        "description": "Mesh density: 48, 96 or 192 cells along the picture's long side",
                    },
                    "output_formats": {
                        "type": "array",
                        "items": { "type": "string", "enum": FORMATS },
                        "minItems": 1,
                        "uniqueItems": true,
                        "default": ["glb"],
                        "description": "The files to write: glb (binary glTF, the picture as its texture), obj (a zip of model.obj, model.mtl and texture.png) and stl (binary STL, for printing)",
                    },
                },
            }),
            estimated_seconds: 2,
            poll_timeout_secs: None,
            requires_config: None,
        }
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        let mut params = parse(input)?;
        // Each format once, in the order asked.
        let mut formats: Vec<String> = Vec::new();
        for format in std::mem::take(&mut params.output_formats) {
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        params.output_formats = formats;
        to_json(&params)
    }

    fn input_files(&self, input: &Value) -> Vec<String> {
        crate::kit::inputs::references(input.get("image"))
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        let params = parse(job.input).map_err(rejected)?;
        let quality = Quality::parse(&params.quality).unwrap_or(Quality::Balanced);
        let file = crate::kit::inputs::open_input(job.files, &params.image, "image").await?;
        run_blocking("relief", move || {
            let picture = decode(&file.bytes)?;
            let mesh = atelier_mesh::relief(&picture, quality).map_err(mesh_error)?;
            let texture = texture_png(&picture)?;
            let mut outputs = Vec::with_capacity(params.output_formats.len());
            for format in &params.output_formats {
                outputs.push(match format.as_str() {
                    "obj" => Output::new(
                        atelier_mesh::obj::to_obj_zip(&mesh, Some(&texture), GENERATOR).map_err(mesh_error)?,
                        "application/zip",
                    ),
                    "stl" => Output::new(atelier_mesh::obj::to_stl(&mesh, GENERATOR), "model/stl"),
                    _ => Output::new(
                        atelier_mesh::glb::to_glb(&mesh, Some(&texture), GENERATOR).map_err(mesh_error)?,
                        "model/gltf-binary",
                    ),
                });
            }
            Ok(outputs)
        })
        .await
    }
}

fn mesh_error(error: atelier_mesh::MeshError) -> ProviderError {
    ProviderError::new(ErrorClass::GenerationFailed, format!("the relief: {error}"))
}

/// The picture, decoded within limits: a file that is not an image, or one too large
/// to decode, is the input's fault.
fn decode(bytes: &[u8]) -> Result<image::DynamicImage, ProviderError> {
    let refused = |why: String| ProviderError::new(ErrorClass::ClientError, format!("image: {why}"));
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| refused(format!("cannot be read: {error}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    reader.decode().map_err(|error| match error {
        image::ImageError::Limits(_) => refused(format!("larger than {MAX_SIDE} pixels a side")),
        other => refused(format!("is not an image this engine reads (PNG, JPEG or WebP): {other}")),
    })
}

/// The picture as the mesh's texture: at most 1024 pixels a side, PNG, with its
/// alpha when it has one.
fn texture_png(picture: &image::DynamicImage) -> Result<Vec<u8>, ProviderError> {
    let small = if picture.width().max(picture.height()) > TEXTURE_SIDE {
        picture.thumbnail(TEXTURE_SIDE, TEXTURE_SIDE)
    } else {
        picture.clone()
    };
    let small = if small.color().has_alpha() {
        image::DynamicImage::ImageRgba8(small.to_rgba8())
    } else {
        image::DynamicImage::ImageRgb8(small.to_rgb8())
    };
    let mut png = Vec::new();
    small
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|error| ProviderError::new(ErrorClass::GenerationFailed, format!("encoding the texture: {error}")))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_is_checked_and_completed() {
        let engine = Relief;
        let done = engine.validate(&json!({ "image": "https://example.com/a.png" })).expect("valid");
        assert_eq!(
            done,
            json!({ "image": "https://example.com/a.png", "quality": "balanced", "output_formats": ["glb"] })
        );
        for (bad, field) in [
            (json!({}), "image"),
            (json!({ "image": "nonsense" }), "image"),
            (json!({ "image": "https://example.com/a.png", "quality": "ultra" }), "quality"),
            (json!({ "image": "https://example.com/a.png", "output_formats": ["fbx"] }), "output_formats"),
            (json!({ "image": "https://example.com/a.png", "output_formats": ["glb", "usdz"] }), "output_formats"),
            (json!({ "image": "https://example.com/a.png", "output_formats": [] }), "output_formats"),
        ] {
            let Err(CoreError::InvalidInput { details, .. }) = engine.validate(&bad) else { panic!("{bad} refused") };
            assert_eq!(details["field"], field, "{bad}");
        }
    }

    #[test]
    fn what_is_not_a_picture_is_the_inputs_fault() {
        assert_eq!(decode(b"not an image").map(|_| ()).expect_err("refused").class, ErrorClass::ClientError);
    }
}
