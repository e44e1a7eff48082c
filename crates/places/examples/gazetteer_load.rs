//! Measures building the gazetteer: wall time and the growth of the process's
//! resident memory. `cargo run -p atelier-places --example gazetteer_load --release`
//! (and without `--release` for a debug build). Linux only (reads /proc).

use std::time::Instant;

use atelier_places::{Coordinates, Gazetteer};

/// A line of /proc/self/status in KiB: `RssAnon` is the heap (and other private
/// memory), `RssFile` the mapped files, here chiefly the table compiled into the
/// binary, which parsing pages in.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn grown(field: &str, before: Option<u64>) -> String {
    match (before, status_kib(field)) {
        (Some(before), Some(after)) => format!("{:.1} MiB", after.saturating_sub(before) as f64 / 1024.0),
        _ => "unknown".to_owned(),
    }
}

fn main() {
    let (anon, file) = (status_kib("RssAnon:"), status_kib("RssFile:"));
    let started = Instant::now();
    let gazetteer = Gazetteer::load();
    let elapsed = started.elapsed();
    println!("places: {}", gazetteer.len());
    println!("load: {:.0} ms", elapsed.as_secs_f64() * 1000.0);
    println!(
        "resident memory grew by {} private, {} mapped from the binary",
        grown("RssAnon:", anon),
        grown("RssFile:", file)
    );
    println!("rows, names and name index: {:.1} MiB", gazetteer.table_heap_bytes() as f64 / 1_048_576.0);

    let started = Instant::now();
    let tokyo = Coordinates::new(35.6895, 139.6917).expect("valid coordinates");
    let rounds = 10_000;
    for _ in 0..rounds {
        std::hint::black_box(gazetteer.reverse(tokyo));
    }
    println!("reverse: {:.1} µs each", started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds));
    let started = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(gazetteer.search("paris", 10).expect("a valid query"));
    }
    println!("search \"paris\": {:.1} µs each", started.elapsed().as_secs_f64() * 1e6 / 1000.0);
    let started = Instant::now();
    for _ in 0..100 {
        std::hint::black_box(gazetteer.search("s", 10).expect("a valid query"));
    }
    println!("search \"s\" (prefix of many): {:.1} µs each", started.elapsed().as_secs_f64() * 1e6 / 100.0);
}
