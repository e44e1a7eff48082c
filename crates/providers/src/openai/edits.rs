//! `POST /images/edits` (docs/providers/openai.md 2.3): multipart/form-data with the input
//! images (`image`, or repeated `image[]` for several), an optional `mask`, and the
//! same parameters as a generation. Used by an image task that has `images`.
//!
//! The files are checked before the call, as the API would check them: GPT image
//! models take PNG, WebP or JPEG under 50 MB (16 at most); `dall-e-2` one square
//! PNG under 4 MB; a mask is a PNG under 4 MB of the first image's size.

use std::io::Cursor;

use atelier_core::ports::{ErrorClass, InputFile, InputFiles, Output, ProviderError};

use crate::kit::inputs::open_input;
use reqwest::multipart::{Form, Part};

use super::client::{Api, OpenAiClient, Phase};
use super::images::{ImageModel, ImageParams, outputs};

const MB: usize = 1024 * 1024;

pub async fn edit(
    client: &OpenAiClient,
    model: ImageModel,
    params: &ImageParams,
    files: &dyn InputFiles,
) -> Result<Vec<Output>, ProviderError> {
    let mut images = Vec::with_capacity(params.images.len());
    let mut first_size = None;
    for (index, reference) in params.images.iter().enumerate() {
        let field = format!("images[{index}]");
        let file = open_input(files, reference, &field).await?;
        let (format, size) = inspect(&file, &field)?;
        check_image(model, &field, &file, format, size)?;
        first_size.get_or_insert(size);
        images.push(file);
    }
    let mask = match &params.mask {
        Some(reference) => {
            let file = open_input(files, reference, "mask").await?;
            let (format, size) = inspect(&file, "mask")?;
            if format != image::ImageFormat::Png || file.bytes.len() >= 4 * MB {
                return Err(refused("mask", "must be a PNG under 4 MB"));
            }
            if Some(size) != first_size {
                let (width, height) = first_size.unwrap_or_default();
                return Err(refused(
                    "mask",
                    &format!(
                        "is {}x{} but the first image is {width}x{height}: they must be the same size",
                        size.0, size.1
                    ),
                ));
            }
            Some(file)
        }
        None => None,
    };
    let wire_model = client.target().deployment(model.name());
    let mut form = Form::new();
    for (name, value) in text_fields(model, &wire_model, params) {
        form = form.text(name, value);
    }
    let image_field = if images.len() > 1 { "image[]" } else { "image" };
    for file in images {
        form = form.part(image_field, file_part(file)?);
    }
    if let Some(mask) = mask {
        form = form.part("mask", file_part(mask)?);
    }
    let answer = client.post_multipart(&Api::ImageEdits, model.name(), form, Phase::Submit).await?;
    outputs(client, &answer.json()?, params.format()).await
}

fn refused(field: &str, reason: &str) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, format!("{field}: {reason}"))
}

/// The file's image format and size, read from its header.
fn inspect(file: &InputFile, field: &str) -> Result<(image::ImageFormat, (u32, u32)), ProviderError> {
    let reader = image::ImageReader::new(Cursor::new(&file.bytes[..]))
        .with_guessed_format()
        .map_err(|_| refused(field, "is not an image"))?;
    let format = reader.format().ok_or_else(|| refused(field, "is not a PNG, WebP or JPEG image"))?;
    let size = reader.into_dimensions().map_err(|_| refused(field, "is not a readable image"))?;
    Ok((format, size))
}

fn check_image(
    model: ImageModel,
    field: &str,
    file: &InputFile,
    format: image::ImageFormat,
    (width, height): (u32, u32),
) -> Result<(), ProviderError> {
    use image::ImageFormat::{Jpeg, Png, WebP};
    if model == ImageModel::DallE2 {
        if format != Png || file.bytes.len() >= 4 * MB {
            return Err(refused(field, "dall-e-2 edits one PNG under 4 MB"));
        }
        if width != height {
            return Err(refused(field, &format!("dall-e-2 edits square images only, this one is {width}x{height}")));
        }
    } else if !matches!(format, Png | WebP | Jpeg) || file.bytes.len() >= 50 * MB {
        return Err(refused(field, "must be a PNG, WebP or JPEG image under 50 MB"));
    }
    Ok(())
}

fn file_part(file: InputFile) -> Result<Part, ProviderError> {
    let InputFile { bytes, mime, name, .. } = file;
    Part::stream_with_length(bytes.clone(), bytes.len() as u64)
        .file_name(name)
        .mime_str(&mime)
        .map_err(|_| ProviderError::new(ErrorClass::ClientError, format!("an input file has an invalid type {mime:?}")))
}

/// The form's text fields, with their wire names.
pub fn text_fields(model: ImageModel, wire_model: &str, params: &ImageParams) -> Vec<(&'static str, String)> {
    let mut fields =
        vec![("prompt", params.prompt.clone()), ("model", wire_model.to_owned()), ("n", params.n.to_string())];
    if let Some(size) = &params.size {
        fields.push(("size", size.clone()));
    }
    if let Some(quality) = params.quality.as_deref().filter(|quality| *quality != "auto") {
        fields.push(("quality", quality.to_owned()));
    }
    if model.is_gpt() {
        fields.push(("output_format", params.format().as_str().to_owned()));
        if let Some(compression) = params.output_compression {
            fields.push(("output_compression", compression.to_string()));
        }
        if let Some(background) = params.background {
            fields.push(("background", wire(background)));
        }
        if let Some(fidelity) = params.input_fidelity {
            fields.push(("input_fidelity", wire(fidelity)));
        }
    } else {
        fields.push(("response_format", "b64_json".to_owned()));
    }
    if let Some(user) = &params.user {
        fields.push(("user", user.clone()));
    }
    fields
}

/// A unit enum's wire name.
fn wire<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(model: ImageModel, input: serde_json::Value) -> ImageParams {
        let normalised = super::super::images::validate(model, &input).expect("valid");
        serde_json::from_value(normalised).expect("params")
    }

    #[test]
    fn form_fields_use_the_wire_names() {
        let gpt = params(
            ImageModel::GptImage1,
            json!({ "prompt": "add a hat", "images": ["https://e.com/a.png"], "output_format": "webp",
                "background": "transparent", "input_fidelity": "high", "quality": "low" }),
        );
        assert_eq!(
            text_fields(ImageModel::GptImage1, "gpt-image-1", &gpt),
            [
                ("prompt", "add a hat"),
                ("model", "gpt-image-1"),
                ("n", "1"),
                ("size", "auto"),
                ("quality", "low"),
                ("output_format", "webp"),
                ("background", "transparent"),
                ("input_fidelity", "high"),
            ]
            .map(|(k, v)| (k, v.to_owned()))
        );
        let dalle =
            params(ImageModel::DallE2, json!({ "prompt": "p", "images": ["https://e.com/a.png"], "size": "512x512" }));
        assert_eq!(
            text_fields(ImageModel::DallE2, "dalle2-deployment", &dalle),
            [
                ("prompt", "p"),
                ("model", "dalle2-deployment"),
                ("n", "1"),
                ("size", "512x512"),
                ("response_format", "b64_json")
            ]
            .map(|(k, v)| (k, v.to_owned()))
        );
    }

    fn png(width: u32, height: u32) -> InputFile {
        let mut bytes = Cursor::new(Vec::new());
        image::RgbaImage::new(width, height).write_to(&mut bytes, image::ImageFormat::Png).expect("png");
        InputFile {
            bytes: bytes.into_inner().into(),
            mime: "image/png".into(),
            sha256: String::new(),
            name: "a.png".into(),
        }
    }

    #[test]
    fn files_are_checked_as_the_api_checks_them() {
        let square = png(8, 8);
        let (format, size) = inspect(&square, "images[0]").expect("image");
        assert!(check_image(ImageModel::DallE2, "images[0]", &square, format, size).is_ok());
        let wide = png(8, 4);
        let (format, size) = inspect(&wide, "images[0]").expect("image");
        let error = check_image(ImageModel::DallE2, "images[0]", &wide, format, size).expect_err("not square");
        assert!(error.message.starts_with("images[0]: "), "{}", error.message);
        assert!(check_image(ImageModel::GptImage1, "images[0]", &wide, format, size).is_ok());
        let text = InputFile { bytes: "hello".into(), ..png(1, 1) };
        assert_eq!(inspect(&text, "mask").expect_err("not an image").class, ErrorClass::ClientError);
    }
}
