//! Seed 003's names (3.1): one model, one name, under every service that offers it.
//! The seed's `{ "service": "OPENAI", "model": "SORA2" }` and the canonical
//! `openai/sora-2` reach the same adapter; the former ids (`kie/sora2`) still work;
//! a pair the matrix does not allow is refused before any call.

use std::collections::BTreeMap;

use atelier::config::{Config, Secret};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

/// Seed 003's compatibility matrix, as the seed writes it (`compatibility.ts`).
const SEED_MATRIX: [(&str, &[&str]); 4] = [
    ("KIE", &["IMAGEN4", "VEO3", "MIDJOURNEY", "SORA2"]),
    ("GOOGLE", &["IMAGEN4", "VEO3", "GEMINI_2_0"]),
    ("AZURE", &["DALL_E_3", "GPT_4O"]),
    ("OPENAI", &["DALL_E_3", "SORA2", "GPT_4O"]),
];

/// Each seed constant's canonical name.
fn canonical(seed: &str) -> &'static str {
    match seed {
        "IMAGEN4" => "imagen-4",
        "VEO3" => "veo-3",
        "MIDJOURNEY" => "midjourney",
        "SORA2" => "sora-2",
        "DALL_E_3" => "dall-e-3",
        "GEMINI_2_0" => "gemini-2.0-flash",
        "GPT_4O" => "gpt-4o",
        other => panic!("not a seed 003 model: {other}"),
    }
}

/// The four services configured (keys that no server will see: no worker runs, so
/// nothing is sent; the tasks show where they would go).
async fn four_services() -> TestApp {
    let configure = Box::new(|config: &mut Config, _: &str| {
        let providers = &mut config.providers;
        providers.kie.api_key = Secret::new("kie-key");
        providers.google.api_key = Secret::new("google-key");
        providers.openai.api_key = Secret::new("openai-key");
        providers.azure.api_key = Secret::new("azure-key");
        providers.azure.endpoint = "https://example.openai.azure.com".into();
        providers.azure.deployments =
            BTreeMap::from([("dall-e-3".into(), "dalle-prod".into()), ("gpt-4o".into(), "chat-prod".into())]);
    });
    TestApp::with(Options { workers: false, configure: Some(configure), ..Options::default() }).await.expect("app")
}

/// A valid input for a model: each required string parameter filled in.
fn minimal_input(model: &Value) -> Value {
    let schema = &model["input_schema"];
    let mut input = serde_json::Map::new();
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        input.insert(name.to_owned(), json!("a fox at dawn"));
    }
    Value::Object(input)
}

async fn catalogue(app: &TestApp) -> Vec<Value> {
    let models: Value = app.get("/api/v1/models").await.json().await.expect("json");
    models["models"].as_array().expect("models").clone()
}

async fn created(app: &TestApp, body: Value) -> Value {
    let response = app.post("/api/v1/tasks", &body).await;
    let status = response.status().as_u16();
    let task: Value = response.json().await.expect("json");
    assert_eq!(status, 202, "{body} → {task}");
    task
}

#[tokio::test]
async fn every_pair_of_the_seeds_matrix_reaches_the_same_adapter_in_either_spelling() {
    let app = four_services().await;
    let models = catalogue(&app).await;
    let mut pairs = 0;
    for (service, seed_models) in SEED_MATRIX {
        for seed_model in seed_models {
            let id = format!("{}/{}", service.to_lowercase(), canonical(seed_model));
            let model =
                models.iter().find(|model| model["id"] == id.as_str()).unwrap_or_else(|| panic!("{id} offered"));
            assert_eq!(model["usable"], true, "{id}: {model}");
            assert!(model["aliases"].as_array().expect("aliases").contains(&json!(seed_model)), "{id}: {model}");
            let input = minimal_input(model);
            let by_seed = created(&app, json!({ "service": service, "model": seed_model, "input": input })).await;
            let by_name = created(&app, json!({ "model": id, "input": input })).await;
            let lower =
                created(&app, json!({ "service": service, "model": seed_model.to_lowercase(), "input": input })).await;
            for task in [&by_seed, &by_name, &lower] {
                assert_eq!(format!("{}/{}", task["service"].as_str().unwrap(), task["model"].as_str().unwrap()), id);
                // The same adapter validated it: the same input, defaults and all.
                assert_eq!(task["input"], by_name["input"], "{service} {seed_model}");
            }
            pairs += 1;
        }
    }
    assert_eq!(pairs, 12, "every pair of the matrix");
}

#[tokio::test]
async fn a_pair_the_matrix_does_not_allow_is_refused_before_any_call() {
    let app = four_services().await;
    // AZURE + IMAGEN4: the seed's own example of a bad pair.
    for body in [
        json!({ "service": "AZURE", "model": "IMAGEN4", "input": { "prompt": "x" } }),
        json!({ "model": "azure/imagen-4", "input": { "prompt": "x" } }),
        json!({ "service": "KIE", "model": "DALL_E_3", "input": { "prompt": "x" } }),
    ] {
        let body = assert_error(app.post("/api/v1/tasks", &body).await, 422, "validation_error").await;
        assert_eq!(body["details"]["reason"], "not offered by this service", "{body}");
        assert!(!body["details"]["offered_by"].as_array().expect("offered_by").is_empty(), "{body}");
    }
    // A name no service offers, and a service that contradicts the model's own.
    let unknown = json!({ "service": "KIE", "model": "NOPE_9", "input": { "prompt": "x" } });
    assert_error(app.post("/api/v1/tasks", &unknown).await, 422, "validation_error").await;
    let contradicts = json!({ "service": "openai", "model": "kie/sora-2", "input": { "prompt": "x" } });
    let body = assert_error(app.post("/api/v1/tasks", &contradicts).await, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "service");
    let tasks: Value = app.get("/api/v1/tasks").await.json().await.expect("json");
    assert_eq!(tasks["tasks"], json!([]), "nothing was created");
}

#[tokio::test]
async fn the_former_ids_still_name_their_models_and_find_their_tasks() {
    let app = four_services().await;
    for (former, canonical) in [
        ("kie/sora2", "kie/sora-2"),
        ("kie/imagen4", "kie/imagen-4"),
        ("kie/veo3", "kie/veo-3"),
        ("google/imagen4", "google/imagen-4"),
        ("google/veo3", "google/veo-3"),
    ] {
        let task = created(&app, json!({ "model": former, "input": { "prompt": "a fox" } })).await;
        assert_eq!(format!("{}/{}", task["service"].as_str().unwrap(), task["model"].as_str().unwrap()), canonical);
        for filter in [former, canonical] {
            let found: Value = app.get(&format!("/api/v1/tasks?model={filter}")).await.json().await.expect("json");
            let ids: Vec<&Value> = found["tasks"].as_array().expect("tasks").iter().map(|t| &t["task_id"]).collect();
            assert!(ids.contains(&&task["task_id"]), "?model={filter} finds it: {found}");
        }
    }
    // The catalogue lists the former id among the aliases of the canonical one.
    let models = catalogue(&app).await;
    let sora = models.iter().find(|model| model["id"] == "kie/sora-2").expect("kie/sora-2");
    assert_eq!(sora["aliases"], json!(["kie/sora2", "SORA2"]));
}

#[tokio::test]
async fn the_catalogue_shows_who_offers_a_model_and_how_they_differ() {
    let app = four_services().await;
    let models = catalogue(&app).await;
    let sora = models.iter().find(|model| model["id"] == "openai/sora-2").expect("openai/sora-2");
    let offered: Vec<&str> = sora["offered_by"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(offered, ["kie/sora-2", "openai/sora-2", "azure/sora-2"]);
    let kie = &sora["offered_by"][0];
    let differs = !kie["lacks"].as_array().unwrap().is_empty() || !kie["adds"].as_array().unwrap().is_empty();
    assert!(differs, "Kie's Sora 2 takes other parameters than OpenAI's: {kie}");

    // A parameter OpenAI's Sora 2 lacks and Kie's takes: refused, naming both.
    let kie_only = kie["adds"].as_array().unwrap()[0].as_str().unwrap().to_owned();
    let body = json!({ "service": "OPENAI", "model": "SORA2", "input": { "prompt": "x", kie_only.clone(): "1" } });
    let refused = assert_error(app.post("/api/v1/tasks", &body).await, 422, "validation_error").await;
    assert_eq!(refused["details"]["field"], kie_only.as_str(), "{refused}");
    assert_eq!(refused["details"]["service"], "openai");
    assert_eq!(refused["details"]["offered_by"], json!(["kie/sora-2"]), "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("openai") && message.contains("kie/sora-2"), "{message}");
}

#[tokio::test]
async fn the_seed_004_route_takes_the_seeds_pairs_too() {
    let app = four_services().await;
    let body = json!({ "service": "GOOGLE", "model": "imagen4", "prompt": "a fox" });
    let response = app.post("/api/v1/generate", &body).await;
    assert_eq!(response.status().as_u16(), 201);
    let answer: Value = response.json().await.expect("json");
    let task: Value =
        app.get(&format!("/api/v1/tasks/{}", answer["task_id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!((task["service"].as_str(), task["model"].as_str()), (Some("google"), Some("imagen-4")));
}
