//! Serving an emulator on a TCP listener, for every emulator: the accept loop,
//! one hyper connection per task (with HTTP upgrades, which ComfyUI's
//! WebSocket needs), and the per-connection [`ConnectionKill`] through which
//! the `reset` fault drops a connection without answering (a router served by
//! `axum::serve` cannot do that).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

/// Lets a handler drop the connection it is answering on (in every request's
/// extensions when served by [`accept_loop`]).
#[derive(Clone)]
pub(crate) struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    /// Drops the connection; never returns, as the connection's task drops this
    /// future together with the connection.
    pub(crate) async fn drop_connection<T>(&self) -> T {
        self.0.notify_one();
        std::future::pending::<T>().await
    }
}

/// The base URL a listener on `addr` is reached at (a wildcard address becomes loopback).
pub(crate) fn base_url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{ip}:{}", addr.port())
}

/// Serves `router` on `listener` until the process ends, one connection per
/// task. `name` (`kie emulator`) goes in the logs.
pub(crate) async fn accept_loop(listener: TcpListener, router: Router, name: &'static str) -> io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait a little, as axum::serve does.
                tracing::warn!(error = %e, "{name}: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(serve_connection(stream, peer, router.clone()));
    }
}

/// Serves one connection; a handler may drop it through the [`ConnectionKill`]
/// in the request's extensions (the `reset` fault).
async fn serve_connection(stream: TcpStream, peer: SocketAddr, router: Router) {
    let _ = stream.set_nodelay(true);
    // A dropped connection then resets (RST) instead of closing cleanly.
    let _ = stream.set_zero_linger();
    let kill = Arc::new(Notify::new());
    let handle = ConnectionKill(kill.clone());
    let service = router.map_request(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(handle.clone());
        request
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(peer = %peer, error = %e, "emulator: connection ended with an error");
            }
        }
        () = kill.notified() => {
            tracing::debug!(peer = %peer, "emulator: connection reset by a fault");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_from_listener_addresses() {
        assert_eq!(base_url_for("0.0.0.0:8080".parse().expect("addr")), "http://127.0.0.1:8080");
        assert_eq!(base_url_for("127.0.0.1:9".parse().expect("addr")), "http://127.0.0.1:9");
        assert_eq!(base_url_for("[::]:9".parse().expect("addr")), "http://[::1]:9");
    }
}
