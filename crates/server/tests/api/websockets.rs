//! The WebSocket routes: seed 004's `/generate/stream` (each image, then the task),
//! `/ws` (a snapshot then updates for tasks and runs), and what keeps sockets
//! honest: a slow reader dropped, a vanished client noticed, pings answered, idle
//! sockets closed, refusals before the upgrade.

use std::time::Duration;

use atelier_core::account::Role;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{Options, TestApp, assert_error};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn app_with(workers: bool, configure: impl FnOnce(&mut atelier::config::Config) + Send + 'static) -> TestApp {
    TestApp::with(Options {
        workers,
        configure: Some(Box::new(move |config, _| configure(config))),
        ..Options::default()
    })
    .await
    .unwrap()
}

fn request(app: &TestApp, path: &str, key: Option<&str>) -> tungstenite::handshake::client::Request {
    let mut request = app.url(path).replace("http://", "ws://").into_client_request().unwrap();
    if let Some(key) = key {
        request.headers_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    request
}

async fn connect(app: &TestApp, path: &str, key: &str) -> Socket {
    let (socket, response) =
        tokio_tungstenite::connect_async(request(app, path, Some(key))).await.expect("the socket opens");
    assert_eq!(response.status(), 101);
    socket
}

/// A socket over a connection with a small receive buffer, so that a client that
/// does not read fills it soon.
async fn connect_small(app: &TestApp, path: &str, key: &str) -> WebSocketStream<TcpStream> {
    let address: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(address).await.unwrap();
    let (socket, _) = tokio_tungstenite::client_async(request(app, path, Some(key)), stream).await.unwrap();
    socket
}

async fn send(socket: &mut Socket, body: Value) {
    socket.send(Message::Text(body.to_string().into())).await.unwrap();
}

/// The next message: JSON text, or the close frame's code and reason as
/// `{"close": code, "reason"}` (`{"close": null}` when the connection ended without one).
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a message in time");
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).unwrap(),
            Some(Ok(Message::Close(Some(frame)))) => {
                return json!({ "close": u16::from(frame.code), "reason": frame.reason.as_str() });
            }
            Some(Ok(Message::Close(None)) | Err(_)) | None => return json!({ "close": null }),
            Some(Ok(_)) => {}
        }
    }
}

/// Messages until one of `kind` (returned last).
async fn until(socket: &mut Socket, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let message = next(socket).await;
        assert!(message.get("close").is_none(), "closed before {kind}: {seen:?} {message}");
        let done = message["type"] == kind;
        seen.push(message);
        if done {
            return seen;
        }
    }
}

/// A member and its key, with its user id (for the socket counts).
async fn member(app: &TestApp, email: &str) -> (reqwest::Client, String, String) {
    let user = app.accounts.user_for_cli(email, Role::Member).await.unwrap();
    let key = app.accounts.create_key_offline(&user, "test", Role::Member).await.unwrap();
    (crate::helpers::client_with_key(Some(&key.secret)), key.secret, user.id.to_string())
}

/// Waits until the user's socket counts satisfy `test`.
async fn counts_until(
    user: &str,
    within: Duration,
    test: impl Fn(&atelier::api::socket::SocketCounts) -> bool,
) -> atelier::api::socket::SocketCounts {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let counts = atelier::api::socket::counts(user);
        if test(&counts) {
            return counts;
        }
        assert!(tokio::time::Instant::now() < deadline, "socket counts still {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Seed 004's stream: accepted, progress, each image as its own message, then the
/// task as `GET /task/{id}` shows it, then a normal close.
#[tokio::test]
async fn generate_stream_sends_each_image_then_the_task() {
    let app = TestApp::spawn().await;
    let mut socket = connect(&app, "/api/v1/generate/stream", &app.admin_key).await;
    let body =
        json!({ "prompt": "a lighthouse", "model": "local/placeholder", "width": 64, "height": 64, "num_images": 3 });
    send(&mut socket, body).await;
    let messages = until(&mut socket, "completed").await;
    let accepted = &messages[0];
    assert_eq!(accepted["type"], "accepted", "{messages:?}");
    assert_eq!(accepted["status"], "pending");
    assert!(accepted["estimated_time"].is_u64() && accepted["created_at"].is_string(), "{accepted}");
    let task_id = accepted["task_id"].as_str().unwrap().to_owned();
    assert!(messages.iter().any(|m| m["type"] == "progress" && m["status"] == "processing"), "{messages:?}");
    let images: Vec<&Value> = messages.iter().filter(|m| m["type"] == "image").collect();
    let completed = messages.last().unwrap();
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["task_id"], task_id.as_str());
    // The images are the task's, as GET /task/{id} lists them, each sent once, before the end.
    let task: Value = app.get(&format!("/api/v1/task/{task_id}")).await.json().await.unwrap();
    let mut listed: Vec<&str> =
        task["images"].as_array().unwrap().iter().map(|i| i["image_id"].as_str().unwrap()).collect();
    let mut streamed: Vec<&str> = images.iter().map(|i| i["image_id"].as_str().unwrap()).collect();
    listed.sort_unstable();
    streamed.sort_unstable();
    assert_eq!(streamed.len(), 3, "{messages:?}");
    assert_eq!(streamed, listed);
    for image in &images {
        assert_eq!(image["task_id"], task_id.as_str());
        assert_eq!(image["url"], format!("/api/v1/images/{}", image["image_id"].as_str().unwrap()));
        assert_eq!((image["width"].as_u64(), image["height"].as_u64()), (Some(64), Some(64)));
    }
    assert_eq!(completed["images"], task["images"]);
    let close = next(&mut socket).await;
    assert_eq!(close["close"], 1000, "{close}");
}

/// A request `POST /generate` refuses is refused here the same way, then closed.
#[tokio::test]
async fn a_bad_generate_request_is_an_error_then_a_close() {
    let app = TestApp::spawn().await;
    let mut socket = connect(&app, "/api/v1/generate/stream", &app.admin_key).await;
    send(&mut socket, json!({ "prompt": "x", "width": 4096 })).await;
    let error = next(&mut socket).await;
    assert_eq!((error["type"].clone(), error["error"].clone()), (json!("error"), json!("validation_error")), "{error}");
    assert_eq!(error["details"]["field"], "width");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    // The same answer as the REST route's.
    let rest = assert_error(
        app.post("/api/v1/generate", &json!({ "prompt": "x", "width": 4096 })).await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(rest["details"], error["details"]);
    let close = next(&mut socket).await;
    assert_eq!(close["close"], 1008, "{close}");

    let mut socket = connect(&app, "/api/v1/generate/stream", &app.admin_key).await;
    socket.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(next(&mut socket).await["error"], "malformed_json");
    assert_eq!(next(&mut socket).await["close"], 1008);
}

/// Closing the socket leaves the task running; `{"type":"cancel"}` cancels it.
#[tokio::test]
async fn leaving_keeps_the_task_and_cancel_cancels_it() {
    let app = app_with(false, |_| {}).await;
    let mut socket = connect(&app, "/api/v1/generate/stream", &app.admin_key).await;
    send(&mut socket, json!({ "prompt": "kept" })).await;
    let accepted = until(&mut socket, "accepted").await.pop().unwrap();
    socket.close(None).await.unwrap();
    drop(socket);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let kept: Value =
        app.get(&format!("/api/v1/task/{}", accepted["task_id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(kept["status"], "pending");

    let mut socket = connect(&app, "/api/v1/generate/stream", &app.admin_key).await;
    send(&mut socket, json!({ "prompt": "cancelled" })).await;
    let accepted = until(&mut socket, "accepted").await.pop().unwrap();
    send(&mut socket, json!({ "type": "cancel" })).await;
    let ended = until(&mut socket, "cancelled").await.pop().unwrap();
    assert_eq!((ended["task_id"].clone(), ended["status"].clone()), (accepted["task_id"].clone(), json!("cancelled")));
    assert_eq!(next(&mut socket).await["close"], 1000);
}

/// No key: 401 before any upgrade. A plain request: 426.
#[tokio::test]
async fn unauthenticated_upgrades_are_refused_before_the_upgrade() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/ws", "/api/v1/generate/stream"] {
        match tokio_tungstenite::connect_async(request(&app, path, None)).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401, "{path}"),
            other => panic!("{path}: not refused: {:?}", other.map(|(_, response)| response.status())),
        }
        match tokio_tungstenite::connect_async(request(&app, path, Some("atl_not_a_key"))).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401, "{path}"),
            other => panic!("{path}: a bad key is not refused: {:?}", other.map(|(_, response)| response.status())),
        }
        assert_error(app.get(path).await, 426, "websocket_required").await;
    }
}

/// A browser's session opens a socket only from this server's own pages.
#[tokio::test]
async fn a_session_socket_opens_only_from_this_servers_pages() {
    let app = TestApp::spawn().await;
    let password = "correct horse battery staple";
    let created =
        app.post("/api/v1/users", &json!({ "email": "web@example.com", "password": password, "role": "member" })).await;
    assert_eq!(created.status(), 201);
    let signed_in = crate::helpers::client_with_key(None)
        .post(app.url("/api/v1/sessions"))
        .json(&json!({ "email": "web@example.com", "password": password }))
        .send()
        .await
        .unwrap();
    assert!(signed_in.status().is_success(), "{}", signed_in.status());
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    for path in ["/api/v1/ws", "/api/v1/generate/stream"] {
        let with_origin = |origin: &str| {
            let mut request = request(&app, path, None);
            request.headers_mut().insert("cookie", cookie.parse().unwrap());
            request.headers_mut().insert("origin", origin.parse().unwrap());
            request
        };
        match tokio_tungstenite::connect_async(with_origin("https://elsewhere.example")).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403, "{path}"),
            other => {
                panic!("{path}: another site's page opened it: {:?}", other.map(|(_, response)| response.status()))
            }
        }
        let (_, response) =
            tokio_tungstenite::connect_async(with_origin(&app.base)).await.expect("our own page opens it");
        assert_eq!(response.status(), 101);
    }
}

/// A subscribed task: its snapshot, then an update on each change.
#[tokio::test]
async fn ws_sends_a_snapshot_then_updates() {
    let app = app_with(false, |_| {}).await;
    let id = app.create_placeholder("followed", json!({})).await;
    let mut socket = connect(&app, "/api/v1/ws", &app.admin_key).await;
    send(&mut socket, json!({ "type": "subscribe", "id": 1, "tasks": [id] })).await;
    let ack = next(&mut socket).await;
    assert_eq!((ack["type"].clone(), ack["id"].clone(), ack["tasks"].clone()), (json!("ack"), json!(1), json!([id])));
    let snapshot = next(&mut socket).await;
    assert_eq!((snapshot["type"].clone(), snapshot["task"]["status"].clone()), (json!("snapshot"), json!("pending")));
    assert_eq!(snapshot["task"]["task_id"], id.as_str());
    let response = app.http.post(app.url(&format!("/api/v1/tasks/{id}/cancel"))).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let update = next(&mut socket).await;
    assert_eq!((update["type"].clone(), update["task"]["status"].clone()), (json!("update"), json!("cancelled")));
    assert!(update["task"]["version"].as_i64() > snapshot["task"]["version"].as_i64());
    // The same view the task's own route answers.
    let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
    assert_eq!(update["task"]["version"], task["version"]);
}

/// With workers: every change of a task followed with `all_tasks` arrives, the last
/// one the completed task.
#[tokio::test]
async fn ws_all_tasks_follows_new_tasks_to_their_end() {
    let app = TestApp::spawn().await;
    let mut socket = connect(&app, "/api/v1/ws", &app.admin_key).await;
    send(&mut socket, json!({ "type": "subscribe", "all_tasks": true })).await;
    assert_eq!(next(&mut socket).await["all_tasks"], true);
    let id = app.create_placeholder("new", json!({ "num_images": 2 })).await;
    let mut statuses = Vec::new();
    loop {
        let message = next(&mut socket).await;
        assert_eq!(message["task"]["task_id"], id.as_str(), "{message}");
        statuses.push(message["task"]["status"].as_str().unwrap().to_owned());
        if message["task"]["status"] == "completed" {
            assert_eq!(message["task"]["images"].as_array().unwrap().len(), 2);
            break;
        }
    }
    assert!(statuses.len() >= 2, "{statuses:?}");
}

/// A run's events come through `/ws` as through the run's own socket.
#[tokio::test]
async fn ws_carries_a_runs_events() {
    let app = crate::pipelines::app(false, |_| {}).await.unwrap();
    let body = json!({ "text": crate::pipelines::story("rashomon.txt"), "feedback_mode": { "timeout_seconds": 600 } });
    let created = crate::pipelines::json(crate::pipelines::post(&app, "/api/v1/pipelines", body).await, 202).await;
    let run = created["id"].as_str().unwrap().to_owned();
    let mut socket = connect(&app, "/api/v1/ws", &app.admin_key).await;
    send(&mut socket, json!({ "type": "subscribe", "id": "r", "runs": [run] })).await;
    assert_eq!(next(&mut socket).await["runs"], json!([run]));
    let snapshot = next(&mut socket).await;
    assert_eq!((snapshot["type"].clone(), snapshot["run"]["id"].clone()), (json!("snapshot"), json!(run)));
    let events = until(&mut socket, "waiting_input").await;
    assert!(events.iter().all(|event| event["run_id"] == run.as_str()), "{events:?}");
    assert!(events.iter().any(|event| event["type"] == "phase_complete"), "{events:?}");
}

/// Another user's task, an unknown one and a malformed id are named in an error;
/// the socket stays open and follows what is the caller's.
#[tokio::test]
async fn ws_refuses_another_users_task_by_name() {
    let app = app_with(false, |_| {}).await;
    let admins = app.create_placeholder("not bob's", json!({})).await;
    let (bob, bob_key, _) = member(&app, "bob@example.com").await;
    let created: Value = bob
        .post(app.url("/api/v1/tasks"))
        .json(&json!({ "model": "local/placeholder", "input": { "prompt": "bob's" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let own = created["task_id"].as_str().unwrap();
    let mut socket = connect(&app, "/api/v1/ws", &bob_key).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": 5, "tasks": [admins, unknown, "nonsense", own], "runs": ["run_nope"] }),
    )
    .await;
    let ack = next(&mut socket).await;
    assert_eq!((ack["type"].clone(), ack["tasks"].clone()), (json!("ack"), json!([own])));
    let error = next(&mut socket).await;
    assert_eq!(
        (error["type"].clone(), error["error"].clone(), error["id"].clone()),
        (json!("error"), json!("not_found"), json!(5))
    );
    assert_eq!(error["details"]["tasks"], json!([admins, unknown, "nonsense"]));
    assert_eq!(error["details"]["runs"], json!(["run_nope"]));
    let snapshot = next(&mut socket).await;
    assert_eq!(snapshot["task"]["task_id"], own);
    send(&mut socket, json!({ "type": "wave" })).await;
    assert_eq!(next(&mut socket).await["error"], "validation_error");
}

/// A client that never reads while many messages are due is dropped once its queue
/// stays full; nothing waits for it past the queue's bound.
#[tokio::test]
async fn a_slow_client_is_dropped() {
    let app = app_with(false, |config| {
        config.websocket.queue = 4;
        config.websocket.slow_timeout_ms = 300;
    })
    .await;
    let (client, key, user) = member(&app, "slow@example.com").await;
    let long = "x".repeat(3990);
    let creates = (0..60).map(|index| {
        let body = json!({ "model": "local/placeholder", "input": { "prompt": format!("{index}{long}"), "negative_prompt": long } });
        client.post(app.url("/api/v1/tasks")).json(&body).send()
    });
    let mut ids = Vec::new();
    for response in futures::future::join_all(creates).await {
        let response = response.unwrap();
        assert_eq!(response.status(), 202);
        ids.push(response.json::<Value>().await.unwrap()["task_id"].clone());
    }
    let mut socket = connect_small(&app, "/api/v1/ws", &key).await;
    // Each subscription sends every task's snapshot (8 kB) again: 1,200 of them, about
    // 10 MB, more than the connection's buffers hold. The client reads none.
    let subscribe = json!({ "type": "subscribe", "tasks": ids }).to_string();
    for _ in 0..20 {
        socket.send(Message::Text(subscribe.clone().into())).await.unwrap();
    }
    counts_until(&user, Duration::from_secs(4), |counts| counts.slow == 1).await;
    // Let go within the close frame's grace.
    counts_until(&user, Duration::from_secs(3), |counts| counts.open == 0).await;
    // What reached the client then ends: the connection is gone, with fewer messages
    // than were due.
    let mut received = 0;
    let read = async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(_) = message {
                received += 1;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(4), read).await.expect("the server dropped the connection");
    assert!(received < 20 * 61, "{received} messages: nothing was dropped");
}

/// A client gone without a close (it answers nothing, its connection still up) is
/// closed once a ping goes unanswered.
#[tokio::test]
async fn a_vanished_client_is_closed_when_its_pong_does_not_come() {
    let app = app_with(false, |config| {
        config.websocket.ping_interval_ms = 100;
        config.websocket.pong_timeout_ms = 200;
    })
    .await;
    let (_, key, user) = member(&app, "gone@example.com").await;
    // Never read again: no pong is sent.
    let socket = connect(&app, "/api/v1/ws", &key).await;
    counts_until(&user, Duration::from_secs(2), |counts| counts.open == 1).await;
    let counts = counts_until(&user, Duration::from_secs(3), |counts| counts.open == 0).await;
    assert_eq!((counts.no_pong, counts.client_gone), (1, 0), "{counts:?}");
    drop(socket);
}

/// A connection dropped without a close frame is noticed at once.
#[tokio::test]
async fn a_dropped_connection_is_cleaned_up() {
    let app = app_with(false, |_| {}).await;
    let (_, key, user) = member(&app, "dropped@example.com").await;
    let mut socket = connect(&app, "/api/v1/generate/stream", &key).await;
    counts_until(&user, Duration::from_secs(2), |counts| counts.open == 1).await;
    // The TCP connection closes under the socket: no close frame.
    match socket.get_mut() {
        MaybeTlsStream::Plain(tcp) => tokio::io::AsyncWriteExt::shutdown(tcp).await.unwrap(),
        _ => unreachable!("plain TCP"),
    }
    drop(socket);
    let counts = counts_until(&user, Duration::from_secs(2), |counts| counts.open == 0).await;
    assert_eq!(counts.client_gone, 1, "{counts:?}");
}

/// The server answers the client's pings, and its own pings, answered, keep the
/// socket open past many pong timeouts.
#[tokio::test]
async fn pings_are_answered_both_ways() {
    let app = app_with(false, |config| {
        config.websocket.ping_interval_ms = 50;
        config.websocket.pong_timeout_ms = 100;
    })
    .await;
    let (_, key, user) = member(&app, "pinger@example.com").await;
    let mut socket = connect(&app, "/api/v1/ws", &key).await;
    socket.send(Message::Ping(bytes::Bytes::from_static(b"hello"))).await.unwrap();
    let (mut pong, mut pinged) = (false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
    // Reading answers the server's pings (tungstenite does).
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        match message {
            Message::Pong(payload) => pong |= payload.as_ref() == b"hello",
            Message::Ping(_) => pinged = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pong && pinged, "pong {pong}, pinged {pinged}");
    let counts = atelier::api::socket::counts(&user);
    assert_eq!((counts.open, counts.no_pong), (1, 0), "{counts:?}");
}

/// A socket that follows nothing and says nothing for the idle timeout is closed;
/// one that follows a task is not.
#[tokio::test]
async fn an_idle_socket_is_closed() {
    let app = app_with(false, |config| config.websocket.idle_timeout_ms = 300).await;
    let mut socket = connect(&app, "/api/v1/ws", &app.admin_key).await;
    let started = std::time::Instant::now();
    let close = next(&mut socket).await;
    assert_eq!(close["close"], 1000, "{close}");
    assert!(close["reason"].as_str().unwrap().starts_with("idle"), "{close}");
    assert!(started.elapsed() >= Duration::from_millis(250));

    let id = app.create_placeholder("waited for", json!({})).await;
    let mut socket = connect(&app, "/api/v1/ws", &app.admin_key).await;
    send(&mut socket, json!({ "type": "subscribe", "tasks": [id] })).await;
    assert_eq!(next(&mut socket).await["type"], "ack");
    assert_eq!(next(&mut socket).await["type"], "snapshot");
    let quiet = tokio::time::timeout(Duration::from_millis(900), socket.next()).await;
    assert!(quiet.is_err(), "a socket following a task is not idle: {quiet:?}");
    send(&mut socket, json!({ "type": "unsubscribe", "tasks": [id] })).await;
    assert_eq!(next(&mut socket).await["tasks"], json!([]));
    assert_eq!(next(&mut socket).await["close"], 1000);
}

/// Shutting down closes sockets with 1001.
#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let app = app_with(false, |_| {}).await;
    let mut socket = connect(&app, "/api/v1/ws", &app.admin_key).await;
    send(&mut socket, json!({ "type": "subscribe", "id": 1 })).await;
    assert_eq!(next(&mut socket).await["type"], "ack");
    drop(app);
    let close = next(&mut socket).await;
    assert_eq!(close["close"], 1001, "{close}");
}
