//! Several servers of one kind as one service (self-hosted Stable Diffusion
//! servers, ComfyUI): each piece of work goes to the server with the fewest of
//! Atelier's in flight, counted while a [`Busy`] guard lives.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use atelier_core::ports::{ErrorClass, ProviderError};

pub struct Server {
    pub url: String,
    in_flight: AtomicUsize,
}

impl Server {
    /// Counts one more piece of work on this server until the guard drops.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

/// One piece of work in flight on a server.
pub struct Busy(Arc<Server>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct Servers {
    servers: Vec<Arc<Server>>,
}

impl Servers {
    pub fn new(urls: &[String]) -> Self {
        Self {
            servers: urls
                .iter()
                .map(|url| Arc::new(Server { url: url.clone(), in_flight: AtomicUsize::new(0) }))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Server>> {
        self.servers.iter()
    }

    /// The server with the fewest of Atelier's pieces of work in flight (the first
    /// of equals); `unconfigured` says which setting to fill when there is none.
    pub fn pick(&self, unconfigured: &str) -> Result<Arc<Server>, ProviderError> {
        self.servers
            .iter()
            .min_by_key(|server| server.in_flight.load(Ordering::Relaxed))
            .cloned()
            .ok_or_else(|| ProviderError::new(ErrorClass::Unauthorized, format!("not configured: set {unconfigured}")))
    }

    /// The configured server with this base URL.
    pub fn find(&self, url: &str) -> Option<&Arc<Server>> {
        self.servers.iter().find(|server| server.url == url)
    }
}
