//! Slow and greedy clients against the real binary (issue 22): thousands of
//! connections trickling their headers are held while an ordinary client is
//! served, then cut after the header timeout; one address past its cap is
//! refused at once in the error shape; an idle kept-alive connection is closed;
//! HTTP/2 (h2c) is served.
//!
//! The slow clients come from 127.0.0.2 to 127.0.0.4 (all of 127/8 is loopback on
//! Linux), so that the per-address cap can stay on and the ordinary client, on
//! 127.0.0.1, is another address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::harness::{serve, temp_dir};

/// Slow connections held at once (fewer when the open-file limit cannot hold them).
const SLOW: usize = 3_000;
/// Addresses they come from, and so the per-address cap in that test.
const SLOW_ADDRESSES: usize = 3;
const HEADER_TIMEOUT_SECS: u64 = 5;

/// Raises this process's soft open-file limit to its hard limit; returns the hard limit.
fn raise_own_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(1 << 20);
    setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: limit.maximum }).expect("raising RLIMIT_NOFILE");
    hard
}

fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A TCP connection to `server` from the loopback address `from`.
async fn connect_from(from: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.bind(SocketAddr::new(from, 0)).expect("binding a loopback address");
    socket.connect(server).await.expect("connecting")
}

fn address_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().expect("a socket address")
}

/// How one slow connection ended: when, and the first bytes the server sent.
struct Ended {
    after: Duration,
    answer: String,
}

/// Sends a request line, then a header line every 500 ms, never the end of the
/// head; returns when the server closes the connection.
async fn trickle(mut stream: TcpStream, open: Arc<AtomicUsize>) -> Ended {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 512];
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut line = 0u32;
    let mut head = Some(b"GET /api/v1/health HTTP/1.1\r\nhost: atelier\r\n".to_vec());
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
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            },
        }
    }
    open.fetch_sub(1, Ordering::SeqCst);
    Ended { after: started.elapsed(), answer: String::from_utf8_lossy(&answer).into_owned() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_slow_clients_are_held_off_while_an_ordinary_client_is_served() {
    let hard = raise_own_file_limit();
    // The server takes three quarters of the same hard limit; this process needs one
    // file per connection too.
    let slow = SLOW.min(usize::try_from(hard * 3 / 4).unwrap_or(SLOW).saturating_sub(200));
    let per_address = slow.div_ceil(SLOW_ADDRESSES).to_string();
    let header_timeout = HEADER_TIMEOUT_SECS.to_string();
    let dir = temp_dir();
    let server = serve(
        "serve (slow clients)",
        &dir.path().join("data"),
        None,
        &[
            ("ATELIER__SERVER__HEADER_READ_TIMEOUT_SECS", header_timeout.as_str()),
            ("ATELIER__SERVER__MAX_CONNECTIONS_PER_IP", per_address.as_str()),
        ],
    );
    let address = address_of(&server.base);

    let open = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut slow_clients = Vec::with_capacity(slow);
    for n in 0..slow {
        let from = loopback(2 + u8::try_from(n % SLOW_ADDRESSES).expect("a few addresses"));
        let open = open.clone();
        slow_clients.push(tokio::spawn(async move {
            let stream = connect_from(from, address).await;
            open.fetch_add(1, Ordering::SeqCst);
            trickle(stream, open).await
        }));
    }
    while open.load(Ordering::SeqCst) < slow {
        assert!(started.elapsed() < Duration::from_secs(30), "the slow connections were not all made within 30 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connected_in = started.elapsed();

    // An ordinary client, meanwhile, gets its answers.
    let client = reqwest::Client::builder()
        .local_address(loopback(1))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let mut open_at_answers = Vec::new();
    for _ in 0..10 {
        let response = client.get(format!("{}/api/v1/health", server.base)).send().await.expect("an answer");
        assert_eq!(response.status(), 200, "the ordinary client was not served");
        open_at_answers.push(open.load(Ordering::SeqCst));
    }
    assert_eq!(
        open_at_answers[0], slow,
        "the slow connections were not all open when the ordinary client had its first answer \
         (connecting them took {connected_in:?})"
    );

    let mut cut_after = Vec::with_capacity(slow);
    for client in slow_clients {
        let ended = tokio::time::timeout(Duration::from_secs(HEADER_TIMEOUT_SECS + 10), client)
            .await
            .expect("a slow connection was never cut")
            .expect("the slow client's task");
        assert!(!ended.answer.starts_with("HTTP/1.1 503"), "a slow connection was refused: {}", ended.answer);
        cut_after.push(ended.after);
    }
    cut_after.sort();
    let (first, last) = (cut_after[0], cut_after[cut_after.len() - 1]);
    println!(
        "slow clients: {slow} connected in {connected_in:?}; open at the ordinary client's answers {open_at_answers:?}; \
         cut between {first:?} and {last:?} after they started"
    );
    assert!(
        first >= Duration::from_secs(HEADER_TIMEOUT_SECS) - Duration::from_millis(500),
        "a slow connection was closed after {first:?}, before the header timeout"
    );
}

#[tokio::test]
async fn one_address_past_its_cap_is_refused_at_once_and_idle_connections_are_closed() {
    let dir = temp_dir();
    let server = serve(
        "serve (caps)",
        &dir.path().join("data"),
        None,
        &[
            ("ATELIER__SERVER__MAX_CONNECTIONS_PER_IP", "4"),
            // The idle deadline (2 s) comes before the header timeout (5 s), which
            // also bounds a kept-alive connection's wait: this one closes it.
            ("ATELIER__SERVER__HEADER_READ_TIMEOUT_SECS", "5"),
            ("ATELIER__SERVER__IDLE_TIMEOUT_SECS", "2"),
        ],
    );
    let address = address_of(&server.base);

    // Four connections from one address are held; the fifth is answered 503
    // without having sent a byte, then closed.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(loopback(5), address).await);
    }
    let mut refused = connect_from(loopback(5), address).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), refused.read_to_end(&mut answer))
        .await
        .expect("the refused connection was not closed")
        .expect("reading the refusal");
    let answer = String::from_utf8(answer).expect("a text answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(head.to_ascii_lowercase().contains("\r\nretry-after: "), "{answer}");
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["error"], "too_many_connections", "{body}");
    assert!(body["message"].is_string() && body["details"].is_object(), "{body}");
    // Another address is served meanwhile. Its client keeps no connection between
    // requests: the server closes idle ones after 2 s, and the scrape below comes
    // later, so a kept one could be closed under the scrape as it is sent.
    let other =
        reqwest::Client::builder().local_address(loopback(6)).pool_max_idle_per_host(0).build().expect("a client");
    assert_eq!(other.get(format!("{}/api/v1/health", server.base)).send().await.expect("an answer").status(), 200);
    drop(held);

    // A kept-alive connection that asks nothing more is closed.
    let mut idle = connect_from(loopback(7), address).await;
    idle.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: atelier\r\n\r\n").await.expect("a request");
    let mut buffer = vec![0u8; 64 * 1024];
    let read = idle.read(&mut buffer).await.expect("the answer");
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"), "no answer to the request");
    let answered = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match idle.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an idle kept-alive connection was still open 10 s after its answer");
    let idle_for = answered.elapsed();
    assert!(idle_for >= Duration::from_secs(1), "closed after {idle_for:?}: not kept alive at all");
    println!("idle keep-alive connection closed {idle_for:?} after its answer");

    // Both are counted for Prometheus.
    let metrics = other
        .get(format!("{}/metrics", server.base))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("a scrape")
        .text()
        .await
        .expect("the exposition");
    let value = |line_start: &str| {
        metrics.lines().find_map(|line| line.strip_prefix(line_start)?.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    assert_eq!(value("atelier_http_connections_refused_total{scope=\"address\"}"), 1.0, "{metrics}");
    assert!(value("atelier_http_connections_timed_out_total{what=\"idle\"}") >= 1.0, "{metrics}");
    assert!(value("atelier_http_connections_open") >= 1.0, "the scrape's own connection: {metrics}");
}

#[tokio::test]
async fn http2_is_served_with_prior_knowledge() {
    let dir = temp_dir();
    let server = serve("serve (h2c)", &dir.path().join("data"), None, &[]);
    let stream = TcpStream::connect(address_of(&server.base)).await.expect("connecting");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("an HTTP/2 handshake");
    tokio::spawn(connection);
    let request = hyper::Request::get(format!("{}/api/v1/health", server.base))
        .body(axum::body::Body::empty())
        .expect("a request");
    let response = sender.send_request(request).await.expect("an HTTP/2 answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let body = axum::body::to_bytes(axum::body::Body::new(response.into_body()), 1 << 20).await.expect("the body");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert!(body.is_object(), "{body}");
}
