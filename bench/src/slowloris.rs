//! Slow clients (issue 22): how many connections trickling their headers the
//! server holds off while ordinary requests keep their latency, when they are cut,
//! and how fast one address past its cap is refused.
//!
//! The server runs with its default connection settings (header timeout, per-address
//! cap, overall cap from the open-file limit). The slow connections come from many
//! loopback addresses (127.0.1.x: all of 127/8 is loopback on Linux), at most the
//! per-address cap from each, so that they are held rather than refused; the
//! ordinary client is 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::load::client;
use crate::plan::Plan;
use crate::report::{Report, ms, quantile, thousands};
use crate::server::{Backend, Server};

const SCOPE: &str = "slowloris";
/// The server's defaults, as `[server]` documents them.
const PER_ADDRESS: usize = 128;
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Ordinary clients (keep-alive) measured at once.
const ORDINARY_CLIENTS: usize = 4;
/// Connections opened from one address for the refusal figure.
const GREEDY: usize = 1_000;

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let own_limit = atelier::http::fd::raise_open_file_limit().unwrap_or(1024);
    // The server's default cap is three quarters of the same limit; this process
    // needs a file per connection too.
    let wanted = plan.slowloris_connections;
    let slow = wanted.min(usize::try_from(own_limit * 3 / 4).unwrap_or(wanted).saturating_sub(GREEDY + 200));
    eprintln!("[{SCOPE}] {slow} slow connections (open-file limit {own_limit})");
    let server = Server::start(&plan.server, &Backend::Sqlite, &[]).await?;
    let address: SocketAddr = server.base.trim_start_matches("http://").parse().context("the server's address")?;
    let url = format!("{}/api/v1/models", server.base);
    let window = plan.slowloris_window;

    let idle = ordinary_latencies(&url, &server.key, window).await?;
    let rss_before = server.memory()?.rss_kib;

    let open = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut slow_clients = Vec::with_capacity(slow);
    for n in 0..slow {
        let from = slow_address(n / PER_ADDRESS);
        let stream = connect_from(from, address).await?;
        open.fetch_add(1, Ordering::SeqCst);
        slow_clients.push(tokio::spawn(trickle(stream, open.clone())));
    }
    let connected_in = started.elapsed();
    let loaded = ordinary_latencies(&url, &server.key, window).await?;
    let open_after_window = open.load(Ordering::SeqCst);
    let rss_loaded = server.memory()?.rss_kib;

    // One address past its cap: how many are refused, and how fast.
    let greedy_from = IpAddr::V4(Ipv4Addr::new(127, 0, 250, 1));
    // All at once: a connection held is cut after the header timeout, which would
    // free its place for the next one if they were made one by one.
    let mut greedy = Vec::with_capacity(GREEDY);
    for _ in 0..GREEDY {
        greedy.push(tokio::spawn(async move {
            let sent = Instant::now();
            let mut stream = connect_from(greedy_from, address).await?;
            let mut first = [0u8; 16];
            let outcome = match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut first)).await {
                Ok(Ok(n)) if first[..n].starts_with(b"HTTP/1.1 503") => Greedy::Refused(sent.elapsed()),
                Ok(_) => Greedy::Closed,
                Err(_) => Greedy::Held,
            };
            Ok::<_, anyhow::Error>((outcome, stream))
        }));
    }
    let (mut refused, mut closed, mut held) = (Vec::new(), 0, Vec::new());
    for task in greedy {
        let (outcome, stream) = task.await.context("a greedy client's task")??;
        match outcome {
            Greedy::Refused(after) => refused.push(after),
            Greedy::Closed => closed += 1,
            Greedy::Held => held.push(stream),
        }
    }
    let held_count = held.len();
    drop(held);

    let mut cut = Vec::with_capacity(slow);
    let mut refused_slow = 0;
    for client in slow_clients {
        let (after, was_refused) = client.await.context("a slow client's task")?;
        refused_slow += usize::from(was_refused);
        cut.push(after);
    }
    cut.sort();
    refused.sort();
    server.stop(report, SCOPE);

    let q = |sorted: &[Duration], at: f64| quantile(sorted, at).map_or(0.0, ms);
    report.add(
        SCOPE,
        "GET /api/v1/models, no slow connections, latency p50 / p99",
        format!("{:.2} / {:.2}", q(&idle, 0.5), q(&idle, 0.99)),
        "ms",
        format!(
            "{} requests in {:.0} s over {ORDINARY_CLIENTS} keep-alive clients",
            thousands(idle.len()),
            window.as_secs_f64()
        ),
    );
    report.add(
        SCOPE,
        format!("GET /api/v1/models, {} slow connections held, latency p50 / p99", thousands(slow)),
        format!("{:.2} / {:.2}", q(&loaded, 0.5), q(&loaded, 0.99)),
        "ms",
        format!(
            "{} requests in {:.0} s; slow connections opened in {:.1} s from {} addresses ({PER_ADDRESS} each), \
             each sending a header line every 2 s; {} still open after the window; server RSS {} → {} MiB",
            thousands(loaded.len()),
            window.as_secs_f64(),
            connected_in.as_secs_f64(),
            slow.div_ceil(PER_ADDRESS),
            thousands(open_after_window),
            rss_before / 1024,
            rss_loaded / 1024,
        ),
    );
    report.add(
        SCOPE,
        "slow connections cut after (min / p50 / max)",
        format!("{:.1} / {:.1} / {:.1}", q(&cut, 0.0) / 1000.0, q(&cut, 0.5) / 1000.0, q(&cut, 1.0) / 1000.0),
        "s",
        format!(
            "{} of {} cut by the server (header timeout {} s); {refused_slow} refused",
            thousands(cut.len()),
            thousands(slow),
            HEADER_TIMEOUT.as_secs()
        ),
    );
    report.add(
        SCOPE,
        format!("{GREEDY} connections from one address: refused"),
        thousands(refused.len()),
        "",
        format!(
            "answered 503 too_many_connections (connect to first byte p50 {:.2} ms, p99 {:.2} ms); {closed} closed \
             with no answer (more refusals at once than the server answers); {held_count} held (the cap is \
             {PER_ADDRESS}); all opened at once",
            q(&refused, 0.5),
            q(&refused, 0.99)
        ),
    );
    Ok(())
}

/// What one of the greedy address's connections met.
enum Greedy {
    Refused(Duration),
    Closed,
    Held,
}

/// GET `url` from [`ORDINARY_CLIENTS`] keep-alive clients for `window`; the latencies, sorted.
async fn ordinary_latencies(url: &str, key: &str, window: Duration) -> Result<Vec<Duration>> {
    let until = Instant::now() + window;
    let mut tasks = Vec::new();
    for _ in 0..ORDINARY_CLIENTS {
        let http = client(1, key)?;
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let sent = Instant::now();
                let response = http.get(&url).send().await?;
                anyhow::ensure!(response.status().is_success(), "GET {url}: {}", response.status());
                response.bytes().await?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.context("an ordinary client's task")??);
    }
    all.sort();
    Ok(all)
}

/// The `nth` address slow connections come from: 127.0.1.1, 127.0.1.2, … 127.0.1.250, 127.0.2.1, …
fn slow_address(nth: usize) -> IpAddr {
    let (high, low) = (nth / 250, nth % 250);
    IpAddr::V4(Ipv4Addr::new(127, 0, 1 + u8::try_from(high).unwrap_or(200), 1 + u8::try_from(low).unwrap_or(0)))
}

async fn connect_from(from: IpAddr, server: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4().context("a socket")?;
    socket.bind(SocketAddr::new(from, 0)).with_context(|| format!("binding {from}"))?;
    socket.connect(server).await.with_context(|| format!("connecting from {from}"))
}

/// A request line, then a header line every 2 s, never the end of the head; how
/// long until the server closed it, and whether it was refused.
async fn trickle(mut stream: TcpStream, open: Arc<AtomicUsize>) -> (Duration, bool) {
    let started = Instant::now();
    let mut first = Vec::new();
    let mut buffer = [0u8; 512];
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut line = 0u32;
    let mut head = Some(b"GET /api/v1/models HTTP/1.1\r\nhost: atelier\r\n".to_vec());
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let bytes = head.take().unwrap_or_else(|| { line += 1; format!("x-slow-{line}: {line}\r\n").into_bytes() });
                if stream.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => if first.len() < 16 { first.extend_from_slice(&buffer[..n]) },
            },
        }
    }
    open.fetch_sub(1, Ordering::SeqCst);
    (started.elapsed(), first.starts_with(b"HTTP/1.1 503"))
}
