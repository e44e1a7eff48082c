//! Identifier newtypes. Task ids are UUIDv7 (time ordered, as seed 004 shows them);
//! asset ids carry an `img_` prefix so that they read as seed 004's `image_id`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of a task: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub Uuid);

impl TaskId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The id of a stored asset (an output image, a thumbnail's parent, an upload).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AssetId(pub String);

impl AssetId {
    pub const PREFIX: &'static str = "img_";

    pub fn new() -> Self {
        Self(format!("{}{}", Self::PREFIX, Uuid::now_v7().simple()))
    }

    /// Accepts only ids of the shape this server hands out, so that a path
    /// segment never reaches storage unchecked.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(Self::PREFIX)?;
        (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for AssetId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of a file a client uploaded as a task input (`upl_<32 hex>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UploadId(pub String);

impl UploadId {
    pub const PREFIX: &'static str = "upl_";

    pub fn new() -> Self {
        Self(format!("{}{}", Self::PREFIX, Uuid::now_v7().simple()))
    }

    /// Accepts only ids of the shape this server hands out.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(Self::PREFIX)?;
        (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_ids_round_trip_and_reject_other_shapes() {
        let id = AssetId::new();
        assert_eq!(AssetId::parse(id.as_str()), Some(id));
        assert_eq!(AssetId::parse("img_../../etc/passwd"), None);
        assert_eq!(AssetId::parse("abc"), None);
    }

    #[test]
    fn task_ids_sort_by_creation() {
        let first = TaskId::new();
        let second = TaskId::new();
        assert!(first < second);
    }
}
