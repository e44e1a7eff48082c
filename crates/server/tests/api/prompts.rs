//! Prompt trees (seed 003) over HTTP: roots and branches, tasks made from a prompt,
//! the tree with each node's tasks and thumbnails, feedback and its bounds, other
//! users kept out, and deletes that never orphan a child.

use atelier_core::account::Role;
use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, keys};

async fn send(client: &Client, app: &TestApp, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn create_prompt(client: &Client, app: &TestApp, body: Value) -> Value {
    let response = send(client, app, "POST", "/api/v1/prompts", Some(body)).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn create_task(client: &Client, app: &TestApp, prompt_id: &str, text: &str) -> String {
    let body = json!({
        "model": "local/placeholder",
        "input": { "prompt": text, "width": 96, "height": 64 },
        "prompt_id": prompt_id,
    });
    let response = send(client, app, "POST", "/api/v1/tasks", Some(body)).await;
    assert_eq!(response.status(), 202);
    let task: Value = response.json().await.unwrap();
    assert_eq!(task["prompt_id"], prompt_id);
    task["task_id"].as_str().unwrap().to_owned()
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn ids(values: &Value) -> Vec<String> {
    values.as_array().unwrap().iter().map(id).collect()
}

#[tokio::test]
async fn prompt_trees_branch_link_tasks_take_feedback_and_delete_leaves_only() {
    let app = TestApp::spawn().await;
    let (ada, _) = app.user("ada@example.com", Role::Member).await;
    let (bob, _) = app.user("bob@example.com", Role::Member).await;

    // A root, trimmed, an image prompt by default.
    let root = create_prompt(&ada, &app, json!({ "content": "  a red fox  " })).await;
    assert_eq!(
        keys(&root),
        [
            "ai_comment",
            "children",
            "content",
            "created_at",
            "depth",
            "feedback_comment",
            "feedback_score",
            "id",
            "parent_id",
            "root_id",
            "type",
            "updated_at"
        ]
    );
    let root_id = id(&root);
    assert!(root_id.starts_with("prm_"), "{root}");
    assert_eq!(root["type"], "image");
    assert_eq!(root["content"], "a red fox");
    assert_eq!(root["parent_id"], Value::Null);
    assert_eq!(root["root_id"], root_id.as_str());
    assert_eq!(root["depth"], 0);
    assert_eq!(root["feedback_score"], Value::Null);
    assert_eq!(root["children"], json!([]));

    // Branches: an edit is a child.
    let dusk = create_prompt(&ada, &app, json!({ "content": "a red fox at dusk", "parent_id": root_id })).await;
    let dusk_id = id(&dusk);
    assert_eq!(
        (dusk["parent_id"].as_str(), dusk["root_id"].as_str(), &dusk["depth"]),
        (Some(root_id.as_str()), Some(root_id.as_str()), &json!(1))
    );
    let snow =
        create_prompt(&ada, &app, json!({ "type": "video", "content": "a red fox in snow", "parent_id": root_id }))
            .await;
    let snow_id = id(&snow);
    assert_eq!(snow["type"], "video");
    let leaf =
        create_prompt(&ada, &app, json!({ "content": "a red fox at dusk, watercolour", "parent_id": dusk_id })).await;
    let leaf_id = id(&leaf);
    assert_eq!((leaf["root_id"].as_str(), &leaf["depth"]), (Some(root_id.as_str()), &json!(2)));

    let read: Value = send(&ada, &app, "GET", &format!("/api/v1/prompts/{root_id}"), None).await.json().await.unwrap();
    assert_eq!(read["children"], json!([dusk_id, snow_id]));
    assert_eq!(read["content"], "a red fox");
    let listed: Value = send(&ada, &app, "GET", "/api/v1/prompts", None).await.json().await.unwrap();
    assert_eq!(ids(&listed["prompts"]), vec![root_id.clone()], "roots only: {listed}");

    // Tasks made from prompts; the placeholder engine finishes them quickly.
    let first = create_task(&ada, &app, &dusk_id, "fox at dusk 1").await;
    let second = create_task(&ada, &app, &dusk_id, "fox at dusk 2").await;
    let on_root = create_task(&ada, &app, &root_id, "fox").await;
    for task in [&first, &second, &on_root] {
        assert_eq!(app.wait_for_end(task).await["status"], "completed");
    }
    let plain = app.create_placeholder("no prompt", json!({})).await;
    let plain_task: Value = app.get(&format!("/api/v1/tasks/{plain}")).await.json().await.unwrap();
    assert!(plain_task.get("prompt_id").is_none(), "absent when unset: {plain_task}");
    let by_prompt: Value =
        send(&ada, &app, "GET", &format!("/api/v1/tasks?prompt_id={dusk_id}"), None).await.json().await.unwrap();
    let listed: Vec<&str> =
        by_prompt["tasks"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![second.as_str(), first.as_str()]);
    assert_error(send(&ada, &app, "GET", "/api/v1/tasks?prompt_id=nope", None).await, 422, "validation_error").await;

    // The tree, from any of its nodes: nested from the root, each node with its tasks.
    let tree: Value =
        send(&ada, &app, "GET", &format!("/api/v1/prompts/{leaf_id}/tree"), None).await.json().await.unwrap();
    assert_eq!(tree["id"], root_id.as_str());
    assert_eq!(ids(&tree["children"]), vec![dusk_id.clone(), snow_id.clone()]);
    assert_eq!(ids(&tree["children"][0]["children"]), vec![leaf_id.clone()]);
    assert_eq!(tree["children"][0]["children"][0]["children"], json!([]));
    assert_eq!(tree["children"][0]["content"], "a red fox at dusk");
    let dusk_tasks = tree["children"][0]["tasks"].as_array().unwrap();
    let dusk_task_ids: Vec<&str> = dusk_tasks.iter().map(|t| t["task_id"].as_str().unwrap()).collect();
    assert_eq!(dusk_task_ids, vec![second.as_str(), first.as_str()], "newest first");
    for task in dusk_tasks {
        assert_eq!(task["status"], "completed");
        assert_eq!(task["progress"], 100);
        assert_eq!(task["prompt_id"], dusk_id.as_str());
        let thumbnail = task["images"][0]["thumbnail_url"].as_str().unwrap();
        let response = send(&ada, &app, "GET", thumbnail, None).await;
        assert_eq!(response.status(), 200, "{thumbnail}");
    }
    assert_eq!(tree["tasks"][0]["task_id"], on_root.as_str());
    assert_eq!(tree["children"][1]["tasks"], json!([]));
    let same: Value =
        send(&ada, &app, "GET", &format!("/api/v1/prompts/{snow_id}/tree"), None).await.json().await.unwrap();
    assert_eq!(same["id"], root_id.as_str());

    // Retrying a task keeps its prompt.
    let retried = send(&ada, &app, "POST", &format!("/api/v1/tasks/{first}/retry"), Some(json!({}))).await;
    assert_eq!(retried.status(), 202);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["prompt_id"], dusk_id.as_str());
    app.wait_for_end(retried["task_id"].as_str().unwrap()).await;

    // Feedback: set, clear one field (the others stay), bounds.
    let path = format!("/api/v1/prompts/{dusk_id}");
    let body = json!({ "feedback_score": 5, "feedback_comment": "warmer light", "ai_comment": "try golden hour" });
    let rated = send(&ada, &app, "PATCH", &path, Some(body)).await;
    assert_eq!(rated.status(), 200);
    let rated: Value = rated.json().await.unwrap();
    assert_eq!((&rated["feedback_score"], &rated["feedback_comment"]), (&json!(5), &json!("warmer light")));
    assert_eq!(rated["ai_comment"], "try golden hour");
    assert_eq!(rated["children"], json!([leaf_id]));
    assert_eq!(rated["content"], "a red fox at dusk", "content never changes");
    let cleared: Value =
        send(&ada, &app, "PATCH", &path, Some(json!({ "feedback_comment": null }))).await.json().await.unwrap();
    assert_eq!(cleared["feedback_comment"], Value::Null);
    assert_eq!((&cleared["feedback_score"], &cleared["ai_comment"]), (&json!(5), &json!("try golden hour")));
    for score in [0, 6] {
        let response = send(&ada, &app, "PATCH", &path, Some(json!({ "feedback_score": score }))).await;
        let body = assert_error(response, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], "feedback_score", "{body}");
    }
    for bad in [
        json!({ "feedback_score": -1 }),
        json!({ "feedback_score": 3.5 }),
        json!({ "feedback_score": "5" }),
        json!({ "content": "rewritten" }),
        json!({ "ai_comment": "x".repeat(4001) }),
        json!({ "feedback_comment": "x".repeat(4001) }),
    ] {
        assert_error(send(&ada, &app, "PATCH", &path, Some(bad.clone())).await, 422, "validation_error").await;
    }
    let unchanged: Value = send(&ada, &app, "GET", &path, None).await.json().await.unwrap();
    assert_eq!(unchanged["feedback_score"], 5);
    assert_eq!(unchanged["content"], "a red fox at dusk");

    // Bad prompts.
    for bad in [
        json!({ "content": "   " }),
        json!({ "content": "" }),
        json!({}),
        json!({ "content": "x", "type": "smell" }),
        json!({ "content": "x", "parent_id": "nope" }),
        json!({ "content": "x", "colour": "red" }),
        json!({ "content": "x".repeat(32_001) }),
    ] {
        assert_error(send(&ada, &app, "POST", "/api/v1/prompts", Some(bad.clone())).await, 422, "validation_error")
            .await;
    }
    let ghost = "prm_0190a1b2c3d4e5f60718293a4b5c6d7e";
    let orphan = send(&ada, &app, "POST", "/api/v1/prompts", Some(json!({ "content": "x", "parent_id": ghost }))).await;
    assert_error(orphan, 404, "not_found").await;
    assert_error(send(&ada, &app, "GET", "/api/v1/prompts/nope", None).await, 404, "not_found").await;
    assert_error(send(&ada, &app, "GET", &format!("/api/v1/prompts/{ghost}/tree"), None).await, 404, "not_found").await;

    // Another user: every prompt route is "not found", and the id is no use in a task.
    for prompt in [&root_id, &dusk_id, &leaf_id] {
        for (method, path, body) in [
            ("GET", format!("/api/v1/prompts/{prompt}"), None),
            ("GET", format!("/api/v1/prompts/{prompt}/tree"), None),
            ("PATCH", format!("/api/v1/prompts/{prompt}"), Some(json!({ "feedback_score": 1 }))),
            ("DELETE", format!("/api/v1/prompts/{prompt}"), None),
            ("POST", "/api/v1/prompts".to_owned(), Some(json!({ "content": "mine now", "parent_id": prompt }))),
        ] {
            assert_error(send(&bob, &app, method, &path, body).await, 404, "not_found").await;
        }
        let body = json!({ "model": "local/placeholder", "input": { "prompt": "x" }, "prompt_id": prompt });
        let response = send(&bob, &app, "POST", "/api/v1/tasks", Some(body)).await;
        let error = assert_error(response, 422, "validation_error").await;
        assert_eq!(error["details"]["field"], "prompt_id", "{error}");
    }
    let body = json!({ "model": "local/placeholder", "input": { "prompt": "x" }, "prompt_id": "prm_nope" });
    let error =
        assert_error(send(&bob, &app, "POST", "/api/v1/tasks", Some(body)).await, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "prompt_id", "{error}");
    let bobs: Value = send(&bob, &app, "GET", "/api/v1/prompts", None).await.json().await.unwrap();
    assert_eq!(bobs["prompts"], json!([]));
    let bobs_tasks: Value =
        send(&bob, &app, "GET", &format!("/api/v1/tasks?prompt_id={dusk_id}"), None).await.json().await.unwrap();
    assert_eq!(bobs_tasks["tasks"], json!([]));
    // Nothing of bob's reached ada's tree, and ada's feedback stands.
    let tree_after: Value =
        send(&ada, &app, "GET", &format!("/api/v1/prompts/{root_id}/tree"), None).await.json().await.unwrap();
    assert_eq!(ids(&tree_after["children"]), vec![dusk_id.clone(), snow_id.clone()]);
    assert_eq!(tree_after["children"][0]["feedback_score"], 5);
    // An admin sees everyone's roots.
    let all: Value = app.get("/api/v1/prompts").await.json().await.unwrap();
    assert!(ids(&all["prompts"]).contains(&root_id));

    // A viewer reads but does not write.
    let created = send(&ada, &app, "POST", "/api/v1/keys", Some(json!({ "name": "ro", "role": "viewer" }))).await;
    let created: Value = created.json().await.unwrap();
    let viewer = crate::helpers::client_with_key(created["key"].as_str());
    assert_eq!(send(&viewer, &app, "GET", &format!("/api/v1/prompts/{root_id}/tree"), None).await.status(), 200);
    assert_error(
        send(&viewer, &app, "POST", "/api/v1/prompts", Some(json!({ "content": "x" }))).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(send(&viewer, &app, "PATCH", &path, Some(json!({ "feedback_score": 1 }))).await, 403, "forbidden")
        .await;
    assert_error(send(&viewer, &app, "DELETE", &format!("/api/v1/prompts/{leaf_id}"), None).await, 403, "forbidden")
        .await;

    // Deletes: only a prompt without children; its tasks stay, unlinked.
    let tree_path = format!("/api/v1/prompts/{root_id}/tree");
    let before_refusals: Value = send(&ada, &app, "GET", &tree_path, None).await.json().await.unwrap();
    let refused = assert_error(
        send(&ada, &app, "DELETE", &format!("/api/v1/prompts/{root_id}"), None).await,
        409,
        "prompt_has_children",
    )
    .await;
    assert!(refused["message"].as_str().unwrap().contains(&root_id), "names the prompt: {refused}");
    assert_error(send(&ada, &app, "DELETE", &path, None).await, 409, "prompt_has_children").await;
    // A refused delete changes nothing: every node, link and task of the tree stands.
    let after_refusals: Value = send(&ada, &app, "GET", &tree_path, None).await.json().await.unwrap();
    assert_eq!(after_refusals, before_refusals);
    assert_eq!(send(&ada, &app, "DELETE", &format!("/api/v1/prompts/{leaf_id}"), None).await.status(), 204);
    assert_error(send(&ada, &app, "DELETE", &format!("/api/v1/prompts/{leaf_id}"), None).await, 404, "not_found").await;
    assert_eq!(send(&ada, &app, "DELETE", &path, None).await.status(), 204);
    assert_error(send(&ada, &app, "GET", &path, None).await, 404, "not_found").await;
    let kept: Value = send(&ada, &app, "GET", &format!("/api/v1/tasks/{first}"), None).await.json().await.unwrap();
    assert_eq!(kept["status"], "completed", "{kept}");
    assert!(kept.get("prompt_id").is_none(), "unlinked: {kept}");
    assert_eq!(kept["images"].as_array().unwrap().len(), 1);
    let after: Value =
        send(&ada, &app, "GET", &format!("/api/v1/prompts/{root_id}/tree"), None).await.json().await.unwrap();
    assert_eq!(ids(&after["children"]), vec![snow_id.clone()]);
    assert_eq!(after["tasks"][0]["task_id"], on_root.as_str());
    let root_now: Value =
        send(&ada, &app, "GET", &format!("/api/v1/prompts/{root_id}"), None).await.json().await.unwrap();
    assert_eq!(root_now["children"], json!([snow_id]));
}

#[tokio::test]
async fn roots_page_newest_first() {
    let app = TestApp::spawn().await;
    let mut made = Vec::new();
    for n in 0..5 {
        made.push(id(&create_prompt(&app.http, &app, json!({ "content": format!("root {n}") })).await));
    }
    create_prompt(&app.http, &app, json!({ "content": "a branch", "parent_id": made[0] })).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/prompts?limit=2".to_owned();
    loop {
        let page: Value = app.get(&path).await.json().await.unwrap();
        seen.extend(ids(&page["prompts"]));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/prompts?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(seen, made);
    for bad in ["limit=0", "limit=501", "cursor=nope", "colour=red"] {
        assert_error(app.get(&format!("/api/v1/prompts?{bad}")).await, 422, "validation_error").await;
    }
}
