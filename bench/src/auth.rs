//! What authentication costs, in process: key and session checks alone, and status
//! reads through the router with and without a key.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use crate::plan::Plan;
use crate::report::{Report, stats};
use crate::server::quiet_app;

/// What authentication costs each request, in process: the API key check every
/// `/api/v1` request makes (SHA-256 of the key, one indexed lookup, one user read),
/// and a session check, against a SQLite database in a temp dir.
pub async fn checks(plan: &Plan, report: &mut Report) -> Result<()> {
    use atelier_core::account::secrets::SecretBox;
    use atelier_core::account::{AccountService, AccountSettings, Role};

    let scope = "in-process";
    let n = if plan.quick { 2_000 } else { 20_000 };
    eprintln!("[{scope}] authentication: {n} key checks, {n} session checks");
    let dir = tempfile::tempdir().context("a temp dir")?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
    let database = atelier_db::Database::connect(&url, &atelier_db::DatabaseOptions::default()).await?;
    database.migrate().await?;
    let secret_box = SecretBox::from_base64(&SecretBox::generate_key()).map_err(|e| anyhow!(e))?;
    let accounts = AccountService::new(Arc::new(database), secret_box, AccountSettings::default());
    let user = accounts.user_for_cli("bench@localhost", Role::Admin).await?;
    let key = accounts.create_key_offline(&user, "bench", Role::Admin).await?;
    accounts.set_password(&accounts.authenticate_key(&key.secret).await?, None, "a long bench password").await?;
    let session = accounts.sign_in("bench@localhost", "a long bench password", None).await?;
    let mut key_checks = Vec::with_capacity(n);
    let mut session_checks = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        accounts.authenticate_key(&key.secret).await?;
        key_checks.push(t.elapsed());
        let t = Instant::now();
        accounts.authenticate_session(&session.token).await?;
        session_checks.push(t.elapsed());
    }
    for (name, samples) in
        [("API key check per request", &key_checks), ("session cookie check per request", &session_checks)]
    {
        let s = stats(samples);
        let notes = if name.starts_with("API key") {
            format!("{n} checks of one key, 1 task; a checked key is trusted for 5 s, so most are cache hits")
        } else {
            format!("{n} checks, 1 task, SQLite (WAL): a session lookup and a user read each")
        };
        report.add(scope, format!("{name}, mean"), format!("{:.3}", s.mean), "ms/request", notes);
        report.add(scope, format!("{name}, p99"), format!("{:.3}", s.p99), "ms/request", "");
    }
    Ok(())
}

/// Status reads through the real router in process, with an API key against the
/// same router with authentication replaced by a fixed caller: what authentication
/// costs a request, end to end through axum (no network, no HTTP client).
pub async fn status_reads(plan: &Plan, report: &mut Report) -> Result<()> {
    use tower::ServiceExt;

    let scope = "in-process";
    let n: usize = if plan.quick { 4_000 } else { 40_000 };
    let in_flight = 16;
    eprintln!("[{scope}] status reads with and without authentication: {n} each, {in_flight} in flight");
    let (_dir, app) = quiet_app().await?;
    let first = app.state.accounts.first_run().await?.context("an empty server makes an admin")?;
    let caller = app.state.accounts.authenticate_key(&first.cli_key).await?;
    let with_key = atelier::router::router(app.state.clone());
    let trusting = atelier::router::router_trusting_for_benchmarks(app.state.clone(), caller);
    let create = axum::http::Request::post("/api/v1/tasks")
        .header("authorization", format!("Bearer {}", first.cli_key))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"model":"local/placeholder","input":{"prompt":"a fox"}}"#))?;
    let created = with_key.clone().oneshot(create).await?;
    let body = axum::body::to_bytes(created.into_body(), 1 << 20).await?;
    let task: Value = serde_json::from_slice(&body)?;
    let path = format!("/api/v1/tasks/{}", task["task_id"].as_str().context("a task id")?);

    let mut rates = Vec::new();
    for (label, router, key) in
        [("with an API key", &with_key, Some(first.cli_key.clone())), ("without authentication", &trusting, None)]
    {
        let started = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..in_flight {
            let (router, key, path) = (router.clone(), key.clone(), path.clone());
            handles.push(tokio::spawn(async move {
                for _ in 0..n / in_flight {
                    let mut request = axum::http::Request::get(&path);
                    if let Some(key) = &key {
                        request = request.header("authorization", format!("Bearer {key}"));
                    }
                    let response = router.clone().oneshot(request.body(axum::body::Body::empty())?).await?;
                    anyhow::ensure!(response.status() == 200, "status read answered {}", response.status());
                    axum::body::to_bytes(response.into_body(), 1 << 20).await?;
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for handle in handles {
            handle.await??;
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        rates.push(rate);
        let notes = format!("GET {{task}} through the router, {n} requests, {in_flight} in flight, SQLite, no network");
        report.add(scope, format!("status reads {label}"), format!("{rate:.0}"), "req/s", notes);
    }
    if let [with, without] = rates[..] {
        let cost_ms = (1000.0 / with - 1000.0 / without) * in_flight as f64;
        report.add(
            scope,
            "  authentication's share of a status read",
            format!("{:.0}", (1.0 - with / without) * 100.0),
            "%",
            format!("about {cost_ms:.3} ms more per request at {in_flight} in flight"),
        );
    }
    Ok(())
}
