//! The emulated worker's result files: real meshes, a relief of the picture
//! (`atelier_mesh`), standing in for TRELLIS's reconstruction, in the formats the
//! task asks for (`glb`, `obj` as a zip of model.obj, model.mtl and texture.png),
//! and a preview still.

use std::io::Cursor;

use serde_json::Value;

/// What the files say made them.
const GENERATOR: &str = "atelier emulate trellis-worker (a relief standing in for TRELLIS)";
const TEXTURE_SIDE: u32 = 512;

/// A multipart part of the worker's completion.
pub struct File {
    /// `file` (a result) or `preview`.
    pub part: &'static str,
    pub name: &'static str,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

/// The input is not one a worker can model (reported as `provider_rejected`).
pub struct Refused(pub String);

/// The files for a task of `model` with this input: the picture (image model) or
/// one drawn from the prompt (text model).
pub fn make(model: &str, input: &Value, picture: Option<&[u8]>) -> Result<Vec<File>, Refused> {
    let picture = match picture {
        Some(bytes) => image::load_from_memory(bytes)
            .map_err(|error| Refused(format!("the input is not a picture TRELLIS reads: {error}")))?,
        None if model.ends_with("text-xlarge") || input.get("prompt").is_some() => {
            drawn(input["prompt"].as_str().unwrap_or_default(), input["seed"].as_u64().unwrap_or(0))
        }
        None => return Err(Refused("the task has no input picture".into())),
    };
    let quality =
        input["quality"].as_str().and_then(atelier_mesh::Quality::parse).unwrap_or(atelier_mesh::Quality::Balanced);
    let mesh = atelier_mesh::relief(&picture, quality).map_err(|error| Refused(error.to_string()))?;
    let texture = png(&picture.thumbnail(TEXTURE_SIDE, TEXTURE_SIDE))?;
    let formats: Vec<&str> = input["output_formats"]
        .as_array()
        .map(|formats| formats.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["glb", "obj"]);
    let mut files = Vec::with_capacity(formats.len() + 1);
    for format in formats {
        let file = match format {
            "glb" => File {
                part: "file",
                name: "model.glb",
                mime: "model/gltf-binary",
                bytes: atelier_mesh::glb::to_glb(&mesh, Some(&texture), GENERATOR)
                    .map_err(|error| Refused(error.to_string()))?,
            },
            "obj" => File {
                part: "file",
                name: "model.zip",
                mime: "application/zip",
                bytes: atelier_mesh::obj::to_obj_zip(&mesh, Some(&texture), GENERATOR)
                    .map_err(|error| Refused(error.to_string()))?,
            },
            other => return Err(Refused(format!("TRELLIS's worker writes glb and obj, not {other:?}"))),
        };
        files.push(file);
    }
    files.push(File { part: "preview", name: "preview.png", mime: "image/png", bytes: texture });
    Ok(files)
}

/// A picture for a prompt: a disc on a clear background whose colours come from
/// the prompt and the seed (so the relief is a cut-out).
fn drawn(prompt: &str, seed: u64) -> image::DynamicImage {
    let hash = prompt
        .bytes()
        .fold(seed ^ 0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    let [r, g, b] = [(hash >> 8) as u8, (hash >> 24) as u8, (hash >> 40) as u8];
    let side = 128u32;
    image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(side, side, |x, y| {
        let (dx, dy) = (x as f32 - 64.0, y as f32 - 64.0);
        let distance = (dx * dx + dy * dy).sqrt() / 56.0;
        if distance > 1.0 {
            image::Rgba([0, 0, 0, 0])
        } else {
            let shade = 1.0 - 0.6 * distance;
            image::Rgba([(f32::from(r) * shade) as u8, (f32::from(g) * shade) as u8, (f32::from(b) * shade) as u8, 255])
        }
    }))
}

fn png(picture: &image::DynamicImage) -> Result<Vec<u8>, Refused> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(picture.to_rgba8())
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|error| Refused(format!("encoding the texture: {error}")))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_prompt_makes_a_glb_and_an_obj_zip_and_a_preview() {
        let Ok(files) = make("trellis/trellis-text-xlarge", &json!({ "prompt": "a chair", "quality": "fast" }), None)
        else {
            panic!("files");
        };
        let parts: Vec<(&str, &str)> = files.iter().map(|file| (file.part, file.name)).collect();
        assert_eq!(parts, [("file", "model.glb"), ("file", "model.zip"), ("preview", "preview.png")]);
        assert_eq!(&files[0].bytes[..4], b"glTF");
        assert_eq!(&files[1].bytes[..2], b"PK");
        assert!(make("trellis/trellis-image-large", &json!({ "image": "x" }), Some(b"not a picture")).is_err());
    }
}
