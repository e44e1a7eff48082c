//! ComfyUI's WebSocket, `GET /ws?clientId=<id>` (RFC 6455, written here: the
//! crate has no WebSocket library, and this side needs little: the
//! handshake, unmasked text frames out, masked frames in for pings and
//! closes). Messages are JSON text frames `{"type":…,"data":…}`.
//!
//! As the server does (`server.py`, confirmed): a client without `clientId`
//! gets a random one (`uuid4().hex`); on connect it gets
//! `{"type":"status","data":{"status":{"exec_info":{"queue_remaining":n}},"sid":"<id>"}}`,
//! and, when the running prompt is its own, `{"type":"executing","data":{"node":"<id>"}}`;
//! each change of the queue sends every client `status` (without `sid`); a
//! prompt's messages go to the client whose `client_id` queued it (see
//! `execute.rs`). A second connection with the same id takes the messages
//! over; the first stays open, silent. What clients send is read and
//! ignored, but for pings (answered) and closes (echoed).
//!
//! The server's binary preview frames are not sent. A `restart` closes every
//! WebSocket without a close frame (the connection is reset).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::ComfyUiState;
use super::errors;
use super::execute::restarted;

/// RFC 6455's GUID, appended to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The most a client's frame may carry.
const MAX_FRAME: u64 = 16 * 1024 * 1024;

/// What goes out on one WebSocket.
#[derive(Debug)]
pub(super) enum Outgoing {
    Text(String),
    Pong(Vec<u8>),
    Close(Vec<u8>),
}

/// The open WebSockets, by client id (`PromptServer.sockets`).
#[derive(Debug, Default)]
pub(super) struct Sockets {
    next: u64,
    open: HashMap<String, (u64, mpsc::UnboundedSender<Outgoing>)>,
}

/// `{"type": kind, "data": data}`.
fn message(kind: &str, data: &Value) -> String {
    json!({ "type": kind, "data": data }).to_string()
}

impl Sockets {
    /// Registers a connection for `sid`, its first messages queued before
    /// anything else can be: its number and its channel.
    fn register(
        &mut self,
        sid: &str,
        greeting: Vec<String>,
    ) -> (u64, mpsc::UnboundedSender<Outgoing>, mpsc::UnboundedReceiver<Outgoing>) {
        let (tx, rx) = mpsc::unbounded_channel();
        for text in greeting {
            let _ = tx.send(Outgoing::Text(text));
        }
        self.next += 1;
        self.open.insert(sid.to_owned(), (self.next, tx.clone()));
        (self.next, tx, rx)
    }

    fn unregister(&mut self, sid: &str, connection: u64) {
        if self.open.get(sid).is_some_and(|(n, _)| *n == connection) {
            self.open.remove(sid);
        }
    }

    /// Sends a message to client `to`, or to every client (`None`).
    pub(super) fn send(&self, to: Option<&str>, kind: &str, data: &Value) {
        let text = message(kind, data);
        match to {
            Some(sid) => {
                if let Some((_, tx)) = self.open.get(sid) {
                    let _ = tx.send(Outgoing::Text(text));
                }
            }
            None => {
                for (_, tx) in self.open.values() {
                    let _ = tx.send(Outgoing::Text(text.clone()));
                }
            }
        }
    }

    /// Forgets every connection (a restart; the connections see the epoch move and close).
    pub(super) fn close_all(&mut self) {
        self.open.clear();
    }
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub(super) fn accept_key(key: &str) -> String {
    STANDARD.encode(sha1(format!("{key}{GUID}").as_bytes()))
}

/// SHA-1 (FIPS 180-4), for the handshake only.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut message = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// One unmasked frame (server to client), final.
pub(super) fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Reads one frame: its opcode and its (unmasked) payload.
async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).await?;
    let opcode = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => {
            let mut n = [0u8; 2];
            reader.read_exact(&mut n).await?;
            u64::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0u8; 8];
            reader.read_exact(&mut n).await?;
            u64::from_be_bytes(n)
        }
        n => u64::from(n),
    };
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too large"));
    }
    let mut mask = [0u8; 4];
    if masked {
        reader.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload).await?;
    if masked {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    Ok((opcode, payload))
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// `GET /ws`: the handshake; the connection runs in its own task once upgraded.
pub(super) async fn handshake(
    State(state): State<Arc<ComfyUiState>>,
    Query(query): Query<HashMap<String, String>>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    if !header_has(headers, header::UPGRADE, "websocket") {
        let given = headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("None");
        return errors::text(
            400,
            &format!("No WebSocket UPGRADE hdr: {given}\n Can \"Upgrade\" only to \"WebSocket\"."),
        );
    }
    if !header_has(headers, header::CONNECTION, "upgrade") {
        let given = headers.get(header::CONNECTION).and_then(|v| v.to_str().ok()).unwrap_or("None");
        return errors::text(400, &format!("No CONNECTION upgrade hdr: {given}"));
    }
    let version = headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()).unwrap_or("");
    if version != "13" {
        return errors::text(400, &format!("Unsupported version: {version}"));
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_owned();
    if STANDARD.decode(&key).map(|k| k.len()) != Ok(16) {
        return errors::text(400, &format!("Handshake error: '{key}'"));
    }
    let sid = match query.get("clientId").filter(|id| !id.is_empty()) {
        Some(id) => id.clone(),
        None => state.uuid4().replace('-', ""),
    };
    let upgrade = hyper::upgrade::on(&mut request);
    let epoch = state.epoch.subscribe();
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => connection(state, sid, TokioIo::new(upgraded), epoch).await,
            Err(e) => tracing::debug!(error = %e, "comfyui emulator: no WebSocket upgrade (served without `serve`?)"),
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let out = response.headers_mut();
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept_key(&key)) {
        out.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    *response.body_mut() = Body::empty();
    response
}

/// One open WebSocket, until the client leaves or the server restarts.
async fn connection<S>(state: Arc<ComfyUiState>, sid: String, io: S, mut epoch: watch::Receiver<u64>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut greeting = vec![message(
        "status",
        &json!({ "status": { "exec_info": { "queue_remaining": state.queue_remaining() } }, "sid": sid }),
    )];
    let executing = state
        .inner()
        .running
        .as_ref()
        .filter(|r| r.queued.client_id().as_deref() == Some(sid.as_str()))
        .and_then(|r| r.last_node.clone());
    if let Some(node) = executing {
        greeting.push(message("executing", &json!({ "node": node })));
    }
    let (number, tx, mut rx) = state.sockets().register(&sid, greeting);
    {
        let mut inner = state.inner();
        inner.stats.ws_connections += 1;
        inner.stats.ws_open += 1;
    }
    tracing::debug!(sid = %sid, "comfyui emulator: WebSocket open");

    let (mut reader, mut writer) = tokio::io::split(io);
    let reading = tokio::spawn(async move {
        loop {
            match read_frame(&mut reader).await {
                Ok((0x8, payload)) => {
                    let _ = tx.send(Outgoing::Close(payload.into_iter().take(2).collect()));
                    return;
                }
                Ok((0x9, payload)) => {
                    let _ = tx.send(Outgoing::Pong(payload));
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = tx.send(Outgoing::Close(Vec::new()));
                    return;
                }
            }
        }
    });
    let mut restarted_now = false;
    loop {
        // What is already queued goes out first.
        let out = tokio::select! {
            biased;
            out = rx.recv() => out,
            () = restarted(&mut epoch) => {
                restarted_now = true;
                None
            }
        };
        let Some(out) = out else { break };
        let (opcode, payload, last) = match out {
            Outgoing::Text(text) => (0x1, text.into_bytes(), false),
            Outgoing::Pong(payload) => (0xA, payload, false),
            Outgoing::Close(payload) => (0x8, payload, true),
        };
        if writer.write_all(&frame(opcode, &payload)).await.is_err() || last {
            break;
        }
    }
    if !restarted_now {
        let _ = writer.shutdown().await;
    }
    reading.abort();
    state.sockets().unregister(&sid, number);
    let mut inner = state.inner();
    inner.stats.ws_open = inner.stats.ws_open.saturating_sub(1);
    tracing::debug!(sid = %sid, restarted = restarted_now, "comfyui emulator: WebSocket closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_and_the_rfc_accept_key() {
        let hex = |d: [u8; 20]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let long = vec![b'a'; 1000];
        assert_eq!(hex(sha1(&long)), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[tokio::test]
    async fn frames_round_trip() {
        for len in [0usize, 5, 125, 126, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let written = frame(0x1, &payload);
            let (opcode, read) = read_frame(&mut written.as_slice()).await.expect("a frame");
            assert_eq!((opcode, read.len()), (0x1, len));
            assert_eq!(read, payload);
        }
        // A client's masked frame.
        let mask = [1u8, 2, 3, 4];
        let text = b"hello";
        let mut masked = vec![0x81, 0x80 | text.len() as u8];
        masked.extend_from_slice(&mask);
        masked.extend(text.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let (opcode, read) = read_frame(&mut masked.as_slice()).await.expect("a frame");
        assert_eq!((opcode, read.as_slice()), (0x1, &text[..]));
    }

    #[test]
    fn messages_go_to_their_client_or_everyone() {
        let mut sockets = Sockets::default();
        let (_, _tx_a, mut a) = sockets.register("a", vec!["hi".into()]);
        let (_, _tx_b, mut b) = sockets.register("b", Vec::new());
        sockets.send(Some("a"), "executing", &json!({ "node": "3" }));
        sockets.send(None, "status", &json!({}));
        let texts = |rx: &mut mpsc::UnboundedReceiver<Outgoing>| {
            let mut out = Vec::new();
            while let Ok(Outgoing::Text(t)) = rx.try_recv() {
                out.push(t);
            }
            out
        };
        assert_eq!(
            texts(&mut a),
            ["hi", r#"{"data":{"node":"3"},"type":"executing"}"#, r#"{"data":{},"type":"status"}"#]
        );
        assert_eq!(texts(&mut b), [r#"{"data":{},"type":"status"}"#]);
    }
}
