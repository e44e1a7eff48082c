//! Accounts: users with a role, their API keys and browser sessions.

use serde::{Deserialize, Serialize};

use crate::ids::{ApiKeyId, SessionId, UserId};
use crate::time::Millis;

/// What a user (or a key) may do. Ordered: a viewer < a member < an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads its own work.
    Viewer,
    /// Creates and manages its own work.
    Member,
    /// Manages users, keys and providers; sees everyone's work.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Self::Viewer),
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower case, trimmed.
    pub email: String,
    pub role: Role,
    /// Argon2id PHC string; `None` until a password is set (the first admin signs
    /// in with a one-time link).
    pub password_hash: Option<String>,
    pub disabled: bool,
    /// The TOTP secret, encrypted with the server key; `Some` once enrolment began.
    pub totp_secret: Option<String>,
    /// Whether a first code confirmed the enrolment (sign-in then asks for codes).
    pub totp_enabled: bool,
    /// The TOTP step last accepted: a code is good once.
    pub totp_last_step: Option<i64>,
    pub created_at: Millis,
}

/// An API key as stored: its hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    /// The visible start of the key (`atl_1a2b3c4d5e6f`), to tell keys apart.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub secret_hash: String,
    /// The key's own role; it never acts above its user's.
    pub role: Role,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

/// A browser session as stored: its token's hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub token_hash: String,
    /// Sent back in `X-CSRF-Token` on every unsafe request made with the cookie.
    pub csrf_token: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub last_seen_at: Millis,
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    ApiKey(ApiKeyId),
    Session {
        id: SessionId,
        csrf_token: String,
    },
    /// A pipeline run acting for its owner (the tasks its phases make).
    Run(crate::ids::RunId),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub email: String,
    /// The effective role: the lower of the user's and the key's.
    pub role: Role,
    pub credential: Credential,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn can_write(&self) -> bool {
        self.role >= Role::Member
    }

    /// Whether this caller may see something `owner` owns: its own, or anything for
    /// an admin. Things with no owner (made before accounts existed) are admins'.
    pub fn may_see(&self, owner: Option<&UserId>) -> bool {
        self.is_admin() || owner == Some(&self.user_id)
    }
}

/// What one user may use, set per role; 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserLimits {
    /// Tasks waiting or running at once (seed 004's 429 "too many concurrent tasks").
    pub max_concurrent_tasks: u32,
    /// API requests per minute.
    pub requests_per_minute: u32,
    /// Tasks created per UTC day.
    pub daily_tasks: u64,
}

/// [`UserLimits`] for each role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleLimits {
    pub admin: UserLimits,
    pub member: UserLimits,
    pub viewer: UserLimits,
}

impl RoleLimits {
    pub fn for_role(&self, role: Role) -> UserLimits {
        match role {
            Role::Admin => self.admin,
            Role::Member => self.member,
            Role::Viewer => self.viewer,
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Millis,
    /// Who acted (`None`: the server itself, or an unknown caller).
    pub actor: Option<String>,
    /// `sign_in`, `sign_in_failed`, `key_created`, `key_revoked`, `totp_enabled`,
    /// `totp_disabled`, `role_changed`, `user_created`, …
    pub action: String,
    /// The user, key or record acted on.
    pub target: Option<String>,
    pub detail: serde_json::Value,
}
