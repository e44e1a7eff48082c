//! Accounts and security: users and roles, API keys, browser sessions, TOTP
//! two-factor, the audit log. Knows no HTTP and no SQL: the server maps requests
//! to these calls, the store keeps the rows.

mod model;
pub mod secrets;
mod service;
#[cfg(test)]
mod tests;
pub mod totp;

pub use model::{ApiKey, AuditEntry, Credential, Principal, Role, RoleLimits, Session, User, UserLimits};
pub use service::{AccountService, AccountSettings, CreatedKey, FirstRun, SignedIn, TotpEnrolment};
