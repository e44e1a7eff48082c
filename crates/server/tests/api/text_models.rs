//! Text models (the text-model port) through Atelier against the in-tree
//! emulators: Gemini's `generateContent` with a JSON Schema (the answer validated,
//! each fault class ending as the policy says), and a manga run whose phases and
//! change in words go through the emulated Gemini.

use std::time::Duration;

use atelier::config::Config;
use atelier_testkit::emulators::{Emulator, GOOGLE_KEY};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

async fn with_google(faults: &[&str]) -> (TestApp, Emulator) {
    let google = Emulator::google(faults, |_| {}).await;
    let pointed = google.clone();
    let configure = Box::new(move |config: &mut Config, _: &str| {
        pointed.point_google(config);
        config.pipelines.sweep_ms = 50;
    });
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    (app, google)
}

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["title", "scenes"],
        "properties": {
            "title": { "type": "string" },
            "scenes": { "type": "array", "minItems": 2, "items": { "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } } }
        }
    })
}

async fn answer(app: &TestApp, task: &Value) -> Value {
    serde_json::from_slice(&app.output_bytes(&task["images"][0]).await).expect("a JSON answer")
}

#[tokio::test]
async fn gemini_answers_json_that_follows_the_schema() {
    let (app, google) = with_google(&[]).await;
    let task = app
        .run("google/gemini-2.5-flash", json!({ "prompt": "Plan a story.", "system": "Be brief.", "schema": schema(), "context": { "text": "A fox." } }))
        .await;
    assert_eq!(task["status"], "completed", "{task}");
    assert!(!task.to_string().contains(GOOGLE_KEY));
    let answer = answer(&app, &task).await;
    assert!(answer["title"].is_string(), "{answer}");
    assert_eq!(answer["scenes"].as_array().map(Vec::len), Some(2), "{answer}");
    assert_eq!(google.stats().await["generate_content"], 1);
    // A text answer without a schema is text.
    let plain = app.run("google/gemini-2.5-pro", json!({ "prompt": "Say hello." })).await;
    assert_eq!(plain["status"], "completed", "{plain}");
    assert!(plain["images"][0]["mime_type"].as_str().is_some_and(|mime| mime.starts_with("text/plain")), "{plain}");
}

#[tokio::test]
async fn gemini_faults_end_as_the_policy_says() {
    let cases = [
        ("generate_content:always:safety", "failed", "content_filtered", 1),
        ("generate_content:always:safety=output", "failed", "content_filtered", 1),
        ("generate_content:first=1:status=429,retry_after_seconds=0", "completed", "", 2),
        ("generate_content:always:status=400", "failed", "provider_rejected", 1),
        ("generate_content:first=1:status=503", "completed", "", 2),
        ("generate_content:always:generation_failed", "failed", "generation_failed", 1),
    ];
    for (rule, status, code, calls) in cases {
        let (app, google) = with_google(&[rule]).await;
        let task = app.run("google/gemini-2.5-flash", json!({ "prompt": "Plan.", "schema": schema() })).await;
        assert_eq!(task["status"], status, "{rule}: {task}");
        if !code.is_empty() {
            assert_eq!(task["error"]["code"], code, "{rule}: {task}");
        }
        assert_eq!(google.stats().await["generate_content"], calls, "{rule}: calls");
    }
}

#[tokio::test]
async fn a_manga_run_goes_through_gemini_phase_by_phase() {
    let (app, google) = with_google(&[]).await;
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gift-of-the-magi.txt"),
    )
    .unwrap();
    let body = json!({ "text": text, "text_model": "google/gemini-2.5-flash", "feedback_mode": { "timeout_seconds": 600 }, "last_phase": 2 });
    let created: Value = app.post("/api/v1/pipelines", &body).await.json().await.unwrap();
    let id = created["id"].as_str().expect("a run").to_owned();
    let run = wait_for(&app, &id, "waiting_input").await;
    assert_eq!(run["phase"], 1);
    // A change in words goes to the run's text model too.
    let proposal: Value = app
        .post(&format!("/api/v1/pipelines/{id}/proposals"), &json!({ "text": "make it darker" }))
        .await
        .json()
        .await
        .unwrap();
    let proposal_id = proposal["id"].as_str().expect("a proposal").to_owned();
    let answered = loop {
        let answered: Value =
            app.get(&format!("/api/v1/pipelines/{id}/proposals/{proposal_id}")).await.json().await.unwrap();
        if answered["status"] == "completed" {
            break answered;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(answered["operations"].is_array() && answered["error"].is_null(), "{answered}");
    app.post(&format!("/api/v1/pipelines/{id}/continue"), &json!({})).await;
    let run = wait_for(&app, &id, "completed").await;
    let version: Value = app
        .get(&format!("/api/v1/pipelines/{id}/versions/{}", run["head_version_id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    let characters = version["document"]["characters"].as_array().expect("characters");
    assert_eq!(characters[0]["id"], "c1", "ids are given when the model's are not of the shape");
    assert!(characters[0]["sheets"][0]["asset_id"].is_string(), "{version}");
    assert_eq!(google.stats().await["generate_content"], 3, "phases 1 and 2 and the proposal, once each");
}

async fn wait_for(app: &TestApp, run: &str, status: &str) -> Value {
    for _ in 0..600 {
        let view: Value = app.get(&format!("/api/v1/pipelines/{run}")).await.json().await.unwrap();
        if view["status"] == status {
            return view;
        }
        assert_ne!(view["status"], "failed", "{view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} never got {status}");
}

async fn with_openai(flavour: atelier_emulators::openai::Flavour, faults: &[&str]) -> (TestApp, Emulator) {
    let openai = Emulator::openai(flavour, faults).await;
    let pointed = openai.clone();
    let configure = Box::new(move |config: &mut Config, _: &str| {
        pointed.point_openai(config, flavour);
        pointed.point_llm(config);
    });
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    (app, openai)
}

#[tokio::test]
async fn chat_models_answer_json_through_openai_azure_and_a_server_of_your_own() {
    use atelier_emulators::openai::Flavour;
    let (app, openai) = with_openai(Flavour::OpenAi, &[]).await;
    let input = json!({ "prompt": "Plan a story.", "system": "Be brief.", "schema": schema(), "schema_name": "plan" });
    let task = app.run("openai/gpt-4o-mini", input.clone()).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(answer(&app, &task).await["scenes"].as_array().map(Vec::len), Some(2));
    // The server's own list names its models (read when the catalog refreshes at start).
    let mut listed = false;
    for _ in 0..100 {
        let models: Value = app.get("/api/v1/models").await.json().await.unwrap();
        if models.to_string().contains("llm/gpt-4.1-mini") {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listed, "the llm service lists the server's models");
    let local = app.run("llm/gpt-4.1-mini", input.clone()).await;
    assert_eq!(local["status"], "completed", "{local}");
    assert!(answer(&app, &local).await["title"].is_string());
    assert_eq!(openai.stats().await["chat_completions"], 2);

    let (azure, _) = with_openai(Flavour::Azure, &[]).await;
    let task = azure.run("azure/gpt-4o-mini", input).await;
    assert_eq!(task["status"], "completed", "through the chat-prod deployment: {task}");
}

#[tokio::test]
async fn chat_faults_end_as_the_policy_says() {
    use atelier_emulators::openai::Flavour;
    let cases = [
        ("chat:always:generation_failed", "failed", "content_filtered", 1),
        ("chat:first=1:status=429,retry_after_seconds=0", "completed", "", 2),
        ("chat:always:status=400", "failed", "provider_rejected", 1),
        ("chat:first=1:status=500", "completed", "", 2),
    ];
    for (rule, status, code, calls) in cases {
        let (app, openai) = with_openai(Flavour::OpenAi, &[rule]).await;
        let task = app.run("openai/gpt-4o-mini", json!({ "prompt": "Plan.", "schema": schema() })).await;
        assert_eq!(task["status"], status, "{rule}: {task}");
        if !code.is_empty() {
            assert_eq!(task["error"]["code"], code, "{rule}: {task}");
        }
        assert_eq!(openai.stats().await["chat_completions"], calls, "{rule}: calls");
    }
}

#[tokio::test]
async fn a_manga_run_and_its_change_in_words_go_through_a_chat_server_of_your_own() {
    use atelier_emulators::openai::Flavour;
    let (app, openai) = with_openai(Flavour::OpenAi, &[]).await;
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rashomon.txt"))
            .unwrap();
    // The llm service learns the server's models when the catalog refreshes at start.
    let mut created = Value::Null;
    for _ in 0..100 {
        let body = json!({ "text": text, "text_model": "llm/gpt-4o-mini", "feedback_mode": { "timeout_seconds": 600 }, "last_phase": 1 });
        let response = app.post("/api/v1/pipelines", &body).await;
        if response.status() == 202 {
            created = response.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = created["id"].as_str().expect("a run on llm/gpt-4o-mini").to_owned();
    let run = wait_for(&app, &id, "completed").await;
    assert_eq!(run["settings"]["text_model"], "llm/gpt-4o-mini");
    let proposal: Value = app
        .post(&format!("/api/v1/pipelines/{id}/proposals"), &json!({ "text": "make it darker" }))
        .await
        .json()
        .await
        .unwrap();
    let proposal_id = proposal["id"].as_str().expect("a proposal").to_owned();
    loop {
        let answered: Value =
            app.get(&format!("/api/v1/pipelines/{id}/proposals/{proposal_id}")).await.json().await.unwrap();
        if answered["status"] == "completed" {
            assert!(answered["operations"].is_array(), "{answered}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(openai.stats().await["chat_completions"], 2, "phase 1 and the proposal");
}

/// Seed 001's error classes at the phase level: a provider out of resources (503,
/// after the task's own retries) puts the phase off 5 minutes; a refused request
/// (400) fails the run at once and says so.
#[tokio::test]
async fn a_phase_waits_five_minutes_after_a_503_and_a_400_fails_the_run() {
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rashomon.txt"))
            .unwrap();
    let body = json!({ "text": text, "text_model": "google/gemini-2.5-flash", "feedback_mode": { "enabled": false } });
    let (app, _google) = with_google(&["generate_content:always:status=503"]).await;
    let created: Value = app.post("/api/v1/pipelines", &body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let mut waiting = Value::Null;
    for _ in 0..200 {
        let run: Value = app.get(&format!("/api/v1/pipelines/{id}")).await.json().await.unwrap();
        if run["note"].as_str().is_some_and(|note| note.contains("tried again")) {
            waiting = run;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(waiting["status"], "running", "{waiting}");
    let note = waiting["note"].as_str().unwrap();
    assert!(note.contains("in 300000 ms"), "five minutes: {note}");

    let (app, _google) = with_google(&["generate_content:always:status=400"]).await;
    let created: Value = app.post("/api/v1/pipelines", &body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        let run: Value = app.get(&format!("/api/v1/pipelines/{id}")).await.json().await.unwrap();
        if run["status"] == "failed" {
            assert_eq!(run["error"]["code"], "provider_rejected", "{run}");
            assert_eq!(run["error"]["phase"], 1);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the run did not fail on a refused request");
}

/// The run's time limit counts time at work: a phase still at the provider past it
/// fails the run with `deadline_exceeded`, keeping every finished phase, and its
/// task is cancelled.
#[tokio::test]
async fn a_run_past_its_deadline_fails_and_keeps_its_finished_phases() {
    let (app, _google) = with_google(&["generate_content:always:latency=1200"]).await;
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rashomon.txt"))
            .unwrap();
    let body = json!({ "text": text, "text_model": "google/gemini-2.5-flash", "deadline_seconds": 2, "feedback_mode": { "enabled": false } });
    let created: Value = app.post("/api/v1/pipelines", &body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let mut failed = Value::Null;
    for _ in 0..200 {
        let run: Value = app.get(&format!("/api/v1/pipelines/{id}")).await.json().await.unwrap();
        if run["status"] == "failed" {
            failed = run;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed["error"]["code"], "deadline_exceeded", "{failed}");
    assert_eq!(failed["error"]["phase"], 2, "phase 1 finished in time, phase 2 did not: {failed}");
    let tree: Value = app.get(&format!("/api/v1/pipelines/{id}/versions")).await.json().await.unwrap();
    assert_eq!(tree["versions"].as_array().map(Vec::len), Some(1), "phase 1's result is kept");
    let change =
        json!({ "change_type": "text_edit", "element_id": "concept.title", "change_data": { "new_value": "x" } });
    assert_eq!(
        app.post(&format!("/api/v1/pipelines/{id}/feedback"), &change).await.status(),
        409,
        "a failed run takes no change"
    );
}
