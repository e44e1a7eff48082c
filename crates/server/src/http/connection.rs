//! One accepted connection: hyper's HTTP/1.1 and HTTP/2 with their limits, the
//! idle deadline, and the graceful close on stop.
//!
//! What is "idle" is counted here: a request is in flight from its headers until
//! its answer's body has been sent (or dropped), so an event stream or a long
//! download is never idle, and a connection with nothing in flight is closed
//! after `server.idle_timeout_secs` (after the header timeout before its first
//! request: a client that connects and sends nothing, or a partial HTTP/2
//! preface, is held no longer than one sending its headers slowly).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

use super::Settings;
use super::limits::Permit;

/// How often an HTTP/2 connection is pinged, and how long its answer may take.
const HTTP2_PING_EVERY: Duration = Duration::from_secs(30);
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// What every connection shares: the configured builder and the deadlines.
pub struct Shared {
    builder: auto::Builder<TokioExecutor>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl Shared {
    pub fn new(settings: &Settings) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout)
            // hyper answers 431 to a request head that does not fit its buffer.
            .max_buf_size(settings.max_header_bytes.max(8 * 1024));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(settings.http2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(HTTP2_PING_EVERY)
            .keep_alive_timeout(HTTP2_PING_TIMEOUT);
        if !settings.http2 {
            builder = builder.http1_only();
        }
        Self { builder, header_read_timeout: settings.header_read_timeout, idle_timeout: settings.idle_timeout }
    }
}

/// Serves `stream` until it closes: on `stop` (or past the idle deadline) it is
/// asked to finish what it is doing and close. `_open` is held until then, so
/// the accept loop knows when every connection has ended; `permit` travels with
/// the socket, into an upgraded connection too.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    permit: Permit,
    router: Router,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    _open: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(watch::Sender::new(Activity { in_flight: 0, requests: 0, idle_since: Instant::now() }));
    let tracker = activity.clone();
    let service = tower::service_fn(move |request: Request<Incoming>| {
        let busy = Busy::begin(&tracker);
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            Ok::<_, Infallible>(response.map(|body| Body::new(Tracked { body, _busy: busy })))
        }
    });
    let io = TokioIo::new(Counted { stream, _permit: permit });
    let connection = shared.builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
    tokio::pin!(connection);
    let idle = idle_deadline(activity.subscribe(), shared.header_read_timeout, shared.idle_timeout);
    tokio::pin!(idle);
    let mut closing = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    // hyper's header read timeout: a request's head did not all arrive in time.
                    if error.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout) {
                        metrics::counter!(crate::metrics::HTTP_CONNECTIONS_TIMED_OUT, "what" => "headers").increment(1);
                    }
                    tracing::debug!(%peer, %error, "connection closed with an error");
                }
                return;
            }
            _ = stop.wait_for(|stop| *stop), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            () = &mut idle, if !closing => {
                tracing::debug!(%peer, "closing an idle connection");
                metrics::counter!(crate::metrics::HTTP_CONNECTIONS_TIMED_OUT, "what" => "idle").increment(1);
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// Resolves once the connection has had nothing in flight for its deadline:
/// `first` before its first request, `between` after.
async fn idle_deadline(mut activity: watch::Receiver<Activity>, first: Duration, between: Duration) {
    loop {
        let now = *activity.borrow_and_update();
        if now.in_flight > 0 {
            if activity.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        let limit = if now.requests == 0 { first } else { between };
        tokio::select! {
            () = tokio::time::sleep_until(now.idle_since + limit) => return,
            changed = activity.changed() => if changed.is_err() { return std::future::pending().await },
        }
    }
}

/// A connection's requests: in flight now, served in all, idle since when.
#[derive(Debug, Clone, Copy)]
struct Activity {
    in_flight: usize,
    requests: u64,
    idle_since: Instant,
}

/// One request in flight, until its answer's body is done with.
struct Busy(Arc<watch::Sender<Activity>>);

impl Busy {
    fn begin(activity: &Arc<watch::Sender<Activity>>) -> Self {
        activity.send_modify(|now| {
            now.in_flight += 1;
            now.requests += 1;
        });
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|now| {
            now.in_flight = now.in_flight.saturating_sub(1);
            if now.in_flight == 0 {
                now.idle_since = Instant::now();
            }
        });
    }
}

/// An answer's body, holding its request's [`Busy`] until sent or dropped.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket with its connection's [`Permit`]: counted while it is open, also
/// after an upgrade hands it to a WebSocket.
struct Counted {
    stream: TcpStream,
    _permit: Permit,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
