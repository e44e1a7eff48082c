//! The accept loop: counts each connection against the caps, serves it, or
//! refuses it at once; on stop, accepts no more and waits for the open ones.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};

use super::Settings;
use super::connection::{self, Shared};
use super::limits::{ConnectionLimits, Refusal};
use crate::api::error::ErrorBody;

/// How long the client of a refused connection is given to read the answer (what
/// it sends meanwhile is read and dropped, so that the close does not reset the
/// answer away), and how many refusals may be in that state at once; past that a
/// connection is closed with no answer.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);
const REFUSING_AT_ONCE: usize = 64;

/// The `Retry-After` of a refusal, in seconds.
const REFUSAL_RETRY_AFTER: u64 = 1;

/// After a failed accept that is not the client's doing (out of file descriptors),
/// the pause before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` with `settings` until `stop` turns true (or its
/// sender is gone), then stops accepting and returns once every connection has
/// finished.
pub async fn serve(listener: TcpListener, router: Router, settings: &Settings, mut stop: watch::Receiver<bool>) {
    let shared = Arc::new(Shared::new(settings));
    let limits = ConnectionLimits::new(settings.max_connections, settings.max_connections_per_ip);
    let refusals = Refusals::new();
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    tracing::info!(
        max_connections = settings.max_connections,
        max_connections_per_ip = settings.max_connections_per_ip,
        header_read_timeout_secs = settings.header_read_timeout.as_secs(),
        idle_timeout_secs = settings.idle_timeout.as_secs(),
        http2 = settings.http2,
        "accepting connections"
    );
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_the_clients(&error) => continue,
            Err(error) => {
                tracing::warn!(%error, open = limits.open(), "accepting a connection failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        match limits.try_acquire(peer.ip()) {
            Ok(permit) => {
                let served =
                    connection::serve(stream, peer, permit, router.clone(), shared.clone(), stop.clone(), open.clone());
                tokio::spawn(served);
            }
            Err(refusal) => {
                tracing::debug!(%peer, ?refusal, "connection refused: too many open");
                let scope = match refusal {
                    Refusal::PerAddress { .. } => "address",
                    Refusal::Overall { .. } => "server",
                };
                metrics::counter!(crate::metrics::HTTP_CONNECTIONS_REFUSED, "scope" => scope).increment(1);
                refusals.refuse(stream, refusal);
            }
        }
    }
    drop(listener);
    drop(open);
    // Every connection's task holds a sender: None once all have ended.
    let _ = all_closed.recv().await;
}

/// Errors that concern one client's connection only (it reset before it was
/// accepted): the next accept goes on at once.
fn is_the_clients(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// The two answers a refused connection gets, made once, and the bound on
/// refusals being answered at once.
struct Refusals {
    per_address: Arc<[u8]>,
    overall: Arc<[u8]>,
    answering: Arc<Semaphore>,
}

impl Refusals {
    fn new() -> Self {
        Self {
            per_address: answer(
                "too many connections from your address are open; close some or try again later",
                "address",
            ),
            overall: answer("the server has too many connections open; try again later", "server"),
            answering: Arc::new(Semaphore::new(REFUSING_AT_ONCE)),
        }
    }

    /// Writes the 503 without reading the request, then closes; or closes at
    /// once when too many refusals are being answered already.
    fn refuse(&self, mut stream: TcpStream, refusal: Refusal) {
        let Ok(slot) = self.answering.clone().try_acquire_owned() else { return };
        let answer = match refusal {
            Refusal::PerAddress { .. } => self.per_address.clone(),
            Refusal::Overall { .. } => self.overall.clone(),
        };
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(REFUSAL_GRACE, async {
                stream.write_all(&answer).await?;
                stream.shutdown().await?;
                let mut sink = [0u8; 2048];
                while stream.read(&mut sink).await? > 0 {}
                Ok::<_, io::Error>(())
            })
            .await;
        });
    }
}

/// A whole `503 too_many_connections` answer in the API's error shape, closing.
fn answer(message: &str, scope: &str) -> Arc<[u8]> {
    let body = ErrorBody {
        error: "too_many_connections",
        message: message.to_owned(),
        details: Some(serde_json::json!({ "scope": scope })),
        retry_after: Some(REFUSAL_RETRY_AFTER),
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: {REFUSAL_RETRY_AFTER}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_whole_http_answer_in_the_error_shape() {
        let text = String::from_utf8(answer("too many", "address").to_vec()).expect("text");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(head.contains("retry-after: 1\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(body["error"], "too_many_connections");
        assert_eq!(body["details"]["scope"], "address");
        assert_eq!(body["retry_after"], 1);
    }
}
