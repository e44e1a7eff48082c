//! Traces over OTLP: with `telemetry.otlp_endpoint` set, a task is one trace from
//! the HTTP request that created it, through the worker's run (which continues the
//! trace context stored with the task, in whatever process runs it), to the
//! provider call. Without an endpoint nothing is sent.
//!
//! The collector is the test's own: an HTTP server on loopback that decodes
//! `POST /v1/traces` (OTLP protobuf) with the protocol's generated types.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atelier_testkit::TestDatabase;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use nix::sys::signal::Signal;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message as _;
use serde_json::{Value, json};

use crate::harness::{Process, Server, atelier, http, serve, temp_dir, wait_completed};

/// A span as the collector got it.
#[derive(Debug, Clone)]
struct Exported {
    /// The resource's attributes (`service.name`, `atelier.role`).
    resource: BTreeMap<String, String>,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    name: String,
    attributes: BTreeMap<String, String>,
}

#[derive(Default)]
struct Collector {
    requests: AtomicUsize,
    spans: Mutex<Vec<Exported>>,
}

fn strings(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for attribute in attributes {
        let value = match attribute.value.as_ref().and_then(|value| value.value.as_ref()) {
            Some(any_value::Value::StringValue(text)) => text.clone(),
            Some(any_value::Value::IntValue(number)) => number.to_string(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        found.insert(attribute.key.clone(), value);
    }
    found
}

/// Starts the collector; returns it and its base URL.
async fn collector() -> (Arc<Collector>, String) {
    let collector = Arc::new(Collector::default());
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(|State(collector): State<Arc<Collector>>, body: Bytes| async move {
                collector.requests.fetch_add(1, Ordering::SeqCst);
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return (StatusCode::BAD_REQUEST, Vec::new());
                };
                let mut spans = collector.spans.lock().unwrap();
                for resource_spans in request.resource_spans {
                    let resource =
                        strings(&resource_spans.resource.map(|resource| resource.attributes).unwrap_or_default());
                    for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                        spans.push(Exported {
                            resource: resource.clone(),
                            trace_id: span.trace_id,
                            span_id: span.span_id,
                            parent_span_id: span.parent_span_id,
                            name: span.name,
                            attributes: strings(&span.attributes),
                        });
                    }
                }
                // An empty ExportTraceServiceResponse: everything accepted.
                (StatusCode::OK, Vec::new())
            }),
        )
        .with_state(collector.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (collector, format!("http://{address}"))
}

/// The environment that turns the export on, sending every 100 ms.
fn exporting(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ATELIER__TELEMETRY__OTLP_ENDPOINT", endpoint.to_owned()),
        ("ATELIER__TELEMETRY__SERVICE_NAME", "atelier-under-test".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]
}

async fn create_task(server: &Server) -> String {
    let client = http(&server.key);
    let task = client
        .post(format!("{}/api/v1/tasks", server.base))
        .json(&json!({ "model": "local/placeholder", "input": { "prompt": "a traced lighthouse" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(task.status(), 202);
    task.json::<Value>().await.unwrap()["task_id"].as_str().unwrap().to_owned()
}

/// The task's spans, once the collector has all three: the request that created it,
/// its run, and the provider's submit under the run.
async fn wait_for_task_trace(
    collector: &Collector,
    task_id: &str,
    processes: &[&Process],
) -> (Exported, Exported, Exported) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = collector.spans.lock().unwrap().clone();
        let run = spans.iter().find(|span| span.name == "task.run" && span.attributes["task.id"] == task_id);
        if let Some(run) = run {
            let request = spans.iter().find(|span| span.span_id == run.parent_span_id);
            let submit = spans.iter().find(|span| span.name == "provider.submit" && span.parent_span_id == run.span_id);
            if let (Some(request), Some(submit)) = (request, submit) {
                return (request.clone(), run.clone(), submit.clone());
            }
        }
        if Instant::now() > deadline {
            let tails: String = processes.iter().map(|process| process.tail()).collect();
            let names: Vec<(&str, &BTreeMap<String, String>)> =
                spans.iter().map(|span| (span.name.as_str(), &span.attributes)).collect();
            panic!("the task's trace did not arrive whole within 30 s; spans: {names:#?}\n{tails}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_one_trace(request: &Exported, run: &Exported, submit: &Exported) {
    assert_eq!(request.name, "request");
    assert_eq!(request.attributes["method"], "POST");
    assert_eq!(request.attributes["path"], "/api/v1/tasks");
    assert_eq!(request.trace_id.len(), 16);
    assert_eq!(run.trace_id, request.trace_id, "the run continues the request's trace");
    assert_eq!(submit.trace_id, request.trace_id);
    assert_eq!(submit.attributes["service"], "local");
    assert_eq!(submit.attributes["model"], "placeholder");
    for span in [request, run, submit] {
        assert_eq!(span.resource["service.name"], "atelier-under-test", "{span:?}");
    }
}

async fn stop(process: &mut Process) {
    process.signal(Signal::SIGTERM);
    let Some(status) = process.wait_exit(Duration::from_secs(20)).await else {
        panic!("{} did not exit within 20 s of SIGTERM\n{}", process.name, process.tail());
    };
    assert!(status.success(), "{} exited with {status}\n{}", process.name, process.tail());
}

#[tokio::test]
async fn a_task_is_one_trace_from_the_request_to_the_provider_call() {
    let (collector, endpoint) = collector().await;
    let dir = temp_dir();
    let env = exporting(&endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let mut server = serve("serve (traces)", &dir.path().join("data"), None, &env);
    let task_id = create_task(&server).await;
    let client = http(&server.key);
    wait_completed(&mut server, &client, 1, Duration::from_secs(30)).await;
    let (request, run, submit) = wait_for_task_trace(&collector, &task_id, &[&server.process]).await;
    assert_one_trace(&request, &run, &submit);
    assert_eq!(run.resource["atelier.role"], "serve");
    stop(&mut server.process).await;
}

/// Spans not sent yet when the server stops are sent as it exits: with a batch
/// delay of ten minutes, only the exit can have sent them.
#[tokio::test]
async fn spans_left_at_exit_are_sent() {
    let (collector, endpoint) = collector().await;
    let dir = temp_dir();
    let mut env = exporting(&endpoint);
    env.retain(|(name, _)| *name != "OTEL_BSP_SCHEDULE_DELAY");
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let mut server = serve("serve (traces at exit)", &dir.path().join("data"), None, &env);
    let task_id = create_task(&server).await;
    let client = http(&server.key);
    wait_completed(&mut server, &client, 1, Duration::from_secs(30)).await;
    assert_eq!(collector.requests.load(Ordering::SeqCst), 0, "sent before the exit");
    stop(&mut server.process).await;
    let (request, run, submit) = wait_for_task_trace(&collector, &task_id, &[&server.process]).await;
    assert_one_trace(&request, &run, &submit);
}

/// `serve` takes the request and `atelier worker`, another process on the same
/// PostgreSQL database, runs the task: still one trace, through the stored context.
#[tokio::test]
async fn the_trace_crosses_to_a_worker_process_postgres() {
    let Some(database) = TestDatabase::postgres().await else { return };
    let (collector, endpoint) = collector().await;
    let dir = temp_dir();
    let data = dir.path().join("data");
    let env = exporting(&endpoint);
    let mut serve_env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    serve_env.push(("ATELIER__WORKER__ENABLED", "false"));
    let mut server = serve("serve (traces, no workers)", &data, Some(&database.url), &serve_env);
    let mut command = atelier(["worker", "--database-url", &database.url, "--data-dir"]);
    command.arg(&data).envs(env.iter().map(|(name, value)| (*name, value.as_str())));
    command.env("ATELIER__WORKER__IDLE_POLL_MS", "100");
    let mut worker = Process::spawn("worker (traces)", command);
    let task_id = create_task(&server).await;
    let client = http(&server.key);
    wait_completed(&mut server, &client, 1, Duration::from_secs(30)).await;
    let (request, run, submit) = wait_for_task_trace(&collector, &task_id, &[&server.process, &worker]).await;
    assert_one_trace(&request, &run, &submit);
    assert_eq!(request.resource["atelier.role"], "serve");
    assert_eq!(run.resource["atelier.role"], "worker", "the run is the worker process's span");
    stop(&mut worker).await;
    stop(&mut server.process).await;
}

/// No endpoint, no export: not even to the address OpenTelemetry's own variables
/// name, which an exporter would read.
#[tokio::test]
async fn without_an_endpoint_nothing_is_sent() {
    let (collector, endpoint) = collector().await;
    let dir = temp_dir();
    let traces = format!("{endpoint}/v1/traces");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let mut server = serve("serve (no traces)", &dir.path().join("data"), None, &env);
    create_task(&server).await;
    let client = http(&server.key);
    wait_completed(&mut server, &client, 1, Duration::from_secs(30)).await;
    // Five batch delays, then the exit, which would send what is left.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(&mut server.process).await;
    assert_eq!(collector.requests.load(Ordering::SeqCst), 0, "something was exported");
}
