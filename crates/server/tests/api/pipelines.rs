//! Pipeline runs over HTTP (seed 001, phases 1 to 4 on the offline planner; the
//! drawing phases 5 to 7 are in `manga_book.rs`): a
//! Japanese story through every phase with feedback of each change type, a change
//! in words proposed and applied, a branch from an earlier version, previews, the
//! seed's own route; bad input refused with nothing changed; a run straight through
//! without feedback; a deadline reached; a spent quota parking the run. On SQLite
//! and PostgreSQL.

use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

pub(crate) fn story(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)).unwrap()
}

pub(crate) async fn app(
    postgres: bool,
    configure: impl FnOnce(&mut atelier::config::Config) + Send + 'static,
) -> Option<TestApp> {
    TestApp::with(Options {
        postgres,
        configure: Some(Box::new(move |config, _| {
            config.pipelines.sweep_ms = 50;
            configure(config);
        })),
        ..Options::default()
    })
    .await
}

pub(crate) async fn json(response: reqwest::Response, status: u16) -> Value {
    let code = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code, status, "{body}");
    body
}

pub(crate) async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url(path)).json(&body).send().await.unwrap()
}

pub(crate) async fn get(app: &TestApp, path: &str) -> Value {
    json(app.get(path).await, 200).await
}

/// Waits until the run is in `status` at `phase` (any phase when 0).
pub(crate) async fn wait_for(app: &TestApp, run: &str, status: &str, phase: u32) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let view = get(app, &format!("/api/v1/pipelines/{run}")).await;
        if view["status"] == status && (phase == 0 || view["phase"] == phase) {
            return view;
        }
        assert!(!(view["status"] == "failed" && status != "failed"), "the run failed: {view}");
        assert!(std::time::Instant::now() < deadline, "still {} at phase {}: {view}", view["status"], view["phase"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn head(app: &TestApp, run: &Value) -> Value {
    get(
        app,
        &format!(
            "/api/v1/pipelines/{}/versions/{}",
            run["id"].as_str().unwrap(),
            run["head_version_id"].as_str().unwrap()
        ),
    )
    .await
}

pub(crate) async fn feedback(app: &TestApp, run: &str, change: Value) -> reqwest::Response {
    post(app, &format!("/api/v1/pipelines/{run}/feedback"), change).await
}

async fn version_count(app: &TestApp, run: &str) -> usize {
    get(app, &format!("/api/v1/pipelines/{run}/versions")).await["versions"].as_array().unwrap().len()
}

async fn a_story_becomes_a_storyboard_with_a_person_in_the_loop(postgres: bool) {
    let Some(app) = app(postgres, |_| {}).await else { return };
    let created = json(
        post(
            &app,
            "/api/v1/pipelines",
            json!({ "text": story("rashomon.txt"), "last_phase": 4, "feedback_mode": { "enabled": true, "timeout_seconds": 600 } }),
        )
        .await,
        202,
    )
    .await;
    assert_eq!((created["status"].as_str(), created["phase"].as_u64()), (Some("running"), Some(1)));
    assert_eq!(created["settings"]["text_model"], "local/planner");
    let id = created["id"].as_str().unwrap().to_owned();

    // Phase 1: the concept waits for feedback.
    let run = wait_for(&app, &id, "waiting_input", 1).await;
    assert!(run["waiting_until"].is_string(), "{run}");
    let concept_version = head(&app, &run).await;
    assert_eq!(concept_version["kind"], "phase");
    assert_eq!(concept_version["document"]["concept"]["language"], "ja");
    let alternatives = concept_version["document"]["concept"]["alternatives"]["genre"].clone();

    // text_edit and selection, each a child version.
    let edited = json(feedback(&app, &id, json!({ "change_type": "text_edit", "element_id": "concept.title", "change_data": { "new_value": "羅生門 (漫画)" } })).await, 200).await;
    assert_eq!(edited["version"]["parent_id"], concept_version["id"]);
    assert_eq!(edited["version"]["kind"], "feedback");
    assert_eq!(edited["version"]["document"]["concept"]["title"], "羅生門 (漫画)");
    assert_eq!(edited["version"]["changes"][0]["change_type"], "text_edit");
    let chosen = json(
        feedback(
            &app,
            &id,
            json!({ "change_type": "selection", "element_id": "concept.genre", "change_data": { "index": 1 } }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(chosen["version"]["document"]["concept"]["genre"], alternatives[1]);

    // Phase 2: characters with reference sheets made by the image model.
    json(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 200).await;
    let run = wait_for(&app, &id, "waiting_input", 2).await;
    let characters = head(&app, &run).await["document"]["characters"].clone();
    assert_eq!(characters[0]["name"], "下人");
    let sheet = characters[0]["sheets"][0]["asset_id"].as_str().unwrap().to_owned();
    let image = app.get(&format!("/api/v1/assets/{sheet}")).await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    let phase2_version = run["head_version_id"].as_str().unwrap().to_owned();

    // Phases 3 and 4; after the name the run is complete (its last_phase).
    json(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 200).await;
    wait_for(&app, &id, "waiting_input", 3).await;
    json(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 200).await;
    let run = wait_for(&app, &id, "completed", 4).await;
    let name = head(&app, &run).await;
    let pages = name["document"]["pages"].as_array().unwrap().clone();
    assert_eq!(pages[0]["reading_flow"], "rtl");
    assert!(pages.iter().all(|page| page["panels"].as_array().is_some_and(|panels| !panels.is_empty())));

    // The storyboard preview: numbered panel frames and balloons, at two qualities.
    let preview = app.get(name["preview_url"].as_str().unwrap()).await;
    assert_eq!(preview.headers()["content-type"], "image/svg+xml");
    let svg = preview.text().await.unwrap();
    assert!(svg.matches("data-panel=").count() >= pages.len(), "every page's panels are drawn");
    // Save-Data: the smallest drawing, as PNG (the data is the same).
    let preview_url = name["preview_url"].as_str().unwrap().to_owned();
    let small = app.http.get(app.url(&format!("{preview_url}?page=1"))).header("Save-Data", "on").send().await.unwrap();
    assert_eq!(
        (small.headers()["x-preview-quality"].to_str().unwrap(), small.headers()["content-type"].to_str().unwrap()),
        ("1", "image/png")
    );
    let png = image::load_from_memory(&small.bytes().await.unwrap()).expect("a PNG");
    assert_eq!(png.width(), 320, "quality 1 draws 320 pixels wide");
    let one_page = app.get(&format!("{preview_url}?format=svg&quality=5&page=2")).await.text().await.unwrap();
    assert!(one_page.contains(r#"width="1440""#) && one_page.contains("p.2"), "{one_page}");
    for (query, field) in [("format=gif", "format"), ("page=999", "page"), ("quality=0", "quality")] {
        let body = assert_error(app.get(&format!("{preview_url}?{query}")).await, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], field, "{query}");
    }

    // drag_drop: a panel resized; off the page, an unknown element, a bad value:
    // refused, and no version is made.
    let before = version_count(&app, &id).await;
    let moved = json(feedback(&app, &id, json!({ "change_type": "drag_drop", "element_id": "pages.0.panels.0", "change_data": { "frame": { "x": 0.1, "y": 0.05, "w": 0.8, "h": 0.3 } } })).await, 200).await;
    assert_eq!(moved["version"]["document"]["pages"][0]["panels"][0]["frame"]["w"], 0.8);
    let refused = [
        (
            json!({ "change_type": "drag_drop", "element_id": "pages.0.panels.0", "change_data": { "frame": { "x": 0.5, "y": 0.5, "w": 0.8, "h": 0.3 } } }),
            "outside_page",
        ),
        (
            json!({ "change_type": "text_edit", "element_id": "pages.99.panels.0.dialogue.0.text", "change_data": { "new_value": "x" } }),
            "unknown_element",
        ),
        (
            json!({ "change_type": "text_edit", "element_id": "concept.page_count", "change_data": { "new_value": "many" } }),
            "invalid_document",
        ),
        (json!({ "change_type": "style_adjust", "change_data": { "screentone_density": 2 } }), "invalid_change"),
    ];
    for (change, reason) in refused {
        let body = assert_error(feedback(&app, &id, change.clone()).await, 422, "validation_error").await;
        assert_eq!(body["details"]["reason"], reason, "{change} → {body}");
    }
    assert_error(
        feedback(&app, &id, json!({ "change_type": "paint", "element_id": "concept.title" })).await,
        422,
        "validation_error",
    )
    .await;
    assert_error(feedback(&app, &id, json!({ "change_type": 5 })).await, 422, "validation_error").await;
    assert_eq!(version_count(&app, &id).await, before + 1, "refused changes made no version");

    // A rename after the name: the dialogue and summaries that name the character follow.
    let renamed = json(feedback(&app, &id, json!({ "change_type": "text_edit", "element_id": "characters.0.name", "change_data": { "new_value": "ゲニン" } })).await, 200).await;
    let document = &renamed["version"]["document"];
    assert_eq!(document["characters"][0]["name"], "ゲニン");
    let text = document["plot"].to_string() + &document["pages"].to_string();
    assert!(text.contains("ゲニン") && !text.contains("下人"), "every mention renamed");
    let styled = json(feedback(&app, &id, json!({ "change_type": "style_adjust", "change_data": { "screentone_density": 0.6, "color_mode": "monochrome" } })).await, 200).await;
    assert_eq!(styled["version"]["document"]["style"]["color_mode"], "monochrome");

    // A change in words, proposed (as a diff), then applied; what the offline planner
    // does not understand it says.
    let proposal = json(
        post(
            &app,
            &format!("/api/v1/pipelines/{id}/proposals"),
            json!({ "text": "rename 老婆 to 老女; split page 1; make the moon bigger" }),
        )
        .await,
        202,
    )
    .await;
    let proposal_id = proposal["id"].as_str().unwrap().to_owned();
    let answered = loop {
        let answered = get(&app, &format!("/api/v1/pipelines/{id}/proposals/{proposal_id}")).await;
        if answered["status"] == "completed" {
            break answered;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(answered["not_understood"], json!(["make the moon bigger"]));
    assert!(answered["diff"].as_array().is_some_and(|diff| !diff.is_empty()), "{answered}");
    let panels_before = styled["version"]["document"]["pages"][0]["panels"].as_array().unwrap().len();
    let applied =
        json(post(&app, &format!("/api/v1/pipelines/{id}/proposals/{proposal_id}/apply"), json!({})).await, 200).await;
    let document = &applied["version"]["document"];
    assert!(document["characters"].to_string().contains("老女"));
    assert_eq!(document["pages"][0]["panels"].as_array().unwrap().len(), panels_before + 1);
    assert_eq!(applied["version"]["changes"][0]["change_type"], "natural_language");
    // Applying it again: it was made against an older version now.
    assert_error(
        post(&app, &format!("/api/v1/pipelines/{id}/proposals/{proposal_id}/apply"), json!({})).await,
        409,
        "stale_proposal",
    )
    .await;

    // Branch from the characters (phase 2): the run goes on from there; the old branch
    // stays readable.
    let versions_before = version_count(&app, &id).await;
    let branched =
        json(post(&app, &format!("/api/v1/pipelines/{id}/branch"), json!({ "version_id": phase2_version })).await, 200)
            .await;
    assert_eq!((branched["status"].as_str(), branched["phase"].as_u64()), (Some("waiting_input"), Some(2)));
    json(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 200).await;
    let run = wait_for(&app, &id, "waiting_input", 3).await;
    let plot = head(&app, &run).await;
    assert_eq!(plot["parent_id"], phase2_version, "the new plot grows from the branch point");
    let tree = get(&app, &format!("/api/v1/pipelines/{id}/versions")).await;
    assert_eq!(tree["versions"].as_array().unwrap().len(), versions_before + 1);
    assert_eq!(tree["versions"].as_array().unwrap().iter().filter(|version| version["is_head"] == true).count(), 1);
    let history = get(&app, &format!("/api/v1/pipelines/{id}/phases/3/history")).await;
    assert_eq!(history.as_array().unwrap().len(), 2, "two plots: the first branch's and the new one");

    // Stop, resume, and the seed's own answer.
    let stopped = json(post(&app, &format!("/api/v1/pipelines/{id}/stop"), json!({})).await, 200).await;
    assert_eq!(stopped["status"], "paused");
    assert_error(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 409, "run_state").await;
    json(post(&app, &format!("/api/v1/pipelines/{id}/resume"), json!({})).await, 200).await;
    wait_for(&app, &id, "completed", 4).await;
    let seed = get(&app, &format!("/api/v1/manga/{id}")).await;
    assert_eq!(seed["phase_results"].as_array().unwrap().len(), 4);
    assert_eq!(
        seed["manga_result"]["characters"][0]["name"], "下人",
        "the current branch is the one from before the rename"
    );
    assert!(seed["manga_result"]["final_manga_url"].is_null(), "no book: the run stopped after the name");
}

#[tokio::test]
async fn a_story_becomes_a_storyboard_with_a_person_in_the_loop_on_sqlite() {
    a_story_becomes_a_storyboard_with_a_person_in_the_loop(false).await;
}

#[tokio::test]
async fn a_story_becomes_a_storyboard_with_a_person_in_the_loop_on_postgres() {
    a_story_becomes_a_storyboard_with_a_person_in_the_loop(true).await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_their_reason() {
    let app = app(false, |_| {}).await.unwrap();
    let short = "短い話。".repeat(10);
    let body =
        assert_error(post(&app, "/api/v1/pipelines", json!({ "text": short })).await, 422, "validation_error").await;
    assert_eq!((body["details"]["field"].as_str(), body["details"]["characters"].as_u64()), (Some("text"), Some(40)));
    assert_eq!(body["details"]["min"], 5000);
    let long = "あ".repeat(50_001);
    assert_eq!(
        assert_error(post(&app, "/api/v1/pipelines", json!({ "text": long })).await, 422, "validation_error").await["details"]
            ["max"],
        50000
    );
    assert_error(post(&app, "/api/v1/pipelines", json!({ "text": "" })).await, 422, "validation_error").await;
    let text = story("gift-of-the-magi.txt");
    for (body, field) in [
        (json!({ "text": 5 }), "text"),
        (json!({ "text": text, "text_model": "local/nothing" }), "text_model"),
        (json!({ "text": text, "text_model": "local/placeholder" }), "text_model"),
        (json!({ "text": text, "image_model": "local/planner" }), "image_model"),
        (json!({ "text": text, "quality": 9 }), "quality"),
        (json!({ "text": text, "last_phase": 8 }), "last_phase"),
        (json!({ "text": text, "feedback_mode": { "timeout_seconds": 0 } }), "feedback_mode.timeout_seconds"),
        (json!({ "text": text, "options": [] }), "options"),
    ] {
        let answer = assert_error(post(&app, "/api/v1/pipelines", body.clone()).await, 422, "validation_error").await;
        assert_eq!(answer["details"]["field"], field, "{body} → {answer}");
    }
    assert_error(post(&app, "/api/v1/pipelines", json!({ "text": text, "pipeline": "opera" })).await, 404, "not_found")
        .await;
    assert_error(app.get("/api/v1/pipelines/run_nope").await, 404, "not_found").await;
    let runs = get(&app, "/api/v1/pipelines").await;
    assert_eq!(runs["runs"], json!([]), "nothing was started");
}

#[tokio::test]
async fn without_feedback_a_run_goes_straight_through_and_the_seed_route_answers() {
    let app = app(false, |_| {}).await.unwrap();
    let created = json(
        post(&app, "/api/v1/manga", json!({ "request_id": "req-1", "text": story("gift-of-the-magi.txt"), "ai_auto_settings": true, "feedback_mode": { "enabled": false } })).await,
        202,
    )
    .await;
    assert_eq!(created["request_id"], "req-1");
    let id = created["run_id"].as_str().unwrap().to_owned();
    wait_for(&app, &id, "completed", 7).await;
    let seed = get(&app, "/api/v1/manga/req-1").await;
    let phases: Vec<u64> =
        seed["phase_results"].as_array().unwrap().iter().map(|result| result["phase"].as_u64().unwrap()).collect();
    assert_eq!(phases, [1, 2, 3, 4, 5, 6, 7]);
    // The book, through a signed link that needs no API key.
    let url = seed["manga_result"]["final_manga_url"].as_str().expect("the book's link");
    let book = Client::new().get(app.url(url)).send().await.unwrap();
    assert_eq!(book.status(), 200);
    assert_eq!(book.headers()["content-type"], "application/pdf");
    assert!(book.bytes().await.unwrap().starts_with(b"%PDF-"));
    assert_eq!(seed["manga_result"]["story_structure"]["concept"]["reading_direction"], "ltr");
    assert_eq!(seed["manga_result"]["characters"][0]["name"], "Della");
    assert!(seed["processing_time"].as_f64().unwrap() > 0.0);
    let tree = get(&app, &format!("/api/v1/pipelines/{id}/versions")).await;
    assert!(tree["versions"].as_array().unwrap().iter().all(|version| version["kind"] == "phase"));
    assert_error(app.get("/api/v1/manga/req-2").await, 404, "not_found").await;
}

/// A wait for feedback holds the run's clock: a run whose wait outlasts its time
/// limit is still there to go on.
#[tokio::test]
async fn a_wait_for_feedback_does_not_count_against_the_deadline() {
    let app = app(false, |_| {}).await.unwrap();
    let created = json(
        post(&app, "/api/v1/pipelines", json!({ "text": story("rashomon.txt"), "deadline_seconds": 1, "feedback_mode": { "timeout_seconds": 600 } })).await,
        202,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    wait_for(&app, &id, "waiting_input", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = get(&app, &format!("/api/v1/pipelines/{id}")).await;
    assert_eq!(still["status"], "waiting_input", "{still}");
    json(
        feedback(
            &app,
            &id,
            json!({ "change_type": "text_edit", "element_id": "concept.title", "change_data": { "new_value": "x" } }),
        )
        .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn a_spent_quota_parks_the_run_until_it_renews() {
    let app = app(false, |config| {
        config.providers.limits.insert(
            "local/planner".into(),
            atelier_providers::config::LimitsConfig { max_in_flight: 0, daily_tasks: 2 },
        );
    })
    .await
    .unwrap();
    let created = json(
        post(
            &app,
            "/api/v1/pipelines",
            json!({ "text": story("rashomon.txt"), "feedback_mode": { "enabled": false } }),
        )
        .await,
        202,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let parked = wait_for(&app, &id, "parked", 3).await;
    assert!(parked["note"].as_str().unwrap().contains("quota"), "{parked}");
    assert!(parked["resumes_at"].is_string());
    assert_eq!(version_count(&app, &id).await, 2, "phases 1 and 2 are kept");
}

/// A client that is not the run's owner sees nothing of it.
#[tokio::test]
async fn another_users_run_does_not_exist() {
    let app = app(false, |_| {}).await.unwrap();
    let created =
        json(post(&app, "/api/v1/pipelines", json!({ "text": story("gift-of-the-magi.txt") })).await, 202).await;
    let id = created["id"].as_str().unwrap();
    let (bob, _): (Client, String) = app.user("bob@example.com", atelier_core::account::Role::Member).await;
    let response = bob.get(app.url(&format!("/api/v1/pipelines/{id}"))).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
    let response = bob.post(app.url(&format!("/api/v1/pipelines/{id}/cancel"))).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
}

/// The run's WebSocket: the seed's events out, feedback and controls in, answered
/// on the same socket; a plain GET is told to upgrade.
#[tokio::test]
async fn the_websocket_carries_events_out_and_feedback_in() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

    let app = app(false, |_| {}).await.unwrap();
    let created = json(
        post(
            &app,
            "/api/v1/pipelines",
            json!({ "text": story("rashomon.txt"), "feedback_mode": { "timeout_seconds": 600 } }),
        )
        .await,
        202,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let plain = app.get(&format!("/api/v1/pipelines/{id}/ws")).await;
    assert_error(plain, 426, "websocket_required").await;

    let mut request =
        app.url(&format!("/api/v1/pipelines/{id}/ws")).replace("http://", "ws://").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {}", app.admin_key).parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("the socket opens");
    let (mut sink, mut stream) = socket.split();
    let mut next = async || -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), stream.next())
                .await
                .expect("a message in time")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    };
    let first = next().await;
    assert_eq!(first["type"], "snapshot");
    // Wait for the first phase's result and its wait.
    let mut seen = Vec::new();
    let waiting = loop {
        let event = next().await;
        seen.push(event["type"].as_str().unwrap_or_default().to_owned());
        if event["type"] == "waiting_input" {
            break event;
        }
    };
    assert!(seen.contains(&"phase_complete".to_owned()), "{seen:?}");
    assert!(waiting["deadline"].is_string() && waiting["timestamp"].is_string(), "{waiting}");

    let feedback = json!({ "type": "feedback", "id": 7, "change": { "change_type": "text_edit", "element_id": "concept.tone", "change_data": { "new_value": "暗い" } } });
    sink.send(Message::Text(feedback.to_string().into())).await.unwrap();
    let mut acked = None;
    let mut changed = None;
    while acked.is_none() || changed.is_none() {
        let message = next().await;
        match message["type"].as_str() {
            Some("ack") => acked = Some(message),
            Some("preview_change") => changed = Some(message),
            _ => {}
        }
    }
    let (acked, changed) = (acked.unwrap(), changed.unwrap());
    assert_eq!(acked["id"], 7);
    assert_eq!(acked["version"]["document"]["concept"]["tone"], "暗い");
    assert_eq!(changed["element_id"], "concept.tone");

    sink.send(Message::Text(json!({ "type": "feedback", "id": 8, "change": { "change_type": "text_edit", "element_id": "nope.0", "change_data": { "new_value": 1 } } }).to_string().into())).await.unwrap();
    let refused = loop {
        let message = next().await;
        if message["type"] == "error" {
            break message;
        }
    };
    assert_eq!((refused["id"].clone(), refused["error"].clone()), (json!(8), json!("validation_error")));

    sink.send(Message::Text(json!({ "type": "continue" }).to_string().into())).await.unwrap();
    let complete = loop {
        let message = next().await;
        if message["type"] == "phase_complete" {
            break message;
        }
    };
    assert_eq!(complete["phase"], 2);
    assert!(complete["preview_url"].as_str().unwrap().ends_with("/preview"));
}

/// Runs at once and per hour are limited per user: past them, 429 with Retry-After.
#[tokio::test]
async fn runs_at_once_are_limited_per_user() {
    let app = app(false, |config| config.pipelines.max_active_per_user = 1).await.unwrap();
    let body = json!({ "text": story("gift-of-the-magi.txt"), "feedback_mode": { "timeout_seconds": 600 } });
    let first = json(post(&app, "/api/v1/pipelines", body.clone()).await, 202).await;
    let refused = post(&app, "/api/v1/pipelines", body.clone()).await;
    assert!(refused.headers().get("retry-after").is_some(), "Retry-After on 429");
    assert_error(refused, 429, "rate_limit_exceeded").await;
    let id = first["id"].as_str().unwrap();
    json(post(&app, &format!("/api/v1/pipelines/{id}/cancel"), json!({})).await, 200).await;
    json(post(&app, "/api/v1/pipelines", body).await, 202).await;
}
