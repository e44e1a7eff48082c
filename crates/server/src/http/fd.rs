//! The open-file limit: raised at start from the soft limit to the hard one (the
//! common soft 1,024 would let about a thousand idle sockets lock everyone out),
//! and the connection cap it allows.

/// Files kept for everything but client connections (the database, the file
/// store, providers' and webhooks' connections, logs, ffmpeg's pipes): a quarter
/// of the limit, and never fewer than this.
const RESERVED_AT_LEAST: u64 = 128;

/// The default cap on connections when the limit is very high (many systems allow a
/// million files): each connection costs memory too.
const DEFAULT_CEILING: u64 = 65_536;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, logs what it is, and
/// returns the soft limit now in force (None where it cannot be read).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        let Some(soft) = before.current else {
            tracing::info!("open-file limit: unlimited");
            return None;
        };
        match before.maximum {
            Some(hard) if hard > soft => {
                let raised = rustix::process::Rlimit { current: Some(hard), maximum: Some(hard) };
                match setrlimit(Resource::Nofile, raised) {
                    Ok(()) => {
                        tracing::info!(from = soft, to = hard, "open-file limit raised to the hard limit");
                        Some(hard)
                    }
                    Err(error) => {
                        tracing::warn!(soft, hard, %error, "cannot raise the open-file limit; keeping it");
                        Some(soft)
                    }
                }
            }
            hard => {
                tracing::info!(soft, hard = ?hard, "open-file limit (already the hard limit)");
                Some(soft)
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connections `server.max_connections = 0` allows with `open_files` as
/// the limit: what is left after the reserve, at most [`DEFAULT_CEILING`].
pub fn default_max_connections(open_files: Option<u64>) -> usize {
    let Some(limit) = open_files else { return DEFAULT_CEILING as usize };
    let reserve = (limit / 4).max(RESERVED_AT_LEAST);
    let left = limit.saturating_sub(reserve).clamp(16, DEFAULT_CEILING);
    usize::try_from(left).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_room_for_the_servers_own_files() {
        assert_eq!(default_max_connections(Some(1024)), 768);
        assert_eq!(default_max_connections(Some(256)), 128);
        assert_eq!(default_max_connections(Some(20_000)), 15_000);
        assert_eq!(default_max_connections(Some(1 << 20)), 65_536);
        assert_eq!(default_max_connections(Some(64)), 16);
        assert_eq!(default_max_connections(None), 65_536);
    }
}
