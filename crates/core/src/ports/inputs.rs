//! Input files: images (or videos) a task's input refers to, which some providers
//! must receive through their own upload API first (seed 003: Kie's uploads by URL,
//! stream or base64, which expire after 3 days).
//!
//! A task input names a file by one of these references:
//! - an `http://` or `https://` URL;
//! - a `data:<mime>;base64,<data>` URI;
//! - an Atelier upload id (`upl_…`, from `POST /api/v1/uploads`);
//! - an Atelier output id (`img_…`), to chain one task's output into another;
//! - `task:<task id>`: that task's first output, once it completes (a task whose
//!   input names another task waits for it: text → image → 3D).
//!
//! Providers open references through [`InputFiles`], and remember what they
//! uploaded (with its expiry) so that the next task reuses it while it is fresh.

use async_trait::async_trait;
use bytes::Bytes;

use super::provider::ProviderError;
use crate::ids::{AssetId, TaskId, UploadId};
use crate::time::Millis;

/// A reference to an input file, as a task input writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputRef {
    Url(String),
    /// A `data:` URI, still encoded.
    DataUri(String),
    Upload(UploadId),
    Output(AssetId),
    /// A task's first primary output (`task:<id>`).
    Task(TaskId),
}

/// How an input names a task's output.
pub const TASK_REFERENCE: &str = "task:";

impl InputRef {
    /// Parses a reference; the error says what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(id) = UploadId::parse(text) {
            return Ok(Self::Upload(id));
        }
        if let Some(id) = AssetId::parse(text) {
            return Ok(Self::Output(id));
        }
        if let Some(id) = text.strip_prefix(TASK_REFERENCE) {
            return id.parse().map(Self::Task).map_err(|_| "a task reference must be task:<task id>".to_owned());
        }
        if let Some(rest) = text.strip_prefix("data:") {
            let Some((header, data)) = rest.split_once(',') else {
                return Err("a data URI must be data:<mime>;base64,<data>".into());
            };
            if !header.ends_with(";base64") || data.is_empty() {
                return Err("a data URI must be base64: data:<mime>;base64,<data>".into());
            }
            return Ok(Self::DataUri(text.to_owned()));
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            if text.len() > 2048 || url_host(text).is_none() {
                return Err("not a valid URL".into());
            }
            return Ok(Self::Url(text.to_owned()));
        }
        Err("must be an http(s) URL, a data: URI, an upload id (upl_…), an output id (img_…) or task:<task id>".into())
    }

    /// A stable key for the provider's upload cache: the URL, or the content
    /// hash once the file is opened (see [`InputFile::sha256`]).
    pub fn is_url(&self) -> bool {
        matches!(self, Self::Url(_))
    }
}

fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then_some(host)
}

/// An input file, opened.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub bytes: Bytes,
    pub mime: String,
    /// Hex SHA-256 of the bytes: the key of the provider's upload cache.
    pub sha256: String,
    /// A file name for multipart uploads, such as `upl_….png`.
    pub name: String,
}

/// A file a provider holds for us, until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUpload {
    pub url: String,
    pub expires_at: Millis,
}

/// The provider-side copy one of a task's input files went to the provider as
/// (seed 003, 3.4: the URL kept with its expiry, shown to the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputCopy {
    /// The file's place among the input's file references (0 first).
    pub position: u32,
    /// The reference as the input wrote it, shortened for a data URI
    /// ([`short_reference`]).
    pub reference: String,
    pub service: String,
    pub url: String,
    pub expires_at: Millis,
}

/// A provider-side copy of a file, as the user should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyState {
    /// More than a day left.
    Fresh,
    /// Expires within a day.
    Expiring,
    Expired,
}

impl CopyState {
    const DAY_MS: Millis = 24 * 3_600_000;

    pub fn of(expires_at: Millis, now: Millis) -> Self {
        if expires_at <= now {
            Self::Expired
        } else if expires_at - now <= Self::DAY_MS {
            Self::Expiring
        } else {
            Self::Fresh
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fresh => "fresh",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
        }
    }

    /// What it means for the user, when it needs saying.
    pub fn warning(self, service: &str) -> Option<String> {
        match self {
            Self::Fresh => None,
            Self::Expiring => Some(format!(
                "{service}'s copy of this file expires within a day; Atelier keeps the original and uploads it \
                 again the next time a task uses it"
            )),
            Self::Expired => Some(format!(
                "{service}'s copy of this file has expired; Atelier keeps the original and uploads it again the \
                 next time a task uses it"
            )),
        }
    }
}

/// A reference as a task's view shows it: a `data:` URI is shortened to its type
/// and size (`data:image/png;base64 (12034 bytes)`); others are kept whole.
pub fn short_reference(reference: &str) -> String {
    let reference = reference.trim();
    match reference.strip_prefix("data:").and_then(|rest| rest.split_once(',')) {
        Some((header, data)) => {
            let data = data.trim();
            let padding = data.bytes().rev().take_while(|byte| *byte == b'=').count();
            format!("data:{header} ({} bytes)", (data.len() / 4 * 3).saturating_sub(padding))
        }
        None => reference.to_owned(),
    }
}

#[async_trait]
pub trait InputFiles: Send + Sync + 'static {
    /// Opens a reference: reads an upload or an output from the asset store,
    /// decodes a data URI, or downloads a URL. Errors are `ClientError` (the
    /// input is wrong: no such file, not an allowed address, too large) or
    /// transport classes for downloads.
    async fn open(&self, reference: &InputRef) -> Result<InputFile, ProviderError>;
    /// A file this service already holds for `key` (a URL or a content hash) and
    /// that is still fresh for `margin_ms` more.
    async fn cached_upload(&self, service: &str, key: &str, margin_ms: i64) -> Option<ProviderUpload>;
    /// Records what the service now holds for `key`, until `expires_at`.
    async fn remember_upload(&self, service: &str, key: &str, upload: &ProviderUpload);
    /// Records the copy a task's input file went to the provider as, for the
    /// task's view. Best effort: a failure is logged, never the task's.
    async fn record_copy(&self, task: TaskId, copy: &InputCopy);
}

/// For runs with no storage behind them (benchmarks, examples, unit tests): every
/// reference is refused and nothing is remembered.
pub struct NoInputFiles;

#[async_trait]
impl InputFiles for NoInputFiles {
    async fn open(&self, _reference: &InputRef) -> Result<InputFile, ProviderError> {
        Err(ProviderError::new(
            super::provider::ErrorClass::ClientError,
            "input files cannot be opened here (no storage)",
        ))
    }

    async fn cached_upload(&self, _service: &str, _key: &str, _margin_ms: i64) -> Option<ProviderUpload> {
        None
    }

    async fn remember_upload(&self, _service: &str, _key: &str, _upload: &ProviderUpload) {}

    async fn record_copy(&self, _task: TaskId, _copy: &InputCopy) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_warns_a_day_before_it_expires() {
        let day = CopyState::DAY_MS;
        assert_eq!(CopyState::of(2 * day, 0), CopyState::Fresh);
        assert_eq!(CopyState::of(day, 0), CopyState::Expiring);
        assert_eq!(CopyState::of(0, 0), CopyState::Expired);
        assert_eq!(CopyState::Fresh.warning("kie"), None);
        assert!(CopyState::Expired.warning("kie").is_some_and(|text| text.contains("uploads it again")));
    }

    #[test]
    fn references_parse() {
        assert!(matches!(InputRef::parse("https://example.com/a.png"), Ok(InputRef::Url(_))));
        assert!(matches!(InputRef::parse("data:image/png;base64,iVBORw0KGgo="), Ok(InputRef::DataUri(_))));
        let upload = UploadId::new();
        assert_eq!(InputRef::parse(upload.as_str()), Ok(InputRef::Upload(upload)));
        let output = AssetId::new();
        assert_eq!(InputRef::parse(output.as_str()), Ok(InputRef::Output(output)));
        let task = TaskId::new();
        assert_eq!(InputRef::parse(&format!("task:{task}")), Ok(InputRef::Task(task)));
        assert!(InputRef::parse("task:nope").is_err());
        assert_eq!(short_reference("data:image/png;base64,aGVsbG8h"), "data:image/png;base64 (6 bytes)");
        assert_eq!(short_reference("data:image/png;base64,aGVsbG8="), "data:image/png;base64 (5 bytes)");
        assert_eq!(short_reference(" upl_1 "), "upl_1");
        for bad in ["ftp://x/y", "data:image/png,abc", "https://", "/etc/passwd", "img_123", ""] {
            assert!(InputRef::parse(bad).is_err(), "{bad}");
        }
    }
}
