//! Stability AI through Atelier, against the in-tree emulator: each model's image
//! (and SD3's image to image), and each refusal with its class and one call.

use atelier::config::Config;
use atelier_testkit::emulators::Emulator;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

async fn start(faults: &[&str]) -> (TestApp, Emulator) {
    let stability = Emulator::stability(faults, |_| {}).await;
    let pointed = stability.clone();
    let configure = Box::new(move |config: &mut Config, _: &str| pointed.point_stability(config));
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    (app, stability)
}

async fn image(app: &TestApp, output: &Value) -> image::DynamicImage {
    image::load_from_memory(&app.output_bytes(output).await).expect("a real image")
}

fn calls(stats: &Value) -> u64 {
    ["core", "ultra", "sd3"].iter().map(|key| stats[*key].as_u64().unwrap_or(0)).sum()
}

#[tokio::test]
async fn each_model_makes_its_image() {
    let (app, stability) = start(&[]).await;
    let core = app
        .run("stability/core", json!({ "prompt": "a lighthouse", "aspect_ratio": "16:9", "style_preset": "cinematic" }))
        .await;
    assert_eq!(core["status"], "completed", "{core}");
    let made = image(&app, &core["images"][0]).await;
    assert!(made.width() > made.height(), "16:9 is wide: {}x{}", made.width(), made.height());
    let ultra = app.run("stability/ultra", json!({ "prompt": "a lighthouse", "output_format": "jpeg" })).await;
    assert_eq!(
        (ultra["status"].as_str(), ultra["images"][0]["mime_type"].as_str()),
        (Some("completed"), Some("image/jpeg")),
        "{ultra}"
    );

    use base64::Engine;
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(640, 448, image::Rgb([10, 80, 160]))
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let data = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png.into_inner()));
    let sd3 = app
        .run("stability/sd3", json!({ "prompt": "at dusk", "model": "sd3.5-medium", "image": data, "strength": 0.6 }))
        .await;
    assert_eq!(sd3["status"], "completed", "{sd3}");
    let edited = image(&app, &sd3["images"][0]).await;
    assert_eq!((edited.width(), edited.height()), (640, 448), "image to image keeps the size");
    assert_eq!(calls(&stability.stats().await), 3);

    let refused = app
        .post(
            "/api/v1/tasks",
            &json!({ "model": "stability/sd3", "input": { "prompt": "x", "style_preset": "anime" } }),
        )
        .await;
    let body = assert_error(refused, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "style_preset");
}

#[tokio::test]
async fn refusals_end_as_the_policy_says() {
    // (rule, error code, calls)
    let cases = [
        ("core:always:safety", "content_filtered", 1),
        ("core:always:generation_failed", "content_filtered", 1),
        ("core:always:status=401", "provider_unauthorized", 1),
        ("core:always:status=402", "insufficient_credits", 1),
        ("core:always:status=400", "provider_rejected", 1),
        ("core:always:status=500", "provider_error", 3),
    ];
    for (rule, code, expected) in cases {
        let (app, stability) = start(&[rule]).await;
        let task = app.run("stability/core", json!({ "prompt": "x" })).await;
        assert_eq!(
            (task["status"].as_str(), task["error"]["code"].as_str()),
            (Some("failed"), Some(code)),
            "{rule}: {task}"
        );
        assert_eq!(calls(&stability.stats().await), expected, "{rule}");
    }
}
