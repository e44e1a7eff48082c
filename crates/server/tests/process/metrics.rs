//! `atelier worker` has no HTTP server of its own; with `metrics.listen` set it
//! serves `/metrics` there (its provider calls and tasks are counted where they
//! run), and stops serving it when it stops.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::harness::{Process, atelier, free_port, temp_dir};

#[tokio::test]
async fn a_worker_process_serves_its_metrics_on_their_own_address() {
    let dir = temp_dir();
    let address = format!("127.0.0.1:{}", free_port());
    let mut command = atelier(["worker"]);
    command.arg("--data-dir").arg(dir.path()).env("ATELIER__METRICS__LISTEN", &address).env(
        "ATELIER__LOG__LEVEL",
        // "serving metrics" (info) tells when the address answers.
        "warn,atelier::metrics=info",
    );
    let mut worker = Process::spawn("worker", command);
    worker.wait_for_line(|line| line.contains("serving metrics"), "\"serving metrics\"", Duration::from_secs(30));

    let url = format!("http://{address}/metrics");
    // The address answers first; the worker's first sweep follows at once.
    let mut text = String::new();
    for _ in 0..200 {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200);
        text = response.text().await.unwrap();
        if text.contains("atelier_tasks_swept_total") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (metrics, error) = prom_text_format_parser::parse_scrape(&text);
    assert!(error.is_none(), "{error:?}\n{text}");
    let gauge = |name: &str| {
        metrics.iter().find(|metric| metric.name == name).map(|metric| metric.samples[0].value.value.as_f64())
    };
    assert_eq!(gauge("atelier_worker_concurrency"), Some(4.0), "{text}");
    assert_eq!(gauge("atelier_database_up"), Some(1.0));
    assert!(metrics.iter().any(|metric| metric.name == "atelier_tasks_swept_total"), "its sweep ran: {text}");

    worker.signal(Signal::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(30)).await.expect("the worker exits on SIGTERM");
    assert!(status.success(), "{status}: {}", worker.tail());
    assert!(reqwest::get(&url).await.is_err(), "the address is closed with the process");
}
