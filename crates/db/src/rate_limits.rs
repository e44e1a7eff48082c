//! Rate limits counted in the database, so that a limit holds across every process
//! sharing it (issue 18): three workers must not send Kie 60 submits in 10 s when
//! it takes 20, and a user's requests a minute are counted once, whichever server
//! answers them.
//!
//! One row per scope (`rate_windows`): the times let through in the last window
//! and a version. A take reads the row, decides with the same [`Window`] the
//! in-process limiter uses, and writes the row back only if its version is still
//! the one read (`WHERE scope = ? AND version = ?`); when another process wrote
//! first, it reads again and decides again. So no slot is given twice, on either
//! backend, without holding a lock across round-trips.
//!
//! Each process remembers the row as it last read or wrote it: the usual take is
//! one statement (the conditional write), and a refusal from a full window is none
//! (what was remembered can only understate the row: other processes add times,
//! and only times past the window are ever dropped). The times are the callers'
//! clocks (Unix milliseconds), as leases are: processes are assumed to keep their
//! clocks in step (NTP); a skew of `d` can let a slot free up to `d` early.
//!
//! A row holds at most a window's worth of times (each write drops those past
//! it); there is one row per scope (a service, a user).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::ports::RateLimits;
use atelier_core::ratelimit::{RateLimit, Window};
use atelier_core::time::{Millis, now_millis};
use sqlx::Row;

use crate::connect::{Backend, Database};
use crate::error::storage;
use crate::params::{Param, Statement};

pub(crate) const READ_WINDOW: &str = "SELECT stamps, version FROM rate_windows WHERE scope = $1";
pub(crate) const UPDATE_WINDOW: &str =
    "UPDATE rate_windows SET stamps = $1, version = version + 1 WHERE scope = $2 AND version = $3";
const INSERT_WINDOW: &str =
    "INSERT INTO rate_windows (scope, stamps, version) VALUES ($1, $2, 1) ON CONFLICT (scope) DO NOTHING";

/// Scopes remembered at most; past it the memory starts again (a take then reads
/// its row once more).
const KNOWN_MAX: usize = 10_000;
/// Reads and writes a take tries beyond the limit itself before it gives up: each
/// write that loses means another took a slot, so a window fills (and a take turns
/// into a refusal, which writes nothing) within `requests` losses.
const SPARE_ATTEMPTS: usize = 16;

/// A scope's row as this process last saw it.
#[derive(Debug, Clone)]
struct Known {
    version: i64,
    window: Window,
}

/// The rate limits of one kind (`namespace`: `submit`, `requests`), counted in the
/// database. Scopes of different namespaces are apart.
pub struct DatabaseRateLimits {
    database: Database,
    namespace: String,
    known: Mutex<HashMap<String, Known>>,
}

impl DatabaseRateLimits {
    pub fn new(database: Database, namespace: &str) -> Self {
        Self { database, namespace: namespace.to_owned(), known: Mutex::default() }
    }

    /// Takes a slot in `scope`'s window at `now` (Unix milliseconds), or says how
    /// long until one frees up. [`RateLimits::acquire`] is this at the clock's time.
    pub async fn acquire_at(
        &self,
        scope: &str,
        limit: RateLimit,
        now: Millis,
    ) -> Result<Result<(), Duration>, CoreError> {
        let key = self.key(scope);
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner).get(&key).cloned();
        for _ in 0..limit.most().saturating_add(SPARE_ATTEMPTS) {
            let (version, mut window) = match known.take() {
                Some(known) => (Some(known.version), known.window),
                None => match self.read(&key).await? {
                    Some(known) => (Some(known.version), known.window),
                    None => (None, Window::default()),
                },
            };
            if let Err(wait) = window.take(now, limit) {
                if let Some(version) = version {
                    self.remember(&key, Known { version, window });
                }
                return Ok(Err(wait));
            }
            let stamps = encode(&window);
            let written = match version {
                Some(version) => self.write(UPDATE_WINDOW, stamps_key_version(stamps, &key, version)).await,
                None => self.write(INSERT_WINDOW, vec![Param::Text(key.clone()), Param::Text(stamps)]).await,
            };
            match written {
                Ok(true) => {
                    self.remember(&key, Known { version: version.map_or(1, |version| version + 1), window });
                    return Ok(Ok(()));
                }
                // Another process wrote first: read again.
                Ok(false) => tokio::task::yield_now().await,
                Err(error) => {
                    self.forget(&key);
                    return Err(storage("taking a rate limit's slot")(error));
                }
            }
        }
        self.forget(&key);
        Err(CoreError::Storage(format!("the rate window of {key} kept changing; try again")))
    }

    /// The times `scope`'s row holds, oldest first (some may be past the window:
    /// they are dropped at the next take).
    pub async fn held(&self, scope: &str) -> Result<Vec<Millis>, CoreError> {
        Ok(self.read(&self.key(scope)).await?.map(|known| known.window.stamps().collect()).unwrap_or_default())
    }

    fn key(&self, scope: &str) -> String {
        format!("{}/{scope}", self.namespace)
    }

    async fn read(&self, key: &str) -> Result<Option<Known>, CoreError> {
        let pool = match self.database.backend {
            Backend::Sqlite => &self.database.reader,
            Backend::Postgres => &self.database.writer,
        };
        let row = sqlx::query(READ_WINDOW)
            .bind(key.to_owned())
            .fetch_optional(pool)
            .await
            .map_err(storage("reading a rate window"))?;
        let Some(row) = row else { return Ok(None) };
        let stamps: String = row.try_get("stamps").map_err(storage("reading a rate window"))?;
        let version: i64 = row.try_get("version").map_err(storage("reading a rate window"))?;
        let window = decode(&stamps)
            .ok_or_else(|| CoreError::Storage(format!("the rate window of {key} is unreadable: {stamps:?}")))?;
        Ok(Some(Known { version, window }))
    }

    /// Runs a conditional write; whether it wrote a row. On SQLite it joins the
    /// group commit (one writer: no extra transaction); on PostgreSQL it is one
    /// statement in its own transaction.
    async fn write(&self, sql: &'static str, params: Vec<Param>) -> Result<bool, sqlx::Error> {
        let query = Statement::new(sql, params).query();
        let written = match self.database.backend {
            Backend::Sqlite => {
                self.database
                    .write(Box::new(move |connection| {
                        Box::pin(async move { query.execute(&mut *connection).await.map(|done| done.rows_affected()) })
                    }))
                    .await?
            }
            Backend::Postgres => query.execute(&self.database.writer).await?.rows_affected(),
        };
        Ok(written > 0)
    }

    fn remember(&self, key: &str, known: Known) {
        let mut all = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if all.len() >= KNOWN_MAX && !all.contains_key(key) {
            all.clear();
        }
        all.insert(key.to_owned(), known);
    }

    fn forget(&self, key: &str) {
        self.known.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

#[async_trait]
impl RateLimits for DatabaseRateLimits {
    async fn acquire(&self, scope: &str, limit: RateLimit) -> Result<Result<(), Duration>, CoreError> {
        self.acquire_at(scope, limit, now_millis()).await
    }
}

fn stamps_key_version(stamps: String, key: &str, version: i64) -> Vec<Param> {
    vec![Param::Text(stamps), Param::Text(key.to_owned()), Param::Number(version)]
}

/// A window as its row keeps it: the oldest time, then each next one as the step
/// from the one before (`1765101234567,12,0,305`): short, as a row is rewritten on
/// every take.
fn encode(window: &Window) -> String {
    let mut text = String::new();
    let mut previous = None;
    for at in window.stamps() {
        if previous.is_some() {
            text.push(',');
        }
        let _ = write!(text, "{}", previous.map_or(at, |previous| at - previous));
        previous = Some(at);
    }
    text
}

fn decode(text: &str) -> Option<Window> {
    let mut stamps = Vec::new();
    let mut previous: Option<Millis> = None;
    for part in text.split(',').filter(|part| !part.is_empty()) {
        let value: Millis = part.trim().parse().ok()?;
        let at = match previous {
            Some(previous) => previous.checked_add(value)?,
            None => value,
        };
        stamps.push(at);
        previous = Some(at);
    }
    Some(Window::from_stamps(stamps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_back_as_written() {
        let window = Window::from_stamps([1_765_101_234_567, 1_765_101_234_579, 1_765_101_234_579, 1_765_101_234_884]);
        let text = encode(&window);
        assert_eq!(text, "1765101234567,12,0,305");
        assert_eq!(decode(&text), Some(window));
        assert_eq!(decode(""), Some(Window::default()));
        assert_eq!(decode("12,x"), None);
    }
}
