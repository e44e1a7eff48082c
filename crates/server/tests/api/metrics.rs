//! `/metrics` (issue 18): after real work (tasks of two services, one failing, a
//! webhook attempt, a pipeline phase, requests answered 200 and 404), the
//! exposition is read back by a parser of the text format of its own
//! (`prom_text_format_parser`, which refuses a line it cannot read) and, where
//! installed, linted by Prometheus's own `promtool check metrics`. Counts are
//! compared across two scrapes; labels carry route templates, never paths, keys or
//! addresses. Who may scrape: an admin, the configured token, anyone on a separate
//! address. The Grafana dashboard and the alert rules in `deploy/observability`
//! name only metrics a scrape has (and the rules pass promtool's checks and their
//! own unit tests).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use atelier_core::Secret;
use atelier_core::testing::Scripted;
use atelier_providers::config::LimitsConfig;
use prom_text_format_parser::{Metric, Type, ValueType, parse_scrape};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error, client_with_key, tools_present};

const TOKEN: &str = "scraper-token-0123456789";

/// One scrape, parsed.
struct Scrape {
    text: String,
    metrics: Vec<Metric>,
}

impl Scrape {
    fn parse(text: String) -> Self {
        let (metrics, error) = parse_scrape(&text);
        assert!(error.is_none(), "the exposition does not parse: {error:?}\n{text}");
        assert!(!metrics.is_empty(), "an empty exposition");
        Self { text, metrics }
    }

    fn family(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|metric| metric.name == name)
    }

    /// The sum of the samples of `name` of this type whose labels include `labels`
    /// (0 when there are none).
    fn sum_of(&self, name: &str, kind: ValueType, labels: &[(&str, &str)]) -> f64 {
        let Some(family) = self.family(name) else { return 0.0 };
        family
            .samples
            .iter()
            .filter(|sample| sample.value.value_type == kind)
            .filter(|sample| {
                labels.iter().all(|(key, value)| sample.labels.iter().any(|l| l.key == *key && l.value == *value))
            })
            .map(|sample| sample.value.value.as_f64())
            .sum()
    }

    /// A counter's or gauge's value (summed over the labels not named).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.sum_of(name, ValueType::Sample, labels)
    }

    /// A histogram's count of observations.
    fn observations(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.sum_of(name, ValueType::Count, labels)
    }

    /// A histogram's buckets for exactly these labels: `(le, cumulative count)`.
    fn buckets(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let family = self.family(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(family.kind, Type::Histogram, "{name}");
        family
            .samples
            .iter()
            .filter(|sample| sample.value.value_type == ValueType::Sample)
            .filter(|sample| {
                sample.labels.len() == labels.len() + 1
                    && labels
                        .iter()
                        .all(|(key, value)| sample.labels.iter().any(|l| l.key == *key && l.value == *value))
            })
            .map(|sample| {
                let le = sample.labels.iter().find(|l| l.key == "le").expect("a bucket has le");
                let bound = if le.value == "+Inf" { f64::INFINITY } else { le.value.parse().expect("le") };
                (bound, sample.value.value.as_f64())
            })
            .collect()
    }

    /// The names sample lines carry (a histogram's with `_bucket`, `_sum`, `_count`).
    fn names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for metric in &self.metrics {
            if metric.kind == Type::Histogram {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{}{suffix}", metric.name));
                }
            }
            names.insert(metric.name.clone());
        }
        names
    }

    /// Every label of every sample, as `(metric, key, value)`.
    fn labels(&self) -> Vec<(&str, &str, &str)> {
        self.metrics
            .iter()
            .flat_map(|metric| {
                metric.samples.iter().flat_map(move |sample| {
                    sample.labels.iter().map(move |l| (metric.name.as_str(), l.key.as_str(), l.value.as_str()))
                })
            })
            .collect()
    }
}

async fn scrape_with(client: &reqwest::Client, url: &str) -> Scrape {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    Scrape::parse(response.text().await.unwrap())
}

async fn scrape(app: &TestApp) -> Scrape {
    scrape_with(&app.http, &app.url("/metrics")).await
}

/// `deploy/observability/…`.
fn deploy_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/observability").join(name)
}

/// The metric names an expression (or any text) refers to: words starting
/// `atelier_` or `process_`, and recording rules' names (`level:metric:ops`).
fn referenced(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("atelier_") || word.starts_with("process_") || word.matches(':').count() == 2)
        .map(str::to_owned)
        .collect()
}

/// The dashboard's queries and the alert rules name only metrics this scrape has
/// (or rules the rules file records, or Prometheus's own `up`).
fn check_deploy_files(scrape: &Scrape) {
    let names = scrape.names();
    let rules = std::fs::read_to_string(deploy_file("alerts.yaml")).unwrap();
    let recorded: BTreeSet<String> = rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- record:").or_else(|| line.trim().strip_prefix("record:")))
        .map(|name| name.trim().to_owned())
        .collect();
    assert!(recorded.len() >= 3, "{recorded:?}");
    let alerts = rules.lines().filter(|line| line.trim().starts_with("- alert:")).count();
    assert!(alerts >= 8, "{alerts} alerts");
    for expected in [
        "up{job=~\"atelier.*\"} == 0",
        "status=~\"5..\"",
        "atelier_queue_length",
        "state=\"open\"",
        "atelier_webhook_attempts_total{outcome=~\"retrying|failed\"}",
    ] {
        assert!(rules.contains(expected), "the rules have no {expected}");
    }
    let unknown: Vec<String> =
        referenced(&rules).into_iter().filter(|name| !names.contains(name) && !recorded.contains(name)).collect();
    assert!(unknown.is_empty(), "alerts.yaml names metrics /metrics does not have: {unknown:?}");

    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy_file("grafana-dashboard.json")).unwrap())
            .expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "atelier-overview");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut queries = Vec::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64().expect("a panel id")), "panel ids are unique");
        assert!(panel["gridPos"]["w"].as_u64().is_some_and(|w| (1..=24).contains(&w)), "{panel}");
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("no targets: {}", panel["title"]));
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{}", panel["title"]);
            queries.push(target["expr"].as_str().expect("a query").to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().expect("variables") {
        if let Some(query) = variable["definition"].as_str() {
            queries.push(query.to_owned());
        }
    }
    assert!(queries.len() >= 30, "{} queries", queries.len());
    let mut unknown = BTreeSet::new();
    for query in &queries {
        unknown.extend(referenced(query).into_iter().filter(|name| !names.contains(name)));
    }
    assert!(unknown.is_empty(), "the dashboard queries metrics /metrics does not have: {unknown:?}");
    // Every meter the domain declares was recorded by the work above.
    let missing: Vec<&str> =
        atelier_core::meters::METERS.iter().map(|meter| meter.name).filter(|name| !names.contains(*name)).collect();
    assert!(missing.is_empty(), "declared but not in the scrape: {missing:?}");
}

/// `promtool check metrics`: Prometheus's own parser and its lint (help texts,
/// counter names, units).
fn promtool_lints_clean(scrape: &Scrape) {
    if !tools_present(&["promtool"]) {
        return;
    }
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(scrape.text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool check metrics: {said}");
}

async fn wait_until(app: &TestApp, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..200 {
        let scrape = scrape(app).await;
        if done(&scrape) {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not in the scrape within 10 s");
}

#[tokio::test]
async fn a_scrape_counts_requests_tasks_and_the_rest_by_bounded_labels() {
    let lab = Arc::new(Scripted::new("lab"));
    let app = TestApp::with(Options {
        providers: vec![lab],
        configure: Some(Box::new(|config, base| {
            // The webhook below is sent to this server itself.
            config.fetch.allow = vec![base.trim_start_matches("http://").to_owned()];
            config.webhooks.poll_ms = 50;
            config.webhooks.retry_secs = vec![3600];
            config.pipelines.sweep_ms = 50;
            config.metrics.token = Secret::new(TOKEN);
            let limits = &mut config.providers.limits;
            limits.insert("local".into(), LimitsConfig { max_in_flight: 8, daily_tasks: 0 });
            limits.insert("local/placeholder".into(), LimitsConfig { max_in_flight: 0, daily_tasks: 100 });
        })),
        ..Options::default()
    })
    .await
    .unwrap();
    let before = scrape(&app).await;
    let email = "metrics-watcher@example.com";
    let (member, member_key) = app.user(email, atelier_core::account::Role::Member).await;

    // Tasks: one each by the admin and a member on the placeholder engine, one that
    // the scripted service refuses.
    let mine = app.run("local/placeholder", json!({ "prompt": "a lighthouse", "width": 64, "height": 64 })).await;
    assert_eq!(mine["status"], "completed");
    let created = member
        .post(app.url("/api/v1/tasks"))
        .json(&json!({ "model": "local/placeholder", "input": { "prompt": "a harbour", "width": 64, "height": 64 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 202);
    let theirs: Value = created.json().await.unwrap();
    let theirs = theirs["task_id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_for_end(&theirs).await["status"], "completed");
    let refused = app.run("lab/model", json!({ "errors": ["provider_rejected"] })).await;
    assert_eq!(refused["status"], "failed", "{refused}");

    // Requests: three answered 200, a task that does not exist, a path no route has.
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/system/info").await.status(), 200);
    }
    let nobody = uuid::Uuid::now_v7().to_string();
    assert_eq!(app.get(&format!("/api/v1/tasks/{nobody}")).await.status(), 404);
    assert_eq!(app.get("/api/v1/no-such-route/12345?token=secret-in-a-query").await.status(), 404);

    // A webhook test ping, sent to a route that answers 405 (retried later).
    let hook = app
        .post("/api/v1/webhooks", &json!({ "url": app.url("/api/v1/health/live"), "events": ["task.completed"] }))
        .await;
    assert_eq!(hook.status(), 201);
    let hook: Value = hook.json().await.unwrap();
    let ping = app.post(&format!("/api/v1/webhooks/{}/test", hook["id"].as_str().unwrap()), &json!({})).await;
    assert_eq!(ping.status(), 202);

    // A pipeline run through its first phase.
    let run = crate::pipelines::post(
        &app,
        "/api/v1/pipelines",
        json!({ "text": crate::pipelines::story("rashomon.txt"), "last_phase": 1, "feedback_mode": { "enabled": false } }),
    )
    .await;
    let run = crate::pipelines::json(run, 202).await;
    crate::pipelines::wait_for(&app, run["id"].as_str().unwrap(), "completed", 0).await;

    // (The drain rate shows once the queue's readings span a second.)
    let after = wait_until(&app, "a webhook attempt, a phase and the drain rate", |scrape| {
        scrape.get("atelier_webhook_attempts_total", &[]) >= 1.0
            && scrape.get("atelier_pipeline_phases_total", &[("outcome", "completed")]) >= 1.0
            && scrape.family("atelier_queue_drain_per_second").is_some()
    })
    .await;
    let delta = |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);

    // Requests by route template and status, with their latency histogram.
    let info = [("method", "GET"), ("route", "/api/v1/system/info")];
    assert_eq!(delta("atelier_http_requests_total", &[info[0], info[1], ("status", "200")]), 3.0);
    let timed = after.observations("atelier_http_request_duration_seconds", &info)
        - before.observations("atelier_http_request_duration_seconds", &info);
    assert_eq!(timed, 3.0);
    let buckets = after.buckets("atelier_http_request_duration_seconds", &info);
    let bounds: Vec<f64> = buckets.iter().map(|(le, _)| *le).collect();
    assert_eq!(
        bounds,
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, f64::INFINITY],
        "the configured buckets, in order"
    );
    assert!(buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1), "cumulative: {buckets:?}");
    assert_eq!(buckets.last().unwrap().1, after.observations("atelier_http_request_duration_seconds", &info));
    let one_task = [("method", "GET"), ("route", "/api/v1/tasks/{id}"), ("status", "404")];
    assert_eq!(delta("atelier_http_requests_total", &one_task), 1.0);
    assert!(delta("atelier_http_requests_total", &[("route", "unmatched"), ("status", "404")]) >= 1.0);
    assert!(after.get("atelier_http_requests_total", &[("route", "/api/v1/tasks"), ("status", "202")]) >= 2.0);

    // Tasks by service, model and status; how long they took; provider calls.
    let placeholder = [("service", "local"), ("model", "placeholder")];
    assert_eq!(delta("atelier_tasks_created_total", &placeholder), 2.0);
    assert_eq!(delta("atelier_tasks_finished_total", &[placeholder[0], placeholder[1], ("status", "completed")]), 2.0);
    assert_eq!(delta("atelier_tasks_finished_total", &[("service", "lab"), ("status", "failed")]), 1.0);
    assert_eq!(
        after.observations("atelier_task_duration_seconds", &[placeholder[0], placeholder[1], ("status", "completed")])
            - before.observations(
                "atelier_task_duration_seconds",
                &[placeholder[0], placeholder[1], ("status", "completed")]
            ),
        2.0
    );
    let rejected = [("service", "lab"), ("call", "submit"), ("outcome", "provider_rejected")];
    assert_eq!(delta("atelier_provider_calls_total", &rejected), 1.0);
    assert!(delta("atelier_provider_calls_total", &[("service", "local"), ("outcome", "ok")]) >= 2.0);
    assert!(after.observations("atelier_provider_call_duration_seconds", &[("service", "local")]) >= 2.0);

    // How things stand: the queue, the workers, the providers, quotas, storage.
    assert_eq!(after.get("atelier_queue_length", &[]), 0.0);
    assert_eq!(after.get("atelier_queue_limit", &[]), 1000.0);
    assert_eq!(after.get("atelier_worker_concurrency", &[]), 4.0);
    assert!(after.family("atelier_worker_tasks_running").is_some());
    assert!(after.family("atelier_tasks_in_flight").is_some_and(|f| f.samples.len() >= 2));
    assert_eq!(after.get("atelier_tasks_in_flight_limit", &[("service", "local")]), 8.0);
    assert_eq!(after.get("atelier_circuit_state", &[("service", "local"), ("state", "closed")]), 1.0);
    assert_eq!(after.get("atelier_circuit_state", &[("service", "lab"), ("state", "open")]), 0.0);
    assert_eq!(after.get("atelier_quota_used", &[("scope", "local/placeholder")]), 2.0);
    assert_eq!(after.get("atelier_quota_limit", &[("scope", "local/placeholder")]), 100.0);
    assert_eq!(after.get("atelier_database_up", &[]), 1.0);
    assert_eq!(after.get("atelier_storage_waiting", &[]), 0.0);
    assert_eq!(after.get("atelier_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert!(after.family("atelier_tasks_swept_total").is_some(), "the sweep ran at the start");
    assert!(after.get("atelier_pipeline_phases_total", &[("pipeline", "manga"), ("phase", "1")]) >= 1.0);
    assert!(after.observations("atelier_pipeline_phase_duration_seconds", &[("phase", "1")]) >= 1.0);
    assert!(after.observations("atelier_webhook_attempt_duration_seconds", &[]) >= 1.0);

    // The process.
    assert!(after.get("process_cpu_seconds_total", &[]) > 0.0);
    assert!(after.get("process_resident_memory_bytes", &[]) > 1e6);
    let (open, max) = (after.get("process_open_fds", &[]), after.get("process_max_fds", &[]));
    assert!(open > 0.0 && open <= max, "{open} of {max}");
    let now = chrono::Utc::now().timestamp() as f64;
    let started = after.get("process_start_time_seconds", &[]);
    assert!(started <= now + 1.0 && started > now - 3600.0, "started {started}, now {now}");

    // Every family says what it is; labels are bounded: templates, not paths, and
    // nothing of a user, a key, a task or a query string.
    for metric in &after.metrics {
        assert!(metric.help_desc.as_deref().is_some_and(|help| !help.is_empty()), "{} has no help", metric.name);
    }
    for (metric, key, value) in after.labels() {
        if key == "route" {
            assert!(value == "unmatched" || value.starts_with('/'), "{metric}: route {value}");
        }
        for secret in [email, "@", &app.admin_key, &member_key, TOKEN, &theirs, &nobody, "?", "12345"] {
            assert!(!value.contains(secret), "{metric}{{{key}={value:?}}} shows {secret:?}");
        }
    }
    for secret in [email, &app.admin_key, &member_key, TOKEN, &theirs, &nobody] {
        assert!(!after.text.contains(secret), "the exposition shows {secret:?}");
    }
    promtool_lints_clean(&after);
    check_deploy_files(&after);
}

#[tokio::test]
async fn metrics_are_for_admins_and_the_scrapers_token() {
    let app = TestApp::with(Options {
        configure: Some(Box::new(|config, _| config.metrics.token = Secret::new(TOKEN))),
        ..Options::default()
    })
    .await
    .unwrap();
    let url = app.url("/metrics");
    let anonymous = client_with_key(None).get(&url).send().await.unwrap();
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert_error(anonymous, 401, "unauthorized").await;
    let wrong = client_with_key(Some("scraper-token-0123456788")).get(&url).send().await.unwrap();
    assert_error(wrong, 401, "unauthorized").await;
    let (member, _) = app.user("member@example.com", atelier_core::account::Role::Member).await;
    assert_error(member.get(&url).send().await.unwrap(), 403, "forbidden").await;
    scrape_with(&client_with_key(Some(TOKEN)), &url).await;
    let scraped = scrape(&app).await;
    // The refusals were counted too, under the route's template.
    let refused = [("route", "/metrics"), ("status", "401")];
    assert_eq!(scraped.get("atelier_http_requests_total", &refused), 2.0);
}

#[tokio::test]
async fn a_separate_address_serves_metrics_and_the_server_does_not() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::with(Options {
        configure: Some(Box::new(move |config, _| {
            config.metrics.listen = format!("127.0.0.1:{port}");
            config.metrics.token = Secret::new(TOKEN);
        })),
        ..Options::default()
    })
    .await
    .unwrap();
    assert_eq!(app.get("/metrics").await.status(), 404, "not on the server's address, even for an admin");
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(response) = client_with_key(None).get(&url).send().await {
            answered = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_error(answered.expect("the metrics address answers"), 401, "unauthorized").await;
    let admin = client_with_key(Some(&app.admin_key)).get(&url).send().await.unwrap();
    assert_eq!(admin.status(), 401, "only the token opens the separate address");
    let scraped = scrape_with(&client_with_key(Some(TOKEN)), &url).await;
    assert!(scraped.family("atelier_queue_length").is_some());
    let elsewhere = client_with_key(Some(TOKEN)).get(format!("http://127.0.0.1:{port}/api/v1/health")).send().await;
    assert_error(elsewhere.unwrap(), 404, "not_found").await;
}

#[tokio::test]
async fn with_metrics_off_there_is_no_route() {
    let app = TestApp::with(Options {
        configure: Some(Box::new(|config, _| config.metrics.enabled = false)),
        ..Options::default()
    })
    .await
    .unwrap();
    assert_eq!(app.get("/metrics").await.status(), 404);
}

/// The alert rules load in Prometheus's own checker, and fire (and stay quiet) as
/// their unit tests say (`deploy/observability/alerts.test.yaml`); the example
/// scrape configuration reads.
#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    if !tools_present(&["promtool"]) {
        return;
    }
    let dir = deploy_file("");
    let checks: [&[&str]; 3] = [
        &["check", "rules", "alerts.yaml"],
        &["test", "rules", "alerts.test.yaml"],
        // The scrape configuration (its token file is the deployment's).
        &["check", "config", "--syntax-only", "prometheus.yml"],
    ];
    for args in checks {
        let output = std::process::Command::new("promtool").args(args).current_dir(&dir).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "promtool {}: {said}", args.join(" "));
    }
}
