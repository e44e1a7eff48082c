//! Identifier newtypes. Task ids are UUIDv7 (time ordered, as seed 004 shows them);
//! other ids carry a prefix that says what they name (`img_` reads as seed 004's
//! `image_id`, `upl_`, `usr_`, `key_`, `ses_`, `prm_`, `run_`, `ver_`, `loc_`).

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

/// An id of the shape `<prefix><32 hex>` (a UUIDv7, so ids sort by creation).
/// `parse` accepts only that shape, so a path segment never reaches storage
/// unchecked.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn new() -> Self {
                Self(format!("{}{}", Self::PREFIX, Uuid::now_v7().simple()))
            }

            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix(Self::PREFIX)?;
                (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

prefixed_id!(
    /// A stored output (seed 004's `image_id`, whatever the media).
    AssetId,
    "img_"
);
prefixed_id!(
    /// A file a client uploaded as a task input.
    UploadId,
    "upl_"
);
prefixed_id!(
    /// A user account.
    UserId,
    "usr_"
);
prefixed_id!(
    /// An API key (its id, not the key).
    ApiKeyId,
    "key_"
);
prefixed_id!(
    /// A browser session (its id, not its token).
    SessionId,
    "ses_"
);
prefixed_id!(
    /// A prompt, a node of a prompt tree (seed 003).
    PromptId,
    "prm_"
);

prefixed_id!(
    /// A pipeline run (seed 001's request: a story becoming manga, phase by phase).
    RunId,
    "run_"
);
prefixed_id!(
    /// A version of a run's document: a phase's result or a change made to one
    /// (seed 001's `preview_versions`).
    VersionId,
    "ver_"
);
prefixed_id!(
    /// A stored location (seed 000's `location_data`): a point a user saved, searched
    /// for, or that a photo's Exif carried.
    LocationId,
    "loc_"
);
prefixed_id!(
    /// A webhook subscription: a user's endpoint and the events it wants.
    WebhookId,
    "whk_"
);
prefixed_id!(
    /// One webhook message: its delivery row, and the `webhook-id` a receiver
    /// deduplicates by (the same on every retry and resend).
    MessageId,
    "msg_"
);

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
