//! The account store: users, API keys, sessions, one-time sign-in links, recovery
//! codes and the audit log. Secrets are stored only as hashes (TOTP secrets
//! sealed with the server key).

use async_trait::async_trait;

use crate::account::{ApiKey, AuditEntry, Session, User};
use crate::error::Result;
use crate::ids::{ApiKeyId, SessionId, UserId};
use crate::time::Millis;

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn count_users(&self) -> Result<u64>;
    /// Inserts a user; a `Conflict` when the email is taken.
    async fn create_user(&self, user: &User) -> Result<()>;
    async fn get_user(&self, id: &UserId) -> Result<Option<User>>;
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Writes a user's role, password, disabled flag and TOTP state.
    async fn update_user(&self, user: &User) -> Result<bool>;

    async fn create_key(&self, key: &ApiKey) -> Result<()>;
    /// The key with this visible prefix (revoked or expired ones too).
    async fn find_key(&self, prefix: &str) -> Result<Option<ApiKey>>;
    /// Keys of one user, or of everyone; newest first.
    async fn list_keys(&self, user: Option<&UserId>) -> Result<Vec<ApiKey>>;
    async fn get_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>>;
    /// Revokes a key (once); returns it as it is now.
    async fn revoke_key(&self, id: &ApiKeyId, now: Millis) -> Result<Option<ApiKey>>;
    async fn touch_key(&self, id: &ApiKeyId, now: Millis) -> Result<()>;

    async fn create_session(&self, session: &Session) -> Result<()>;
    async fn find_session(&self, token_hash: &str) -> Result<Option<Session>>;
    async fn touch_session(&self, id: &SessionId, now: Millis) -> Result<()>;
    async fn delete_session(&self, id: &SessionId) -> Result<()>;
    /// Ends every session of a user (a password or two-factor change).
    async fn delete_sessions_of(&self, user: &UserId) -> Result<()>;

    /// Records a one-time sign-in link's token hash.
    async fn create_sign_in_link(&self, user: &UserId, token_hash: &str, expires_at: Millis) -> Result<()>;
    /// Uses a one-time link: its user when it exists, is unused and unexpired.
    async fn consume_sign_in_link(&self, token_hash: &str, now: Millis) -> Result<Option<UserId>>;

    /// Replaces a user's recovery codes (hashes).
    async fn set_recovery_codes(&self, user: &UserId, code_hashes: &[String]) -> Result<()>;
    /// Uses one recovery code: true when it was there, unused.
    async fn use_recovery_code(&self, user: &UserId, code_hash: &str, now: Millis) -> Result<bool>;

    async fn audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Newest first, before the entry id `before`.
    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>>;
}
