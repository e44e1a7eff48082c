//! Where rate limits are counted ([`crate::ratelimit`]): in this process
//! ([`crate::ratelimit::RateLimiter`]), or in the database, so that a limit holds
//! across every process sharing it (the store's adapter, one row per scope).

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::ratelimit::RateLimit;

#[async_trait]
pub trait RateLimits: Send + Sync + 'static {
    /// Takes a slot in `scope`'s window now: `Ok(Ok(()))`; or `Ok(Err(wait))` when
    /// the window holds `limit.requests` already and its oldest leaves in `wait`.
    /// A slot is never given to two callers, whichever processes they run in. An
    /// `Err` is the store's (it could not tell): the caller decides whether that
    /// lets the request through or holds it back.
    async fn acquire(&self, scope: &str, limit: RateLimit) -> Result<Result<(), Duration>>;
}
