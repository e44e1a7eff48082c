//! `[log]`: the log's format and level, and where it goes: stderr, or files in a
//! directory, rotated (`crate::telemetry`).

use std::path::PathBuf;

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `atelier=debug,info`.
    pub level: String,
    /// Unset: the log goes to stderr. A directory: the log goes to files there
    /// (`atelier-serve.…log`, `atelier-worker.…log`), rotated.
    pub dir: Option<PathBuf>,
    /// When a new file starts: `daily`, `hourly` or `size` (at `max_size_mb`).
    pub rotation: Rotation,
    /// The largest file with `rotation = "size"`, in MiB.
    pub max_size_mb: u64,
    /// How many files are kept, the one being written included; older ones are
    /// deleted.
    pub keep: usize,
}

/// When a log file is closed and a new one started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    Daily,
    Hourly,
    /// When the file would grow past `max_size_mb`.
    Size,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
            dir: None,
            rotation: Rotation::Daily,
            max_size_mb: 100,
            keep: 7,
        }
    }
}

impl LogConfig {
    /// The values alone; whether `dir` can be written is checked when the log
    /// starts (`crate::telemetry::init`).
    pub fn validate(&self) -> anyhow::Result<()> {
        if !matches!(self.format.as_str(), "text" | "json") {
            bail!("log.format must be \"text\" or \"json\"");
        }
        if self.dir.as_ref().is_some_and(|dir| dir.as_os_str().is_empty()) {
            bail!("log.dir must name a directory (leave it unset to log to stderr)");
        }
        if self.rotation == Rotation::Size && self.max_size_mb == 0 {
            bail!("log.max_size_mb must be at least 1 with log.rotation = \"size\"");
        }
        if self.keep == 0 {
            bail!("log.keep must be at least 1 (the file being written)");
        }
        Ok(())
    }

    /// The largest file with size rotation, in bytes.
    pub fn max_size_bytes(&self) -> u64 {
        self.max_size_mb.saturating_mul(1 << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_key() {
        let size = LogConfig { rotation: Rotation::Size, max_size_mb: 0, ..LogConfig::default() };
        assert!(size.validate().expect_err("invalid").to_string().contains("log.max_size_mb"));
        // Without size rotation the size is not used.
        LogConfig { max_size_mb: 0, ..LogConfig::default() }.validate().expect("valid");
        let keep = LogConfig { keep: 0, ..LogConfig::default() };
        assert!(keep.validate().expect_err("invalid").to_string().contains("log.keep"));
        let format = LogConfig { format: "xml".into(), ..LogConfig::default() };
        assert!(format.validate().expect_err("invalid").to_string().contains("log.format"));
        let dir = LogConfig { dir: Some(PathBuf::new()), ..LogConfig::default() };
        assert!(dir.validate().expect_err("invalid").to_string().contains("log.dir"));
    }

    #[test]
    fn rotation_is_read_in_lowercase() {
        let config: LogConfig = toml::from_str("rotation = \"hourly\"\nkeep = 3").expect("parses");
        assert_eq!((config.rotation, config.keep), (Rotation::Hourly, 3));
        assert!(toml::from_str::<LogConfig>("rotation = \"weekly\"").is_err());
    }
}
