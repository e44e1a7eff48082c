//! The account operations and their rules: who may do what, how credentials are
//! checked, what is audited.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;

use super::model::{ApiKey, AuditEntry, Credential, Principal, Role, Session, User};
use super::{secrets, totp};
use crate::error::{CoreError, Result};
use crate::ids::{ApiKeyId, SessionId, UserId};
use crate::ports::AccountStore;
use crate::time::{Millis, now_millis};

#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub session_ttl: Duration,
    /// Failed sign-ins (or two-factor codes) allowed per account per window…
    pub max_failures: u32,
    /// …before further tries answer 429 for the rest of the window.
    pub failure_window: Duration,
    /// How long the first run's one-time sign-in link works.
    pub sign_in_link_ttl: Duration,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            max_failures: 5,
            failure_window: Duration::from_secs(300),
            sign_in_link_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// What the first start of an empty server made: an admin, a one-time sign-in
/// token for the browser, and a key for the local CLI.
#[derive(Debug)]
pub struct FirstRun {
    pub admin: User,
    pub sign_in_token: String,
    pub cli_key: String,
}

/// A key as created: the only time the key itself is seen.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// A signed-in browser session: the token goes in the cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub session: Session,
    pub token: String,
    pub user: User,
}

/// A TOTP enrolment under way.
#[derive(Debug)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// Failed attempts per account, in memory (per process: a sign-in is answered by
/// whichever process gets it, so the bound is per process).
#[derive(Default)]
struct Failures {
    by_key: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Failures {
    fn check(&self, key: &str, settings: &AccountSettings) -> Result<()> {
        let mut map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        let recent = map.entry(key.to_owned()).or_default();
        recent.retain(|at| at.elapsed() < settings.failure_window);
        if recent.len() >= settings.max_failures as usize {
            let oldest = recent.first().copied().unwrap_or_else(Instant::now);
            let wait = settings.failure_window.saturating_sub(oldest.elapsed()).max(Duration::from_secs(1));
            return Err(CoreError::Overloaded {
                message: "too many failed attempts; wait before trying again".into(),
                retry_after: wait,
            });
        }
        Ok(())
    }

    fn record(&self, key: &str) {
        let mut map = self.by_key.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(key.to_owned()).or_default().push(Instant::now());
    }

    fn clear(&self, key: &str) {
        self.by_key.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

pub struct AccountService {
    store: Arc<dyn AccountStore>,
    secret_box: secrets::SecretBox,
    settings: AccountSettings,
    failures: Failures,
    /// Keys checked in the last [`KEY_CACHE_TTL`], by the hash of the key: a status
    /// read should not cost two extra queries. Revoking a key, or changing or
    /// disabling its user, through this process empties the entry at once; another
    /// process sees the change within the TTL.
    key_cache: Mutex<HashMap<String, CachedKey>>,
}

/// How long a checked key is trusted without asking the store again.
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
const KEY_CACHE_MAX: usize = 10_000;

#[derive(Clone)]
struct CachedKey {
    principal: Principal,
    expires_at: Option<Millis>,
    checked: Instant,
}

fn unauthorized(message: &str) -> CoreError {
    CoreError::Unauthenticated { code: "unauthorized", message: message.to_owned() }
}

fn forbidden(message: impl Into<String>) -> CoreError {
    CoreError::Forbidden { message: message.into() }
}

fn duration_millis(duration: Duration) -> Millis {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Changing how an account signs in (password, two-factor) takes the account's
/// whole standing: a key scoped below its user (a member's viewer key) must not
/// set a password and sign in with it, reaching the user's full role.
fn require_full_standing(principal: &Principal, user: &User) -> Result<()> {
    if principal.role < user.role {
        return Err(forbidden(format!(
            "a {} key of a {} cannot change how the account signs in",
            principal.role, user.role
        )));
    }
    Ok(())
}

/// Lower case, trimmed, and shaped like an address.
pub fn normalise_email(email: &str) -> Result<String> {
    let email = email.trim().to_ascii_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace);
    if !valid {
        return Err(CoreError::invalid("email", "must be an email address"));
    }
    Ok(email)
}

fn check_password_rules(password: &str) -> Result<()> {
    let length = password.chars().count();
    if !(10..=256).contains(&length) {
        return Err(CoreError::invalid("password", "must be 10 to 256 characters"));
    }
    Ok(())
}

impl AccountService {
    pub fn new(store: Arc<dyn AccountStore>, secret_box: secrets::SecretBox, settings: AccountSettings) -> Self {
        Self { store, secret_box, settings, failures: Failures::default(), key_cache: Mutex::default() }
    }

    pub fn store(&self) -> &Arc<dyn AccountStore> {
        &self.store
    }

    async fn audit(&self, actor: Option<&UserId>, action: &str, target: Option<String>, detail: serde_json::Value) {
        let entry = AuditEntry {
            id: 0,
            at: now_millis(),
            actor: actor.map(ToString::to_string),
            action: action.to_owned(),
            target,
            detail,
        };
        if let Err(error) = self.store.audit(&entry).await {
            tracing::error!(%error, action, "could not write the audit log");
        }
    }

    /// On an empty server: an admin, a one-time sign-in link and a CLI key.
    /// `None` when users exist.
    pub async fn first_run(&self) -> Result<Option<FirstRun>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let admin = self.create_user(None, "admin@localhost", None, Role::Admin).await?;
        let cli = self.create_key_for(None, &admin, "local CLI", Role::Admin, None).await?;
        let token = secrets::new_token();
        let expires = now_millis() + duration_millis(self.settings.sign_in_link_ttl);
        self.store.create_sign_in_link(&admin.id, &secrets::token_hash(&token), expires).await?;
        Ok(Some(FirstRun { admin, sign_in_token: token, cli_key: cli.secret }))
    }

    /// Creates a user (admins only, or the server itself when `actor` is `None`).
    pub async fn create_user(
        &self,
        actor: Option<&Principal>,
        email: &str,
        password: Option<&str>,
        role: Role,
    ) -> Result<User> {
        if let Some(actor) = actor
            && !actor.is_admin()
        {
            return Err(forbidden("only an admin creates users"));
        }
        let email = normalise_email(email)?;
        let password_hash = match password {
            Some(password) => {
                check_password_rules(password)?;
                Some(secrets::hash_password(password).map_err(|e| CoreError::Storage(format!("hashing: {e}")))?)
            }
            None => None,
        };
        let user = User {
            id: UserId::new(),
            email,
            role,
            password_hash,
            disabled: false,
            totp_secret: None,
            totp_enabled: false,
            totp_last_step: None,
            created_at: now_millis(),
        };
        self.store.create_user(&user).await?;
        self.audit(
            actor.map(|a| &a.user_id),
            "user_created",
            Some(user.id.to_string()),
            json!({ "email": user.email, "role": role }),
        )
        .await;
        Ok(user)
    }

    /// The user with this email, created (as `role`) when missing: for the offline
    /// `atelier admin create-key`.
    pub async fn user_for_cli(&self, email: &str, role: Role) -> Result<User> {
        let email = normalise_email(email)?;
        match self.store.find_user_by_email(&email).await? {
            Some(user) => Ok(user),
            None => self.create_user(None, &email, None, role).await,
        }
    }

    async fn create_key_for(
        &self,
        actor: Option<&UserId>,
        user: &User,
        name: &str,
        role: Role,
        expires_at: Option<Millis>,
    ) -> Result<CreatedKey> {
        let (secret, prefix) = secrets::new_api_key();
        let key = ApiKey {
            id: ApiKeyId::new(),
            user_id: user.id.clone(),
            name: name.trim().chars().take(100).collect(),
            prefix,
            secret_hash: secrets::token_hash(&secret),
            role: role.min(user.role),
            created_at: now_millis(),
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        self.store.create_key(&key).await?;
        self.audit(
            actor,
            "key_created",
            Some(key.id.to_string()),
            json!({ "user": user.id, "prefix": key.prefix, "role": key.role, "expires_at": expires_at }),
        )
        .await;
        Ok(CreatedKey { key, secret })
    }

    /// A key for a user without a caller (the offline CLI).
    pub async fn create_key_offline(&self, user: &User, name: &str, role: Role) -> Result<CreatedKey> {
        self.create_key_for(None, user, name, role, None).await
    }

    /// Creates a key for `owner` (the caller itself unless an admin names another
    /// user), with at most the owner's role.
    pub async fn create_key(
        &self,
        actor: &Principal,
        owner: Option<&UserId>,
        name: &str,
        role: Option<Role>,
        expires_at: Option<Millis>,
    ) -> Result<CreatedKey> {
        let owner_id = owner.unwrap_or(&actor.user_id);
        if owner_id != &actor.user_id && !actor.is_admin() {
            return Err(forbidden("only an admin creates keys for other users"));
        }
        if expires_at.is_some_and(|at| at <= now_millis()) {
            return Err(CoreError::invalid("expires_at", "must be in the future"));
        }
        let user = self.store.get_user(owner_id).await?.ok_or(CoreError::NotFound { what: "user" })?;
        // A key never exceeds the caller's own standing either.
        let role = role.unwrap_or(user.role).min(user.role).min(actor.role.max(Role::Viewer));
        self.create_key_for(Some(&actor.user_id), &user, name, role, expires_at).await
    }

    pub async fn list_keys(&self, actor: &Principal, all: bool) -> Result<Vec<ApiKey>> {
        if all && !actor.is_admin() {
            return Err(forbidden("only an admin lists everyone's keys"));
        }
        self.store.list_keys(if all { None } else { Some(&actor.user_id) }).await
    }

    /// Revokes a key: one's own, or any for an admin. Another user's key is "not
    /// found" to a non-admin.
    pub async fn revoke_key(&self, actor: &Principal, id: &ApiKeyId) -> Result<ApiKey> {
        let key = self.store.get_key(id).await?.filter(|k| actor.may_see(Some(&k.user_id)));
        let key = key.ok_or(CoreError::NotFound { what: "key" })?;
        if key.role > actor.role {
            // A limited key may not revoke its user's stronger keys.
            return Err(forbidden(format!("a {} key cannot revoke a {} key", actor.role, key.role)));
        }
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        let revoked = self.store.revoke_key(id, now_millis()).await?.ok_or(CoreError::NotFound { what: "key" })?;
        self.forget_keys(None, Some(id));
        self.audit(Some(&actor.user_id), "key_revoked", Some(id.to_string()), json!({ "prefix": key.prefix })).await;
        Ok(revoked)
    }

    /// Checks `Authorization: Bearer <key>`.
    pub async fn authenticate_key(&self, presented: &str) -> Result<Principal> {
        let presented = presented.trim();
        let prefix = secrets::key_prefix(presented).ok_or_else(|| unauthorized("not an Atelier API key"))?;
        let presented_hash = secrets::token_hash(presented);
        let cached = self.key_cache.lock().unwrap_or_else(PoisonError::into_inner).get(&presented_hash).cloned();
        if let Some(cached) = cached
            && cached.checked.elapsed() < KEY_CACHE_TTL
            && cached.expires_at.is_none_or(|at| at > now_millis())
        {
            return Ok(cached.principal);
        }
        let key = self.store.find_key(prefix).await?.ok_or_else(|| unauthorized("unknown API key"))?;
        if !secrets::same_hash(&key.secret_hash, &presented_hash) {
            return Err(unauthorized("unknown API key"));
        }
        let now = now_millis();
        if key.revoked_at.is_some() {
            return Err(unauthorized("this API key was revoked"));
        }
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(unauthorized("this API key has expired"));
        }
        let user = self.store.get_user(&key.user_id).await?.ok_or_else(|| unauthorized("unknown API key"))?;
        if user.disabled {
            return Err(unauthorized("this account is disabled"));
        }
        // Last use, at most once a minute per key: a status read must not cost a write.
        if key.last_used_at.is_none_or(|at| now - at > 60_000)
            && let Err(error) = self.store.touch_key(&key.id, now).await
        {
            tracing::warn!(%error, "could not record a key's last use");
        }
        let principal = Principal {
            user_id: user.id,
            email: user.email,
            role: key.role.min(user.role),
            credential: Credential::ApiKey(key.id),
        };
        let mut cache = self.key_cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= KEY_CACHE_MAX {
            cache.clear();
        }
        cache.insert(
            presented_hash,
            CachedKey { principal: principal.clone(), expires_at: key.expires_at, checked: Instant::now() },
        );
        Ok(principal)
    }

    /// Forgets cached keys of a user (`None`: every user) or one key.
    fn forget_keys(&self, user: Option<&UserId>, key: Option<&ApiKeyId>) {
        let mut cache = self.key_cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|_, cached| {
            let same_user = user.is_some_and(|u| &cached.principal.user_id == u);
            let same_key = key.is_some_and(|k| cached.principal.credential == Credential::ApiKey(k.clone()));
            !(same_user || same_key)
        });
    }

    /// Checks a session cookie's token.
    pub async fn authenticate_session(&self, token: &str) -> Result<Principal> {
        let session = self
            .store
            .find_session(&secrets::token_hash(token))
            .await?
            .ok_or_else(|| unauthorized("no session; sign in"))?;
        let now = now_millis();
        if session.expires_at <= now {
            let _ = self.store.delete_session(&session.id).await;
            return Err(unauthorized("the session has expired; sign in again"));
        }
        let user = self.store.get_user(&session.user_id).await?.ok_or_else(|| unauthorized("no session; sign in"))?;
        if user.disabled {
            return Err(unauthorized("this account is disabled"));
        }
        if now - session.last_seen_at > 60_000 {
            let _ = self.store.touch_session(&session.id, now).await;
        }
        Ok(Principal {
            user_id: user.id,
            email: user.email,
            role: user.role,
            credential: Credential::Session { id: session.id, csrf_token: session.csrf_token },
        })
    }

    async fn open_session(&self, user: User, how: &str) -> Result<SignedIn> {
        let token = secrets::new_token();
        let now = now_millis();
        let session = Session {
            id: SessionId::new(),
            user_id: user.id.clone(),
            token_hash: secrets::token_hash(&token),
            csrf_token: secrets::new_token(),
            created_at: now,
            expires_at: now + duration_millis(self.settings.session_ttl),
            last_seen_at: now,
        };
        self.store.create_session(&session).await?;
        self.audit(Some(&user.id), "sign_in", Some(user.id.to_string()), json!({ "with": how })).await;
        Ok(SignedIn { session, token, user })
    }

    /// Email, password, and the TOTP code (or a recovery code) when two-factor is on.
    pub async fn sign_in(&self, email: &str, password: &str, code: Option<&str>) -> Result<SignedIn> {
        let email = normalise_email(email).map_err(|_| unauthorized("wrong email or password"))?;
        let limiter_key = format!("sign-in:{email}");
        self.failures.check(&limiter_key, &self.settings)?;
        let user = self.store.find_user_by_email(&email).await?;
        let password_ok = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
            Some(hash) => secrets::verify_password(password, hash),
            None => {
                // Spend the same time as a real check, so timing tells nothing.
                let _ = secrets::verify_password(password, &DUMMY_HASH);
                false
            }
        };
        let user = match user {
            Some(user) if password_ok && !user.disabled => user,
            _ => {
                self.failures.record(&limiter_key);
                self.audit(None, "sign_in_failed", None, json!({ "email": email })).await;
                return Err(unauthorized("wrong email or password"));
            }
        };
        if user.totp_enabled {
            let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
                return Err(CoreError::Unauthenticated {
                    code: "totp_required",
                    message: "enter the code from your authenticator app (or a recovery code)".into(),
                });
            };
            if !self.check_second_factor(&user, code).await? {
                self.failures.record(&limiter_key);
                self.audit(Some(&user.id), "sign_in_failed", Some(user.id.to_string()), json!({ "reason": "totp" }))
                    .await;
                return Err(unauthorized("wrong or reused two-factor code"));
            }
        }
        self.failures.clear(&limiter_key);
        self.open_session(user, "password").await
    }

    /// The first run's one-time link.
    pub async fn sign_in_with_link(&self, token: &str) -> Result<SignedIn> {
        let user_id = self
            .store
            .consume_sign_in_link(&secrets::token_hash(token), now_millis())
            .await?
            .ok_or_else(|| unauthorized("this sign-in link is unknown, used or expired"))?;
        let user = self.store.get_user(&user_id).await?.ok_or_else(|| unauthorized("no such user"))?;
        self.open_session(user, "one_time_link").await
    }

    pub async fn sign_out(&self, principal: &Principal) -> Result<()> {
        if let Credential::Session { id, .. } = &principal.credential {
            self.store.delete_session(id).await?;
        }
        Ok(())
    }

    /// A TOTP code (or an unused recovery code) for a user with two-factor on.
    async fn check_second_factor(&self, user: &User, code: &str) -> Result<bool> {
        let Some(sealed) = &user.totp_secret else { return Ok(false) };
        let secret = self.secret_box.open(sealed).map_err(CoreError::Storage)?;
        let unix_secs = u64::try_from(now_millis() / 1000).unwrap_or(0);
        let last = user.totp_last_step.and_then(|s| u64::try_from(s).ok());
        if let Some(step) = totp::check(&secret, code, unix_secs, last).map_err(CoreError::Storage)? {
            // Stored, so the same code is refused by every process from now on.
            let mut used = user.clone();
            used.totp_last_step = i64::try_from(step).ok();
            self.store.update_user(&used).await?;
            return Ok(true);
        }
        let recovery = normalise_recovery(code);
        if recovery.len() == 10 {
            return self.store.use_recovery_code(&user.id, &secrets::token_hash(&recovery), now_millis()).await;
        }
        Ok(false)
    }

    /// Starts (or restarts) enrolment: a new secret, sealed and stored, not yet on.
    pub async fn begin_totp(&self, principal: &Principal) -> Result<TotpEnrolment> {
        let mut user = self.user_of(principal).await?;
        require_full_standing(principal, &user)?;
        if user.totp_enabled {
            return Err(CoreError::Conflict {
                code: "totp_enabled",
                message: "two-factor is already on; turn it off first".into(),
            });
        }
        let secret = totp::new_secret();
        let otpauth_uri = totp::otpauth_uri(&secret, &user.email).map_err(CoreError::Storage)?;
        user.totp_secret = Some(self.secret_box.seal(&secret).map_err(CoreError::Storage)?);
        self.store.update_user(&user).await?;
        Ok(TotpEnrolment { secret, otpauth_uri })
    }

    /// Confirms enrolment with a first code; returns the recovery codes (shown once).
    pub async fn confirm_totp(&self, principal: &Principal, code: &str) -> Result<Vec<String>> {
        let limiter_key = format!("totp:{}", principal.user_id);
        self.failures.check(&limiter_key, &self.settings)?;
        let mut user = self.user_of(principal).await?;
        require_full_standing(principal, &user)?;
        let Some(sealed) = user.totp_secret.clone().filter(|_| !user.totp_enabled) else {
            return Err(CoreError::Conflict {
                code: "totp_not_started",
                message: "start enrolment first (POST /api/v1/me/totp)".into(),
            });
        };
        let secret = self.secret_box.open(&sealed).map_err(CoreError::Storage)?;
        let unix_secs = u64::try_from(now_millis() / 1000).unwrap_or(0);
        let Some(step) = totp::check(&secret, code, unix_secs, None).map_err(CoreError::Storage)? else {
            self.failures.record(&limiter_key);
            return Err(CoreError::invalid("code", "this code does not match; check the device's clock"));
        };
        self.failures.clear(&limiter_key);
        user.totp_last_step = i64::try_from(step).ok();
        user.totp_enabled = true;
        self.store.update_user(&user).await?;
        let codes: Vec<String> = (0..10).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| secrets::token_hash(&normalise_recovery(c))).collect();
        self.store.set_recovery_codes(&user.id, &hashes).await?;
        self.audit(Some(&user.id), "totp_enabled", Some(user.id.to_string()), json!({})).await;
        Ok(codes)
    }

    /// Turns two-factor off; needs a current code (or a recovery code).
    pub async fn disable_totp(&self, principal: &Principal, code: &str) -> Result<()> {
        let limiter_key = format!("totp:{}", principal.user_id);
        self.failures.check(&limiter_key, &self.settings)?;
        let mut user = self.user_of(principal).await?;
        require_full_standing(principal, &user)?;
        if !user.totp_enabled {
            return Ok(());
        }
        if !self.check_second_factor(&user, code).await? {
            self.failures.record(&limiter_key);
            return Err(CoreError::invalid("code", "wrong or reused two-factor code"));
        }
        user.totp_enabled = false;
        user.totp_secret = None;
        user.totp_last_step = None;
        self.store.update_user(&user).await?;
        self.store.set_recovery_codes(&user.id, &[]).await?;
        self.audit(Some(&user.id), "totp_disabled", Some(user.id.to_string()), json!({})).await;
        Ok(())
    }

    pub async fn user_of(&self, principal: &Principal) -> Result<User> {
        self.store.get_user(&principal.user_id).await?.ok_or(CoreError::NotFound { what: "user" })
    }

    /// Sets one's own password (the old one is needed once one is set).
    pub async fn set_password(&self, principal: &Principal, old: Option<&str>, new: &str) -> Result<()> {
        check_password_rules(new)?;
        let mut user = self.user_of(principal).await?;
        require_full_standing(principal, &user)?;
        if let Some(hash) = &user.password_hash
            && !old.is_some_and(|old| secrets::verify_password(old, hash))
        {
            return Err(CoreError::invalid("old_password", "does not match"));
        }
        user.password_hash =
            Some(secrets::hash_password(new).map_err(|e| CoreError::Storage(format!("hashing: {e}")))?);
        self.store.update_user(&user).await?;
        self.audit(Some(&user.id), "password_changed", Some(user.id.to_string()), json!({})).await;
        Ok(())
    }

    /// Changes a user's role or disables it (admins only; an admin cannot demote or
    /// disable itself, so a server never loses its last admin by accident).
    pub async fn update_user(
        &self,
        actor: &Principal,
        id: &UserId,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<User> {
        if !actor.is_admin() {
            return Err(forbidden("only an admin changes users"));
        }
        let mut user = self.store.get_user(id).await?.ok_or(CoreError::NotFound { what: "user" })?;
        if id == &actor.user_id && (role.is_some_and(|r| r != Role::Admin) || disabled == Some(true)) {
            return Err(CoreError::Conflict {
                code: "last_admin",
                message: "an admin cannot demote or disable itself".into(),
            });
        }
        if let Some(role) = role
            && role != user.role
        {
            self.audit(
                Some(&actor.user_id),
                "role_changed",
                Some(id.to_string()),
                json!({ "from": user.role, "to": role }),
            )
            .await;
            user.role = role;
        }
        if let Some(disabled) = disabled {
            user.disabled = disabled;
            self.store.delete_sessions_of(id).await?;
        }
        self.store.update_user(&user).await?;
        self.forget_keys(Some(id), None);
        Ok(user)
    }

    pub async fn list_users(&self, actor: &Principal) -> Result<Vec<User>> {
        if !actor.is_admin() {
            return Err(forbidden("only an admin lists users"));
        }
        self.store.list_users().await
    }

    pub async fn audit_log(&self, actor: &Principal, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        if !actor.is_admin() {
            return Err(forbidden("only an admin reads the audit log"));
        }
        self.store.list_audit(before, limit.clamp(1, 500)).await
    }
}

/// An Argon2id hash of a random password, checked when the email is unknown so
/// that an unknown email costs the same time as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| secrets::hash_password(&secrets::new_token()).unwrap_or_default());

/// `abcde-fghij`: 10 characters from an alphabet without look-alikes.
fn new_recovery_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let chars: String = (0..10).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

fn normalise_recovery(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}
