//! An account store in memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::account::{ApiKey, AuditEntry, Session, User};
use crate::error::{CoreError, Result};
use crate::ids::{ApiKeyId, SessionId, UserId};
use crate::ports::AccountStore;
use crate::time::Millis;

#[derive(Default)]
struct State {
    users: Vec<User>,
    keys: Vec<ApiKey>,
    sessions: Vec<Session>,
    /// Token hash → (user, expires at, used).
    links: HashMap<String, (UserId, Millis, bool)>,
    /// User → (code hash, used).
    recovery: HashMap<UserId, Vec<(String, bool)>>,
    audit: Vec<AuditEntry>,
}

#[derive(Default)]
pub struct MemoryAccounts {
    state: Mutex<State>,
}

impl MemoryAccounts {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl AccountStore for MemoryAccounts {
    async fn count_users(&self) -> Result<u64> {
        Ok(self.lock().users.len() as u64)
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let mut state = self.lock();
        if state.users.iter().any(|u| u.email == user.email) {
            return Err(CoreError::Conflict { code: "email_taken", message: format!("{} is taken", user.email) });
        }
        state.users.push(user.clone());
        Ok(())
    }

    async fn get_user(&self, id: &UserId) -> Result<Option<User>> {
        Ok(self.lock().users.iter().find(|u| &u.id == id).cloned())
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        Ok(self.lock().users.iter().find(|u| u.email == email).cloned())
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        Ok(self.lock().users.clone())
    }

    async fn update_user(&self, user: &User) -> Result<bool> {
        let mut state = self.lock();
        let Some(stored) = state.users.iter_mut().find(|u| u.id == user.id) else { return Ok(false) };
        *stored = user.clone();
        Ok(true)
    }

    async fn create_key(&self, key: &ApiKey) -> Result<()> {
        self.lock().keys.push(key.clone());
        Ok(())
    }

    async fn find_key(&self, prefix: &str) -> Result<Option<ApiKey>> {
        Ok(self.lock().keys.iter().find(|k| k.prefix == prefix).cloned())
    }

    async fn list_keys(&self, user: Option<&UserId>) -> Result<Vec<ApiKey>> {
        let state = self.lock();
        let mut keys: Vec<ApiKey> =
            state.keys.iter().filter(|k| user.is_none_or(|user| &k.user_id == user)).cloned().collect();
        keys.sort_by_key(|key| std::cmp::Reverse(key.created_at));
        Ok(keys)
    }

    async fn get_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        Ok(self.lock().keys.iter().find(|k| &k.id == id).cloned())
    }

    async fn revoke_key(&self, id: &ApiKeyId, now: Millis) -> Result<Option<ApiKey>> {
        let mut state = self.lock();
        let Some(key) = state.keys.iter_mut().find(|k| &k.id == id) else { return Ok(None) };
        key.revoked_at = key.revoked_at.or(Some(now));
        Ok(Some(key.clone()))
    }

    async fn touch_key(&self, id: &ApiKeyId, now: Millis) -> Result<()> {
        if let Some(key) = self.lock().keys.iter_mut().find(|k| &k.id == id) {
            key.last_used_at = Some(now);
        }
        Ok(())
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        self.lock().sessions.push(session.clone());
        Ok(())
    }

    async fn find_session(&self, token_hash: &str) -> Result<Option<Session>> {
        Ok(self.lock().sessions.iter().find(|s| s.token_hash == token_hash).cloned())
    }

    async fn touch_session(&self, id: &SessionId, now: Millis) -> Result<()> {
        if let Some(session) = self.lock().sessions.iter_mut().find(|s| &s.id == id) {
            session.last_seen_at = now;
        }
        Ok(())
    }

    async fn delete_session(&self, id: &SessionId) -> Result<()> {
        self.lock().sessions.retain(|s| &s.id != id);
        Ok(())
    }

    async fn delete_sessions_of(&self, user: &UserId) -> Result<()> {
        self.lock().sessions.retain(|s| &s.user_id != user);
        Ok(())
    }

    async fn create_sign_in_link(&self, user: &UserId, token_hash: &str, expires_at: Millis) -> Result<()> {
        self.lock().links.insert(token_hash.to_owned(), (user.clone(), expires_at, false));
        Ok(())
    }

    async fn consume_sign_in_link(&self, token_hash: &str, now: Millis) -> Result<Option<UserId>> {
        let mut state = self.lock();
        let Some((user, expires_at, used)) = state.links.get_mut(token_hash) else { return Ok(None) };
        if *used || *expires_at <= now {
            return Ok(None);
        }
        *used = true;
        Ok(Some(user.clone()))
    }

    async fn set_recovery_codes(&self, user: &UserId, code_hashes: &[String]) -> Result<()> {
        let codes = code_hashes.iter().map(|hash| (hash.clone(), false)).collect();
        self.lock().recovery.insert(user.clone(), codes);
        Ok(())
    }

    async fn use_recovery_code(&self, user: &UserId, code_hash: &str, _now: Millis) -> Result<bool> {
        let mut state = self.lock();
        let Some(codes) = state.recovery.get_mut(user) else { return Ok(false) };
        match codes.iter_mut().find(|(hash, used)| hash == code_hash && !*used) {
            Some((_, used)) => {
                *used = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<()> {
        let mut state = self.lock();
        let id = state.audit.len() as i64 + 1;
        state.audit.push(AuditEntry { id, ..entry.clone() });
        Ok(())
    }

    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let state = self.lock();
        let entries = state.audit.iter().rev().filter(|e| before.is_none_or(|before| e.id < before));
        Ok(entries.take(limit as usize).cloned().collect())
    }
}
