//! The built-in 3D engine, `local/relief`, through the task API: an uploaded picture
//! becomes a GLB that the Khronos glTF validator passes; a file that is not a
//! picture fails the task as the input's fault.

use serde_json::json;

use crate::helpers::TestApp;

async fn upload_png(app: &TestApp) -> String {
    let picture = image::RgbaImage::from_fn(90, 60, |x, y| image::Rgba([(x * 2) as u8, (y * 4) as u8, 150, 255]));
    let mut png = Vec::new();
    picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
    app.upload("relief.png", "image/png", png).await
}

#[tokio::test]
async fn an_uploaded_picture_becomes_a_glb_the_khronos_validator_passes() {
    let app = TestApp::spawn().await;
    let upload = upload_png(&app).await;
    let task = app.run("local/relief", json!({ "image": upload, "quality": "fast" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["input"]["output_formats"], json!(["glb"]));
    let output = &task["images"][0];
    assert_eq!(output["mime_type"], "model/gltf-binary", "{task}");
    let glb = app.output_bytes(output).await;
    assert_eq!(&glb[..4], b"glTF");

    if let Some(report) = atelier_mesh::testing::khronos_report(&glb) {
        assert_eq!((report["errors"].as_u64(), report["warnings"].as_u64()), (Some(0), Some(0)), "{report}");
        assert!(report["triangles"].as_u64().is_some_and(|triangles| triangles > 1000), "{report}");
    }

    // Its thumbnail is a drawing of the model: a WebP with the model on a clear
    // background, and the model's own size is not made up from it.
    assert!(output["width"].is_null() && output["height"].is_null(), "{output}");
    let thumbnail = app.get(output["thumbnail_url"].as_str().expect("a thumbnail")).await;
    assert_eq!(thumbnail.headers()["content-type"], "image/webp");
    let still = image::load_from_memory(&thumbnail.bytes().await.unwrap()).expect("webp").to_rgba8();
    assert_eq!(still.dimensions(), (256, 256));
    let drawn = still.pixels().filter(|pixel| pixel.0[3] > 0).count();
    assert!(drawn > 256 * 256 / 5 && still.get_pixel(0, 0).0[3] == 0, "{drawn} pixels drawn");
}

#[tokio::test]
async fn a_file_that_is_not_a_picture_fails_as_the_inputs_fault() {
    let app = TestApp::spawn().await;
    let task = app.run("local/relief", json!({ "image": "data:image/png;base64,aGVsbG8gd29ybGQ=" })).await;
    assert_eq!(
        (task["status"].as_str(), task["error"]["code"].as_str()),
        (Some("failed"), Some("provider_rejected")),
        "{task}"
    );
    assert!(task["error"]["message"].as_str().is_some_and(|message| message.contains("image")), "{task}");
}
