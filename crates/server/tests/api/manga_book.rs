//! The manga pipeline's drawing phases over HTTP (seed 001, phases 5 to 7), offline
//! with the built-in engines: panels drawn, one drawn again and an earlier image
//! picked back, a panel cropped; pages lettered, a balloon moved, reworded and
//! resized; the book bound and checked by independent readers (qpdf, pdffonts,
//! pdftoppm, a zip reader and an XML parser); signed links refused once changed or
//! expired. And an image model that always fails: simplified prompts, then
//! placeholders, and the run still finishes.

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};

use super::pipelines::{app, get, json, post, story, wait_for};
use crate::helpers::{TestApp, assert_error, tools_present};

async fn document(app: &TestApp, run: &Value) -> Value {
    let (id, head) = (run["id"].as_str().unwrap(), run["head_version_id"].as_str().unwrap());
    get(app, &format!("/api/v1/pipelines/{id}/versions/{head}")).await["document"].clone()
}

/// A change the server takes: the new run and version.
async fn feedback(app: &TestApp, run: &str, change: Value) -> Value {
    json(super::pipelines::feedback(app, run, change).await, 200).await
}

/// A PNG's text chunks.
fn png_text(bytes: &[u8]) -> Vec<(String, String)> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().expect("a PNG");
    let info = reader.info();
    let mut chunks: Vec<(String, String)> =
        info.uncompressed_latin1_text.iter().map(|chunk| (chunk.keyword.clone(), chunk.text.clone())).collect();
    chunks.extend(info.utf8_text.iter().map(|chunk| (chunk.keyword.clone(), chunk.get_text().unwrap_or_default())));
    chunks.extend(
        info.compressed_latin1_text.iter().map(|chunk| (chunk.keyword.clone(), chunk.get_text().unwrap_or_default())),
    );
    chunks
}

fn panel_ids(document: &Value) -> Vec<String> {
    document["pages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|page| {
            page["panels"].as_array().unwrap().iter().map(|panel| panel["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn a_story_becomes_a_lettered_book(postgres: bool) {
    let Some(app) = app(postgres, |_| {}).await else { return };
    let created = json(
        post(
            &app,
            "/api/v1/pipelines",
            json!({ "text": story("rashomon.txt"), "feedback_mode": { "enabled": true, "timeout_seconds": 600 } }),
        )
        .await,
        202,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    for phase in 1..=4 {
        wait_for(&app, &id, "waiting_input", phase).await;
        json(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 200).await;
    }

    // Phase 5: an image for every panel of the name.
    let run = wait_for(&app, &id, "waiting_input", 5).await;
    let drawn = document(&app, &run).await;
    let panels = drawn["art"]["panels"].as_array().unwrap().clone();
    assert_eq!(panels.iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>(), panel_ids(&drawn));
    for panel in &panels {
        assert!(panel["asset_id"].as_str().unwrap().starts_with("img_"), "{panel}");
        match panel["source"].as_str().unwrap() {
            "generated" => assert!(panel["prompt"].as_str().unwrap().contains("manga panel"), "{panel}"),
            "reused" => assert!(panel["reused"]["score"].as_f64().unwrap() >= 0.85, "{panel}"),
            other => panic!("panel {} came from {other}", panel["id"]),
        }
    }
    // The prompt carries the characters' fixed descriptions.
    let appearance = drawn["characters"][0]["appearance"].as_str().unwrap().to_owned();
    assert!(panels.iter().any(|panel| panel["prompt"].as_str().unwrap_or_default().contains(&appearance)));

    // Drawn again with a new seed: only that panel; its old image becomes a variant.
    let first = panels[0]["id"].as_str().unwrap().to_owned();
    let again = feedback(&app, &id, json!({ "change_type": "regenerate", "element_id": format!("art.panels.{first}"), "change_data": { "seed": 42 } })).await;
    assert_eq!(again["run"]["status"], "running");
    let run = wait_for(&app, &id, "waiting_input", 5).await;
    let redrawn = document(&app, &run).await;
    let after = redrawn["art"]["panels"].as_array().unwrap();
    assert_ne!(after[0]["task_id"], panels[0]["task_id"], "drawn by a new task");
    assert_eq!(after[0]["variants"][0]["asset_id"], panels[0]["asset_id"]);
    for (before, now) in panels.iter().zip(after).skip(1) {
        assert_eq!(before["task_id"], now["task_id"], "the other panels are not drawn again");
    }
    let picked = feedback(&app, &id, json!({ "change_type": "selection", "element_id": format!("art.panels.{first}"), "change_data": { "variant": 0 } })).await;
    assert_eq!(picked["version"]["document"]["art"]["panels"][0]["asset_id"], panels[0]["asset_id"]);
    feedback(&app, &id, json!({ "change_type": "drag_drop", "element_id": format!("art.panels.{first}"), "change_data": { "crop": { "x": 0.1, "y": 0.1, "w": 0.8, "h": 0.8 } } })).await;

    // Phase 6: lettered pages, vertical Japanese, balloons inside their panels.
    json(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 200).await;
    let run = wait_for(&app, &id, "waiting_input", 6).await;
    let lettered = document(&app, &run).await;
    let pages = lettered["lettering"]["pages"].as_array().unwrap().clone();
    assert_eq!(pages.len(), lettered["pages"].as_array().unwrap().len());
    let balloons: Vec<&Value> = pages.iter().flat_map(|page| page["balloons"].as_array().unwrap()).collect();
    assert!(!balloons.is_empty());
    assert!(balloons.iter().all(|balloon| balloon["vertical"] == true && balloon["fitted_font_size"].is_number()));
    let page_image = pages[0]["image"]["asset_id"].as_str().unwrap();
    let png = app.get(&format!("/api/v1/assets/{page_image}")).await.bytes().await.unwrap();
    let chunks = png_text(&png);
    assert!(chunks.contains(&("atelier:run".to_owned(), id.clone())), "{chunks:?}");
    // A balloon moved, reworded and enlarged; its kind changed.
    let (page_index, balloon_index) = pages
        .iter()
        .enumerate()
        .find_map(|(p, page)| (!page["balloons"].as_array().unwrap().is_empty()).then_some((p, 0)))
        .unwrap();
    let path = format!("lettering.pages.{page_index}.balloons.{balloon_index}");
    let frame = &pages[page_index]["balloons"][balloon_index]["frame"];
    let moved_x = (frame["x"].as_f64().unwrap() - 0.01).max(0.0);
    let moved = json!({ "x": moved_x, "y": frame["y"], "w": frame["w"], "h": frame["h"] });
    feedback(&app, &id, json!({ "change_type": "drag_drop", "element_id": path, "change_data": { "frame": moved } }))
        .await;
    feedback(&app, &id, json!({ "change_type": "text_edit", "element_id": format!("{path}.text"), "change_data": { "new_value": "ええい、ままよ" } })).await;
    feedback(&app, &id, json!({ "change_type": "text_edit", "element_id": format!("{path}.kind"), "change_data": { "new_value": "shout" } })).await;
    let styled = feedback(&app, &id, json!({ "change_type": "style_adjust", "element_id": path, "change_data": { "font_size": 0.03, "bold": true } })).await;
    let balloon = &styled["version"]["document"]["lettering"]["pages"][page_index]["balloons"][balloon_index];
    assert_eq!(
        (balloon["text"].as_str(), balloon["kind"].as_str(), balloon["frame"]["x"].as_f64()),
        (Some("ええい、ままよ"), Some("shout"), Some(moved_x))
    );
    let bad = post(&app, &format!("/api/v1/pipelines/{id}/feedback"), json!({ "change_type": "text_edit", "element_id": format!("{path}.kind"), "change_data": { "new_value": "song" } })).await;
    assert_error(bad, 422, "validation_error").await;

    // Phase 7: the book, and a report that names each problem's element.
    json(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 200).await;
    let run = wait_for(&app, &id, "completed", 7).await;
    let finished = document(&app, &run).await;
    let kept = &finished["lettering"]["pages"][page_index]["balloons"][balloon_index];
    assert_eq!(kept["text"], "ええい、ままよ", "the book keeps the person's lettering");
    for problem in finished["report"]["problems"].as_array().unwrap() {
        let element = problem["element_id"].as_str().unwrap();
        assert!(
            element.starts_with("lettering.pages.") || element.starts_with("art.panels.") || element == "style",
            "{problem}"
        );
    }
    let seed = get(&app, &format!("/api/v1/manga/{id}")).await;
    let book = seed["manga_result"]["book"].clone();
    assert_eq!(book["right_to_left"], true);
    assert_eq!(book["pages"].as_array().unwrap().len(), pages.len());
    let anonymous = Client::new();
    let pdf = anonymous.get(app.url(book["pdf"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(pdf.status(), 200, "a signed link needs no key");
    let pdf = pdf.bytes().await.unwrap();
    let cbz = anonymous.get(app.url(book["cbz"].as_str().unwrap())).send().await.unwrap().bytes().await.unwrap();
    let page_png =
        anonymous.get(app.url(book["pages"][0].as_str().unwrap())).send().await.unwrap().bytes().await.unwrap();
    let chunks = png_text(&page_png);
    assert!(chunks.contains(&("atelier:run".to_owned(), id.clone())), "{chunks:?}");
    assert!(chunks.iter().any(|(key, value)| key == "atelier:version" && value.starts_with("ver_")), "{chunks:?}");

    // The CBZ: pages in order and a ComicInfo.xml a reader understands.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(cbz.to_vec())).expect("a zip");
    let names: Vec<String> = archive.file_names().map(|name| name.unwrap().into_owned()).collect();
    assert!(names.contains(&"ComicInfo.xml".to_owned()) && names.contains(&"001.png".to_owned()), "{names:?}");
    let mut info = String::new();
    archive.by_name("ComicInfo.xml").unwrap().read_to_string(&mut info).unwrap();
    let xml = roxmltree::Document::parse(&info).expect("well-formed XML");
    let field = |name: &str| {
        xml.descendants().find(|node| node.has_tag_name(name)).and_then(|node| node.text()).map(str::to_owned)
    };
    assert_eq!(field("Manga").as_deref(), Some("YesAndRightToLeft"));
    assert_eq!(field("PageCount"), Some(pages.len().to_string()));
    assert_eq!(xml.descendants().filter(|node| node.has_tag_name("Page")).count(), pages.len());

    // The PDF, read by qpdf and poppler.
    if tools_present(&["qpdf", "pdffonts", "pdftoppm"]) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("book.pdf");
        std::fs::write(&file, &pdf).unwrap();
        let check = Command::new("qpdf").arg("--check").arg(&file).output().unwrap();
        assert!(check.status.success(), "qpdf: {}", String::from_utf8_lossy(&check.stdout));
        let fonts = String::from_utf8(Command::new("pdffonts").arg(&file).output().unwrap().stdout).unwrap();
        let rows: Vec<&str> = fonts.lines().skip(2).collect();
        assert!(!rows.is_empty(), "fonts are used: {fonts}");
        assert!(
            rows.iter().all(|row| row.split_whitespace().rev().nth(4) == Some("yes")),
            "every font embedded: {fonts}"
        );
        let rendered = Command::new("pdftoppm")
            .args(["-png", "-r", "20", "-f", "1", "-l", "1"])
            .arg(&file)
            .arg(dir.path().join("page"))
            .output()
            .unwrap();
        assert!(rendered.status.success());
        let page = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .find(|entry| entry.file_name().to_string_lossy().ends_with(".png"));
        assert!(page.is_some(), "pdftoppm drew page 1");
        let raw = String::from_utf8_lossy(&pdf);
        assert!(raw.contains("/R2L") || qdf_has_r2l(&file), "right to left declared");
    }

    // Signed links: a changed one, and an expired one, are refused.
    let link = book["pdf"].as_str().unwrap();
    let tampered = link.replace("expires=", "expires=1");
    assert_error(anonymous.get(app.url(&tampered)).send().await.unwrap(), 403, "bad_signature").await;
    let pdf_id = finished["book"]["pdf"].as_str().unwrap();
    let short = json(post(&app, &format!("/api/v1/assets/{pdf_id}/share"), json!({ "ttl_secs": 1 })).await, 200).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_error(anonymous.get(app.url(short["url"].as_str().unwrap())).send().await.unwrap(), 403, "link_expired")
        .await;
}

/// Whether qpdf's uncompressed view of the file declares right-to-left reading.
fn qdf_has_r2l(file: &std::path::Path) -> bool {
    let out = Command::new("qpdf").args(["--qdf", "--object-streams=disable"]).arg(file).arg("-").output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains("/R2L")
}

#[tokio::test]
async fn a_story_becomes_a_lettered_book_on_sqlite() {
    a_story_becomes_a_lettered_book(false).await;
}

#[tokio::test]
async fn a_story_becomes_a_lettered_book_on_postgres() {
    a_story_becomes_a_lettered_book(true).await;
}

/// An image model that always fails (the OpenAI emulator refusing every image):
/// character sheets and panels fall back, a panel to a simplified prompt and then
/// to a labelled placeholder; the book is still bound, and the report lists every
/// fallback panel.
#[tokio::test]
async fn a_failing_image_model_falls_back_to_simpler_prompts_then_placeholders() {
    let emulator = atelier_testkit::emulators::Emulator::openai(
        atelier_emulators::openai::Flavour::OpenAi,
        &["images.generations:always:generation_failed", "images.edits:always:generation_failed"],
    )
    .await;
    let pointed = emulator.clone();
    let Some(app) =
        app(false, move |config| pointed.point_openai(config, atelier_emulators::openai::Flavour::OpenAi)).await
    else {
        return;
    };
    let created = json(
        post(&app, "/api/v1/pipelines", json!({ "text": story("gift-of-the-magi.txt"), "image_model": "openai/gpt-image-1", "feedback_mode": { "enabled": false } })).await,
        202,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let run = wait_for(&app, &id, "completed", 7).await;
    let finished = document(&app, &run).await;
    assert_eq!(finished["characters"][0]["sheets"][0]["model"], "local/placeholder", "the sheet fell back");
    let panels = finished["art"]["panels"].as_array().unwrap();
    for panel in panels {
        assert_eq!(panel["source"], "placeholder", "{panel}");
        let reasons = panel["fallback"]["reasons"].as_array().unwrap();
        assert_eq!(reasons.len(), 2, "the model, then the simplified prompt: {panel}");
        assert!(reasons[0].as_str().unwrap().starts_with("content_filtered"), "{panel}");
    }
    let fallbacks = finished["report"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|problem| problem["kind"] == "fallback_panel")
        .count();
    assert_eq!(fallbacks, panels.len());
    assert!(finished["book"]["pdf"].as_str().unwrap().starts_with("img_"));
}

/// The scene cache with the real embedding model (all-MiniLM-L6-v2, installed by
/// `scripts/install-models`): the same story drawn again by the same user reuses
/// every panel (each reuse recorded with its score, at or above the threshold, and
/// the model that measured it) and pays for no new image; a story unlike it reuses
/// none of its images; and another user's run never sees them.
#[tokio::test]
async fn alike_scenes_reuse_images_and_unlike_ones_do_not() {
    let Some(dir) = atelier_providers::local::embed::default_minilm_dir()
        .filter(|dir| dir.join("model.safetensors").exists())
        .or_else(|| {
            assert!(
                std::env::var("ATELIER_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "all-MiniLM-L6-v2 is not installed (scripts/install-models)"
            );
            None
        })
    else {
        eprintln!("skipped: all-MiniLM-L6-v2 is not installed (scripts/install-models)");
        return;
    };
    let app = app(false, move |config| config.pipelines.embedding_model_dir = Some(dir)).await.unwrap();
    let start = |text: String| {
        let app = &app;
        async move {
            let body = json!({ "text": text, "last_phase": 5, "feedback_mode": { "enabled": false } });
            let created = json(post(app, "/api/v1/pipelines", body).await, 202).await;
            let id = created["id"].as_str().unwrap().to_owned();
            let run = wait_for(app, &id, "completed", 5).await;
            document(app, &run).await["art"]["panels"].as_array().unwrap().clone()
        }
    };
    let first = start(story("gift-of-the-magi.txt")).await;
    let drawn: Vec<String> = first.iter().map(|panel| panel["task_id"].as_str().unwrap().to_owned()).collect();
    let paid = panel_tasks(&app).await;
    let again = start(story("gift-of-the-magi.txt")).await;
    assert_eq!(panel_tasks(&app).await, paid, "no panel drawn again");
    for panel in &again {
        assert_eq!(panel["source"], "reused", "{panel}");
        assert!(panel["reused"]["score"].as_f64().unwrap() >= 0.85, "{panel}");
        assert_eq!(panel["reused"]["method"], "all-MiniLM-L6-v2");
        assert!(drawn.contains(&panel["task_id"].as_str().unwrap().to_owned()), "an image of the first run: {panel}");
    }
    let unlike = start(story("rashomon.txt")).await;
    for panel in &unlike {
        assert!(
            !drawn.contains(&panel["task_id"].as_str().unwrap().to_owned()),
            "a scene unlike any of the first run's: {panel}"
        );
    }
    // Another user's run of the same story draws its own.
    let (bob, _) = app.user("bob@example.com", atelier_core::account::Role::Member).await;
    let body = json!({ "text": story("gift-of-the-magi.txt"), "last_phase": 5, "feedback_mode": { "enabled": false } });
    let created: Value = bob.post(app.url("/api/v1/pipelines")).json(&body).send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let run = loop {
        let run: Value =
            bob.get(app.url(&format!("/api/v1/pipelines/{id}"))).send().await.unwrap().json().await.unwrap();
        if run["status"] == "completed" {
            break run;
        }
        assert!(std::time::Instant::now() < deadline && run["status"] != "failed", "{run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let head = run["head_version_id"].as_str().unwrap();
    let version: Value = bob
        .get(app.url(&format!("/api/v1/pipelines/{id}/versions/{head}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for panel in version["document"]["art"]["panels"].as_array().unwrap() {
        assert!(!drawn.contains(&panel["task_id"].as_str().unwrap().to_owned()), "another user's image: {panel}");
    }
}

/// How many panel images the placeholder engine has drawn.
async fn panel_tasks(app: &TestApp) -> usize {
    let page = get(app, "/api/v1/tasks?model=local/placeholder&limit=200").await;
    page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|task| task["input"]["prompt"].as_str().unwrap_or_default().contains("manga panel"))
        .count()
}

/// Lifecycles (seed 001 1.7), with the clock moved on: a day after a run ended its
/// abandoned checkpoints go (the final branch stays readable), a week after its
/// temporary files (the final panels, sheets and book stay), three months after its
/// book; a run at work is never touched.
#[tokio::test]
async fn an_ended_runs_data_goes_in_its_time_and_a_running_run_keeps_all_on_sqlite() {
    an_ended_runs_data_goes_in_its_time(false).await;
}

#[tokio::test]
async fn an_ended_runs_data_goes_in_its_time_and_a_running_run_keeps_all_on_postgres() {
    an_ended_runs_data_goes_in_its_time(true).await;
}

async fn an_ended_runs_data_goes_in_its_time(postgres: bool) {
    use atelier_core::pipeline::retention::Retention;
    let Some(app) = app(postgres, |_| {}).await else { return };
    let body =
        json!({ "text": story("gift-of-the-magi.txt"), "feedback_mode": { "enabled": true, "timeout_seconds": 600 } });
    let created = json(post(&app, "/api/v1/pipelines", body).await, 202).await;
    let id = created["id"].as_str().unwrap().to_owned();
    // An abandoned branch: phase 1 redone from a change, the first result left behind.
    let run = wait_for(&app, &id, "waiting_input", 1).await;
    let first = run["head_version_id"].as_str().unwrap().to_owned();
    feedback(&app, &id, json!({ "change_type": "text_edit", "element_id": "concept.title", "change_data": { "new_value": "The Gift" } })).await;
    json(post(&app, &format!("/api/v1/pipelines/{id}/branch"), json!({ "version_id": first })).await, 200).await;
    let retention = Retention::default();
    let engine = app.pipelines.engine().clone();
    let days = |n: i64| atelier_core::time::now_millis() + n * 24 * 3600 * 1000;
    // At work (waiting): nothing goes, however late.
    assert_eq!(engine.retain(&retention, days(365), 10).await.unwrap().runs, 0);
    for phase in 1..=6 {
        if phase > 1 {
            wait_for(&app, &id, "waiting_input", phase).await;
        }
        json(post(&app, &format!("/api/v1/pipelines/{id}/continue"), json!({})).await, 200).await;
    }
    let run = wait_for(&app, &id, "completed", 7).await;
    let finished = document(&app, &run).await;
    let versions =
        || async { get(&app, &format!("/api/v1/pipelines/{id}/versions")).await["versions"].as_array().unwrap().len() };
    let before = versions().await;
    let tasks = || async { get(&app, "/api/v1/tasks?limit=200").await["tasks"].as_array().unwrap().len() };
    let tasks_before = tasks().await;

    // An hour on: nothing yet.
    assert_eq!(engine.retain(&retention, atelier_core::time::now_millis() + 3_600_000, 10).await.unwrap().runs, 0);
    // A day on: the abandoned version goes; the final branch stays.
    let done = engine.retain(&retention, days(1) + 60_000, 10).await.unwrap();
    assert_eq!((done.runs, done.tasks_deleted), (1, 0));
    assert_eq!(versions().await, before - 1, "the change left behind by the branch");
    assert_eq!(get(&app, &format!("/api/v1/pipelines/{id}/versions/{first}")).await["id"], first.as_str());
    // A week on: drafts and answers go; the panels, sheets and book stay.
    let done = engine.retain(&retention, days(7) + 60_000, 10).await.unwrap();
    assert!(done.tasks_deleted > 0, "{done:?}");
    assert_eq!(tasks().await, tasks_before - done.tasks_deleted);
    for panel in finished["art"]["panels"].as_array().unwrap() {
        assert_eq!(app.get(&format!("/api/v1/assets/{}", panel["asset_id"].as_str().unwrap())).await.status(), 200);
    }
    let pdf = finished["book"]["pdf"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/assets/{pdf}")).await.status(), 200);
    assert_eq!(engine.retain(&retention, days(8), 10).await.unwrap().runs, 0, "each stage once");
    // Three months on: the book goes.
    let done = engine.retain(&retention, days(90) + 60_000, 10).await.unwrap();
    assert_eq!((done.runs, done.tasks_deleted), (1, 1));
    assert_eq!(app.get(&format!("/api/v1/assets/{pdf}")).await.status(), 404);
}
