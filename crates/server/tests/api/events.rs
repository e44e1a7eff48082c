//! Server-Sent Events: a snapshot on connect, then every change, then the end.

use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Reads a whole event stream into (event name, data) pairs.
async fn read_events(app: &TestApp, id: &str) -> Vec<(String, Value)> {
    let response = app.get(&format!("/api/v1/tasks/{id}/events")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), read).await.expect("the stream ends when the task ends");
    text.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?.to_owned();
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name, serde_json::from_str(data).expect("data is JSON")))
        })
        .collect()
}

#[tokio::test]
async fn a_snapshot_then_changes_until_the_end() {
    let app = TestApp::spawn().await;
    let id = app.create_placeholder("streamed", json!({ "num_images": 3, "width": 512, "height": 512 })).await;
    let events = read_events(&app, &id).await;
    assert_eq!(events[0].0, "snapshot");
    assert_eq!(events[0].1["task_id"], id.as_str());
    let last = events.last().unwrap();
    assert_eq!(last.1["status"], "completed", "{events:?}");
    assert_eq!(last.1["images"].as_array().unwrap().len(), 3);
    // Versions only grow.
    let versions: Vec<i64> = events.iter().map(|(_, task)| task["version"].as_i64().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
}

#[tokio::test]
async fn an_ended_task_gives_one_snapshot() {
    let app = TestApp::spawn().await;
    let id = app.create_placeholder("done", json!({ "width": 64, "height": 64 })).await;
    app.wait_for_end(&id).await;
    let events = read_events(&app, &id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["status"], "completed");
}
