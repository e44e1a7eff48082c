//! `AccountStore` for both backends: users, API keys, sessions, one-time sign-in
//! links, recovery codes and the audit log.

use async_trait::async_trait;
use atelier_core::account::{ApiKey, AuditEntry, Role, Session, User};
use atelier_core::ports::AccountStore;
use atelier_core::{ApiKeyId, CoreError, SessionId, UserId};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::connect::Database;
use crate::error::storage;
use crate::rows::{get, invalid};

type Result<T> = std::result::Result<T, CoreError>;

const USER_COLUMNS: &str =
    "id, email, role, password_hash, disabled, totp_secret, totp_enabled, totp_last_step, created_at";
const KEY_COLUMNS: &str =
    "id, user_id, name, prefix, secret_hash, role, created_at, expires_at, last_used_at, revoked_at";
const SESSION_COLUMNS: &str = "id, user_id, token_hash, csrf_token, created_at, expires_at, last_seen_at";

fn role(text: &str) -> Result<Role> {
    Role::parse(text).ok_or_else(|| invalid("role"))
}

fn decode_user(row: &AnyRow) -> Result<User> {
    let id: String = get(row, "id")?;
    let role_text: String = get(row, "role")?;
    let disabled: i64 = get(row, "disabled")?;
    let totp_enabled: i64 = get(row, "totp_enabled")?;
    Ok(User {
        id: UserId::parse(&id).ok_or_else(|| invalid("user id"))?,
        email: get(row, "email")?,
        role: role(&role_text)?,
        password_hash: get(row, "password_hash")?,
        disabled: disabled != 0,
        totp_secret: get(row, "totp_secret")?,
        totp_enabled: totp_enabled != 0,
        totp_last_step: get(row, "totp_last_step")?,
        created_at: get(row, "created_at")?,
    })
}

fn decode_key(row: &AnyRow) -> Result<ApiKey> {
    let id: String = get(row, "id")?;
    let user_id: String = get(row, "user_id")?;
    let role_text: String = get(row, "role")?;
    Ok(ApiKey {
        id: ApiKeyId::parse(&id).ok_or_else(|| invalid("key id"))?,
        user_id: UserId::parse(&user_id).ok_or_else(|| invalid("user id"))?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        secret_hash: get(row, "secret_hash")?,
        role: role(&role_text)?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        last_used_at: get(row, "last_used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn decode_session(row: &AnyRow) -> Result<Session> {
    let id: String = get(row, "id")?;
    let user_id: String = get(row, "user_id")?;
    Ok(Session {
        id: SessionId::parse(&id).ok_or_else(|| invalid("session id"))?,
        user_id: UserId::parse(&user_id).ok_or_else(|| invalid("user id"))?,
        token_hash: get(row, "token_hash")?,
        csrf_token: get(row, "csrf_token")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        last_seen_at: get(row, "last_seen_at")?,
    })
}

/// The one row `SELECT {columns} FROM {table} WHERE {column} = $1` finds, decoded.
async fn one_by<T>(
    pool: &sqlx::AnyPool,
    query: &str,
    value: String,
    what: &'static str,
    decode: fn(&AnyRow) -> Result<T>,
) -> Result<Option<T>> {
    let row =
        sqlx::query(AssertSqlSafe(query.to_owned())).bind(value).fetch_optional(pool).await.map_err(storage(what))?;
    row.as_ref().map(decode).transpose()
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| e.is_unique_violation())
}

#[async_trait]
impl AccountStore for Database {
    async fn count_users(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.reader)
            .await
            .map_err(storage("counting users"))?;
        Ok(count.max(0) as u64)
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO users (id, email, role, password_hash, disabled, totp_secret, totp_enabled, totp_last_step, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(user.id.to_string())
        .bind(user.email.clone())
        .bind(user.role.as_str())
        .bind(user.password_hash.clone())
        .bind(i64::from(user.disabled))
        .bind(user.totp_secret.clone())
        .bind(i64::from(user.totp_enabled))
        .bind(user.totp_last_step)
        .bind(user.created_at)
        .execute(&self.writer)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_unique_violation(&error) => Err(CoreError::Conflict {
                code: "email_taken",
                message: format!("a user with the email {} exists", user.email),
            }),
            Err(error) => Err(storage("creating a user")(error)),
        }
    }

    async fn get_user(&self, id: &UserId) -> Result<Option<User>> {
        let query = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        one_by(&self.reader, &query, id.to_string(), "reading a user", decode_user).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        let query = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        one_by(&self.reader, &query, email.to_owned(), "reading a user", decode_user).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id");
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.reader).await.map_err(storage("listing users"))?;
        rows.iter().map(decode_user).collect()
    }

    async fn update_user(&self, user: &User) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET role = $2, password_hash = $3, disabled = $4, totp_secret = $5, totp_enabled = $6, \
             totp_last_step = $7 WHERE id = $1",
        )
        .bind(user.id.to_string())
        .bind(user.role.as_str())
        .bind(user.password_hash.clone())
        .bind(i64::from(user.disabled))
        .bind(user.totp_secret.clone())
        .bind(i64::from(user.totp_enabled))
        .bind(user.totp_last_step)
        .execute(&self.writer)
        .await
        .map_err(storage("updating a user"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_key(&self, key: &ApiKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, role, created_at, expires_at, \
             last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(key.id.to_string())
        .bind(key.user_id.to_string())
        .bind(key.name.clone())
        .bind(key.prefix.clone())
        .bind(key.secret_hash.clone())
        .bind(key.role.as_str())
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.last_used_at)
        .bind(key.revoked_at)
        .execute(&self.writer)
        .await
        .map_err(storage("creating a key"))?;
        Ok(())
    }

    async fn find_key(&self, prefix: &str) -> Result<Option<ApiKey>> {
        let query = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = $1");
        one_by(&self.reader, &query, prefix.to_owned(), "reading a key", decode_key).await
    }

    async fn list_keys(&self, user: Option<&UserId>) -> Result<Vec<ApiKey>> {
        let rows = match user {
            Some(user) => {
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id");
                sqlx::query(AssertSqlSafe(sql)).bind(user.to_string()).fetch_all(&self.reader).await
            }
            None => {
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id");
                sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.reader).await
            }
        }
        .map_err(storage("listing keys"))?;
        rows.iter().map(decode_key).collect()
    }

    async fn get_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        let query = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        one_by(&self.reader, &query, id.to_string(), "reading a key", decode_key).await
    }

    async fn revoke_key(&self, id: &ApiKeyId, now: i64) -> Result<Option<ApiKey>> {
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(storage("revoking a key"))?;
        let query = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        one_by(&self.writer, &query, id.to_string(), "reading a key", decode_key).await
    }

    async fn touch_key(&self, id: &ApiKeyId, now: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(storage("recording a key's use"))?;
        Ok(())
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, token_hash, csrf_token, created_at, expires_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.id.to_string())
        .bind(session.user_id.to_string())
        .bind(session.token_hash.clone())
        .bind(session.csrf_token.clone())
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.last_seen_at)
        .execute(&self.writer)
        .await
        .map_err(storage("creating a session"))?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &str) -> Result<Option<Session>> {
        let query = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1");
        one_by(&self.reader, &query, token_hash.to_owned(), "reading a session", decode_session).await
    }

    async fn touch_session(&self, id: &SessionId, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(storage("recording a session's use"))?;
        Ok(())
    }

    async fn delete_session(&self, id: &SessionId) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(storage("ending a session"))?;
        Ok(())
    }

    async fn delete_sessions_of(&self, user: &UserId) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&self.writer)
            .await
            .map_err(storage("ending sessions"))?;
        Ok(())
    }

    async fn create_sign_in_link(&self, user: &UserId, token_hash: &str, expires_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO sign_in_links (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash.to_owned())
            .bind(user.to_string())
            .bind(expires_at)
            .execute(&self.writer)
            .await
            .map_err(storage("creating a sign-in link"))?;
        Ok(())
    }

    async fn consume_sign_in_link(&self, token_hash: &str, now: i64) -> Result<Option<UserId>> {
        let user: Option<String> = sqlx::query_scalar(
            "UPDATE sign_in_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(token_hash.to_owned())
        .bind(now)
        .fetch_optional(&self.writer)
        .await
        .map_err(storage("using a sign-in link"))?;
        user.map(|id| UserId::parse(&id).ok_or_else(|| invalid("user id"))).transpose()
    }

    async fn set_recovery_codes(&self, user: &UserId, code_hashes: &[String]) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(storage("replacing recovery codes"))?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(storage("replacing recovery codes"))?;
        for hash in code_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user.to_string())
                .bind(hash.clone())
                .execute(&mut *tx)
                .await
                .map_err(storage("replacing recovery codes"))?;
        }
        tx.commit().await.map_err(storage("replacing recovery codes"))?;
        Ok(())
    }

    async fn use_recovery_code(&self, user: &UserId, code_hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user.to_string())
        .bind(code_hash.to_owned())
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(storage("using a recovery code"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(entry.at)
            .bind(entry.actor.clone())
            .bind(entry.action.clone())
            .bind(entry.target.clone())
            .bind(entry.detail.to_string())
            .execute(&self.writer)
            .await
            .map_err(storage("writing the audit log"))?;
        Ok(())
    }

    async fn list_audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(storage("reading the audit log"))?;
        rows.iter()
            .map(|row| {
                let detail: String = get(row, "detail")?;
                Ok(AuditEntry {
                    id: get(row, "id")?,
                    at: get(row, "at")?,
                    actor: get(row, "actor")?,
                    action: get(row, "action")?,
                    target: get(row, "target")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}
