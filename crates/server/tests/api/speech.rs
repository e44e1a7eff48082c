//! The built-in speech engine, `local/speech`, through the task API: the output is a
//! file independent tools read, its details (seed 000's `audio_data`) are recorded
//! on the output, and bad input is a 422 naming the field.

use serde_json::json;

use crate::helpers::{TestApp, tools_present};

#[tokio::test]
async fn speech_is_a_task_whose_output_records_its_audio_details() {
    if !tools_present(&["espeak-ng", "ffprobe"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let text = "Atelier speaks without a key. This sentence is the second one.";
    let task = app.run("local/speech", json!({ "text": text, "engine": "espeak", "format": "mp3" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!((task["input"]["engine"].as_str(), task["input"]["voice"].as_str()), (Some("espeak"), Some("en-us")));
    let output = &task["images"][0];
    assert_eq!(output["mime_type"], "audio/mpeg", "{output}");
    let media = &output["media"];
    assert_eq!((media["codec"].as_str(), media["channels"].as_u64()), (Some("mp3"), Some(1)), "{output}");
    assert_eq!(media["sample_rate"], 22_050, "{output}");
    let seconds = media["duration_secs"].as_f64().expect("a duration");
    assert!((2.0..8.0).contains(&seconds), "{seconds} s for 11 words");
    let mp3 = app.output_bytes(output).await;
    let probe = atelier_core::testing::ffprobe(&mp3, "mp3").expect("ffprobe is here");
    assert_eq!(probe["streams"][0]["codec_name"], "mp3");
    // The asset list shows the same details.
    let listed: serde_json::Value = app.get("/api/v1/assets?limit=5").await.json().await.expect("json");
    let found = listed["images"]
        .as_array()
        .and_then(|images| images.iter().find(|image| image["image_id"] == output["image_id"]).cloned());
    assert_eq!(found.map(|image| image["media"]["codec"].clone()), Some(json!("mp3")), "{listed}");
    // The gallery filters by kind: audio is there, not among the videos.
    let ids = |page: serde_json::Value| -> Vec<serde_json::Value> {
        page["images"]
            .as_array()
            .map(|images| images.iter().map(|image| image["image_id"].clone()).collect())
            .unwrap_or_default()
    };
    let audio: serde_json::Value = app.get("/api/v1/assets?kind=audio").await.json().await.expect("json");
    assert_eq!(ids(audio), [output["image_id"].clone()]);
    let videos: serde_json::Value = app.get("/api/v1/assets?kind=video").await.json().await.expect("json");
    assert!(ids(videos).is_empty());
    let error = crate::helpers::assert_error(app.get("/api/v1/assets?kind=sound").await, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "kind");
}

#[tokio::test]
async fn bad_speech_input_is_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    for (input, field) in [
        (json!({ "text": "" }), "text"),
        (json!({ "text": "hello", "speed": 9 }), "speed"),
        (json!({ "text": "hello", "format": "aiff" }), "format"),
        (json!({ "text": "hello", "sample_rate": 11 }), "sample_rate"),
    ] {
        let response = app.post("/api/v1/tasks", &json!({ "model": "local/speech", "input": input })).await;
        let error = crate::helpers::assert_error(response, 422, "validation_error").await;
        assert_eq!(error["details"]["field"], field, "{error}");
    }
}
