//! What every WebSocket route shares (`/ws`, `/generate/stream`, a run's socket):
//! the upgrade and its same-origin rule, and [`Socket`], an open socket that keeps
//! its client honest: pings it, closes it when it stops answering or goes idle,
//! closes it with 1001 when the server shuts down, and never lets what waits for a
//! slow reader grow without bound.
//!
//! Why a queue and a writer task: axum's `WebSocket::send` waits until the socket
//! takes the message, so a client that stops reading would hold the handler (and
//! with it the broadcast receivers it drains) forever. Messages instead go through
//! a bounded channel (`[websocket] queue`) to a task that writes them; a sender
//! that finds it full waits `[websocket] slow_timeout_ms` at most, then the client
//! is dropped with close code 1008. A client's memory is the queue, the socket's
//! own buffers, and nothing else.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use atelier_core::account::{Credential, Principal};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, StatusCode, header};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::error::{ApiError, ApiResult};
use crate::config::WebSocketConfig;

/// Close codes (RFC 6455 7.4.1).
pub mod close {
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke a rule: too slow a reader, no pong, a refused request.
    pub const POLICY: u16 = 1008;
    pub const SERVER_ERROR: u16 = 1011;
    /// Refused for now (a full queue, a spent quota): try again later.
    pub const TRY_LATER: u16 = 1013;
}

/// How long a closing message may take to leave before the connection is cut.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A browser sends its session cookie to any site's socket: only this server's own
/// pages may open one with a session. A key is not sent by browsers on their own.
pub fn check_origin(caller: &Principal, headers: &HeaderMap) -> ApiResult<()> {
    if let Credential::Session { .. } = caller.credential
        && let Some(origin) = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok())
    {
        let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
        let origin_host = origin.split("://").nth(1).unwrap_or(origin);
        if origin_host != host {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a session's socket opens only from this server's own pages",
            ));
        }
    }
    Ok(())
}

/// The upgrade, or 426 for a plain request; client messages limited in size.
pub fn upgrade(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    config: &WebSocketConfig,
) -> ApiResult<WebSocketUpgrade> {
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            format!("this route speaks WebSocket only: {rejection}"),
        )
    })?;
    Ok(upgrade.max_message_size(config.max_message_bytes).max_frame_size(config.max_message_bytes))
}

/// An error as a socket message: the API's error shape with `type: "error"`.
pub fn error_message(request_id: &Value, error: &ApiError) -> Value {
    let mut body = json!({ "type": "error", "error": error.code, "message": error.message, "details": error.details });
    if !request_id.is_null() {
        body["id"] = request_id.clone();
    }
    if let Some(wait) = error.retry_after {
        body["retry_after"] = json!(wait.as_secs().max(1));
    }
    body
}

/// The close code that goes with an error answer.
pub fn close_code_for(error: &ApiError) -> u16 {
    match error.status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => close::TRY_LATER,
        status if status.is_server_error() => close::SERVER_ERROR,
        _ => close::POLICY,
    }
}

/// One user's sockets in this process: how many are open, and why others ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketCounts {
    pub open: u64,
    /// Dropped because their queue stayed full (a client not reading).
    pub slow: u64,
    /// Closed because a ping went unanswered (a client gone without a close).
    pub no_pong: u64,
    pub idle: u64,
    /// Ended because the client closed or its connection broke.
    pub client_gone: u64,
}

static COUNTS: LazyLock<Mutex<HashMap<String, SocketCounts>>> = LazyLock::new(Mutex::default);

fn count(user: &str, change: impl FnOnce(&mut SocketCounts)) {
    if let Ok(mut counts) = COUNTS.lock() {
        change(counts.entry(user.to_owned()).or_default());
    }
}

/// A user's socket counts: what operators and tests observe (kept per user, so
/// that apps in one process do not mix).
pub fn counts(user_id: &str) -> SocketCounts {
    COUNTS.lock().ok().and_then(|counts| counts.get(user_id).copied()).unwrap_or_default()
}

/// Why [`Socket::recv`] found the socket over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    ClientGone,
    NoPong,
    Idle,
    Slow,
    Shutdown,
    /// The handler closed it (its work done, or a refused request).
    Done,
}

/// An open socket: messages out through its bounded queue, client messages in,
/// and the keeping alive in between.
pub struct Socket {
    user: String,
    outbox: Option<mpsc::Sender<Message>>,
    inbox: SplitStream<WebSocket>,
    writer: JoinHandle<()>,
    /// Cuts the writer short (a slow or gone client): a close frame if it can go.
    kill: Option<oneshot::Sender<CloseFrame>>,
    config: WebSocketConfig,
    shutdown: watch::Receiver<bool>,
    last_activity: Instant,
    next_ping: Instant,
    ping_sent: Option<Instant>,
    /// Whether the client waits on something (a task, a subscription): then the
    /// idle limit does not apply; pings still find a client that is gone.
    waiting: bool,
    ended: Option<Ended>,
}

impl Socket {
    pub fn open(socket: WebSocket, user: &str, config: &WebSocketConfig, shutdown: watch::Receiver<bool>) -> Self {
        let (sink, inbox) = socket.split();
        let (outbox, queue) = mpsc::channel(config.queue.max(1));
        let (kill, killed) = oneshot::channel();
        let writer = tokio::spawn(write(sink, queue, killed));
        count(user, |counts| counts.open += 1);
        let now = Instant::now();
        Self {
            user: user.to_owned(),
            outbox: Some(outbox),
            inbox,
            writer,
            kill: Some(kill),
            config: config.clone(),
            shutdown,
            last_activity: now,
            next_ping: now + config.ping_interval(),
            ping_sent: None,
            waiting: false,
            ended: None,
        }
    }

    /// Queues a message, waiting for room at most `slow_timeout_ms`. False when the
    /// socket is over: the client too slow (dropped here), gone, or closed.
    pub async fn send(&mut self, body: &Value) -> bool {
        let Some(outbox) = &self.outbox else { return false };
        match outbox.send_timeout(Message::Text(body.to_string().into()), self.config.slow_timeout()).await {
            Ok(()) => {
                self.last_activity = Instant::now();
                true
            }
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                let reason = format!("too slow: {} messages unread", self.config.queue);
                self.cut(Ended::Slow, close::POLICY, &reason);
                false
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                self.end(Ended::ClientGone);
                false
            }
        }
    }

    /// The client's next text message; `None` once the socket is over (see
    /// [`Socket::ended`]). Pings, pong and idle deadlines and the server's shutdown
    /// are handled while waiting. Cancel-safe: it can lose a `select!`.
    pub async fn recv(&mut self) -> Option<String> {
        loop {
            if self.ended.is_some() {
                return None;
            }
            let deadline = self.deadline();
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                message = self.inbox.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        self.last_activity = Instant::now();
                        return Some(text.as_str().to_owned());
                    }
                    Some(Ok(Message::Binary(_))) => {
                        self.last_activity = Instant::now();
                        let refusal = ApiError::validation("messages are JSON in text frames", json!({ "field": "type" }));
                        self.try_queue(Message::Text(error_message(&Value::Null, &refusal).to_string().into()));
                    }
                    Some(Ok(Message::Pong(_))) => self.ping_sent = None,
                    // Pings are answered by the socket itself.
                    Some(Ok(Message::Ping(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => self.end(Ended::ClientGone),
                },
                () = tokio::time::sleep_until(deadline) => self.on_deadline(),
                _ = shutdown.wait_for(|stop| *stop) => {
                    self.close_now(Ended::Shutdown, close::GOING_AWAY, "the server is shutting down");
                }
            }
        }
    }

    /// Says whether the client waits on something the server will send (the idle
    /// limit is for sockets that follow nothing).
    pub fn set_waiting(&mut self, waiting: bool) {
        if self.waiting && !waiting {
            self.last_activity = Instant::now();
        }
        self.waiting = waiting;
    }

    /// Why the socket ended, once it has.
    pub fn ended(&self) -> Option<Ended> {
        self.ended
    }

    /// Queues a close frame after what is queued, and ends the socket.
    pub async fn close(&mut self, code: u16, reason: &str) {
        if self.ended.is_some() {
            return;
        }
        if let Some(outbox) = &self.outbox
            && outbox.send_timeout(close_message(code, reason), self.config.slow_timeout()).await.is_err()
        {
            self.cut(Ended::Slow, close::POLICY, "too slow");
            return;
        }
        self.outbox = None;
        self.end(Ended::Done);
    }

    /// Lets what is queued go (a second at most past the last message), then the
    /// connection. Every handler ends with it.
    pub async fn finish(mut self) {
        if self.ended.is_none() {
            self.close(close::NORMAL, "").await;
        }
        self.outbox = None;
        let gone_quietly = matches!(self.ended, Some(Ended::Slow | Ended::NoPong));
        let writer = &mut self.writer;
        if tokio::time::timeout(self.config.slow_timeout() + CLOSE_GRACE, writer).await.is_err() {
            self.writer.abort();
        }
        if !gone_quietly {
            // The client's answering close, so that the closing handshake completes.
            let answer = async {
                while let Some(Ok(message)) = self.inbox.next().await {
                    if let Message::Close(_) = message {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(CLOSE_GRACE, answer).await;
        }
    }

    fn idle_at(&self) -> Option<Instant> {
        (!self.waiting).then(|| self.last_activity + self.config.idle_timeout())
    }

    fn deadline(&self) -> Instant {
        let ping = match self.ping_sent {
            Some(sent) => sent + self.config.pong_timeout(),
            None => self.next_ping,
        };
        self.idle_at().map_or(ping, |idle| idle.min(ping))
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        if self.idle_at().is_some_and(|idle| now >= idle) {
            let seconds = self.config.idle_timeout().as_secs_f64();
            self.close_now(Ended::Idle, close::NORMAL, &format!("idle for {seconds} s"));
            return;
        }
        match self.ping_sent {
            Some(sent) if now >= sent + self.config.pong_timeout() => {
                let waited = self.config.pong_timeout().as_millis();
                self.cut(Ended::NoPong, close::POLICY, &format!("no pong within {waited} ms"));
            }
            Some(_) => {}
            None if now >= self.next_ping => {
                // A full queue sends no ping, but the wait for its pong starts all
                // the same: a client that neither reads nor answers is gone.
                self.try_queue(Message::Ping(bytes::Bytes::from_static(b"atelier")));
                self.ping_sent = Some(now);
                self.next_ping = now + self.config.ping_interval();
            }
            None => {}
        }
    }

    fn try_queue(&self, message: Message) {
        if let Some(outbox) = &self.outbox {
            let _ = outbox.try_send(message);
        }
    }

    /// Closes after what is queued when there is room, else at once.
    fn close_now(&mut self, why: Ended, code: u16, reason: &str) {
        let queued = self.outbox.as_ref().is_some_and(|outbox| outbox.try_send(close_message(code, reason)).is_ok());
        if queued {
            self.outbox = None;
            self.end(why);
        } else {
            self.cut(why, code, reason);
        }
    }

    /// Drops the client now: what is queued is lost; a close frame goes if it can.
    fn cut(&mut self, why: Ended, code: u16, reason: &str) {
        tracing::info!(user = %self.user, ?why, reason, "WebSocket client dropped");
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(CloseFrame { code, reason: reason.to_owned().into() });
        }
        self.outbox = None;
        self.end(why);
    }

    fn end(&mut self, why: Ended) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some(why);
        count(&self.user, |counts| match why {
            Ended::Slow => counts.slow += 1,
            Ended::NoPong => counts.no_pong += 1,
            Ended::Idle => counts.idle += 1,
            Ended::ClientGone => counts.client_gone += 1,
            Ended::Shutdown | Ended::Done => {}
        });
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        count(&self.user, |counts| counts.open = counts.open.saturating_sub(1));
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    // A close frame's reason fits in 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame { code, reason: reason[..end].to_owned().into() }))
}

/// The writer: the queue's messages in order until a close goes or the queue ends;
/// a kill cuts it short, even in the middle of a write a slow client holds up.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    mut kill: oneshot::Receiver<CloseFrame>,
) {
    let killed = |frame: Result<CloseFrame, oneshot::error::RecvError>| frame.ok();
    loop {
        let message = tokio::select! {
            biased;
            frame = &mut kill => {
                last_words(&mut sink, killed(frame)).await;
                return;
            }
            message = queue.recv() => match message {
                Some(message) => message,
                None => {
                    let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
                    return;
                }
            },
        };
        let closing = matches!(message, Message::Close(_));
        tokio::select! {
            biased;
            frame = &mut kill => {
                last_words(&mut sink, killed(frame)).await;
                return;
            }
            sent = sink.send(message) => if sent.is_err() || closing {
                return;
            },
        }
    }
}

async fn last_words(sink: &mut SplitSink<WebSocket, Message>, frame: Option<CloseFrame>) {
    if let Some(frame) = frame {
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    }
}
