//! The model catalog while the server runs: an admin asks every service what it
//! offers now, or the server does so on a schedule (`models.refresh_secs`).

use std::sync::Arc;
use std::time::Duration;

use atelier_core::account::Role;
use atelier_core::catalog::Modality;
use atelier_core::ports::{ErrorClass, ProviderError};
use atelier_core::testing::Scripted;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

fn offered(models: &[&str]) -> Vec<atelier_core::catalog::ModelSpec> {
    models.iter().map(|model| Scripted::spec("lab", model, Modality::Image)).collect()
}

async fn model_ids(app: &TestApp) -> Vec<String> {
    let models: Value = app.get("/api/v1/models").await.json().await.expect("json");
    models["models"].as_array().expect("list").iter().map(|m| m["id"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test]
async fn an_admin_refresh_lists_what_services_offer_now() {
    let lab = Arc::new(Scripted::new("lab"));
    let app = TestApp::with(Options { providers: vec![lab.clone()], ..Options::default() }).await.expect("app");
    assert!(!model_ids(&app).await.contains(&"lab/sdxl".to_owned()));
    lab.on_refresh(Ok(offered(&["model", "sdxl"])));
    let refreshed: Value = app.post("/api/v1/models/refresh", &json!({})).await.json().await.expect("json");
    assert_eq!(refreshed["failures"], json!([]), "{refreshed}");
    assert!(model_ids(&app).await.contains(&"lab/sdxl".to_owned()));
    let id = app.create("lab/sdxl", json!({})).await;
    assert_eq!(app.wait_for_end(&id).await["status"], "completed", "a refreshed model runs");

    lab.on_refresh(Err(ProviderError::new(ErrorClass::ConnectionRefused, "the lab server is down")));
    let failed: Value = app.post("/api/v1/models/refresh", &json!({})).await.json().await.expect("json");
    assert_eq!(failed["failures"], json!([{ "service": "lab", "message": "the lab server is down" }]));
    assert!(model_ids(&app).await.contains(&"lab/sdxl".to_owned()), "a failed refresh keeps what it had");

    let (member, _) = app.user("ada@example.com", Role::Member).await;
    let refused = member.post(app.url("/api/v1/models/refresh")).json(&json!({})).send().await.expect("send");
    assert_error(refused, 403, "forbidden").await;
}

#[tokio::test]
async fn the_server_refreshes_on_its_schedule() {
    let lab = Arc::new(Scripted::new("lab"));
    let configure = Box::new(|config: &mut atelier::config::Config, _: &str| config.models.refresh_secs = 1);
    let options = Options { providers: vec![lab.clone()], configure: Some(configure), ..Options::default() };
    let app = TestApp::with(options).await.expect("app");
    lab.on_refresh(Ok(offered(&["model", "flux"])));
    for _ in 0..60 {
        if model_ids(&app).await.contains(&"lab/flux".to_owned()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the schedule never refreshed the catalog");
}
