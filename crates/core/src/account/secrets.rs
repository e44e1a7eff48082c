//! Credentials: API keys and session tokens (random, shown once, stored as a
//! SHA-256: they carry 256 bits of entropy, so a slow hash adds nothing), passwords
//! (Argon2id, they carry little), and the server key that encrypts TOTP secrets
//! at rest (XChaCha20-Poly1305).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every API key starts with this, so secret scanners and people can spot one.
pub const KEY_PREFIX: &str = "atl_";

/// A new API key: `atl_<12 hex id>_<43 chars of secret>`. Returns the key and its
/// visible prefix (`atl_<12 hex>`).
pub fn new_api_key() -> (String, String) {
    let mut rng = rand::rng();
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let prefix = format!("{KEY_PREFIX}{}", hex::encode(id));
    (format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(secret)), prefix)
}

/// The visible prefix of a key as given (`None` when it is not shaped like one).
pub fn key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() >= 32)
        .then(|| &key[..KEY_PREFIX.len() + 12])
}

/// A random token (sessions, one-time sign-in links, CSRF): 256 bits, URL safe.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256 of a key or token, as stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality of two hashes.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An Argon2id PHC string for a password.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// Whether a password matches its stored hash (false for a malformed hash).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// The server key that encrypts secrets at rest (TOTP secrets).
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(REDACTED)")
    }
}

impl SecretBox {
    /// A key from 32 bytes.
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// A fresh random key, base64 (for a new data dir's key file).
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        STANDARD_NO_PAD.encode(key)
    }

    /// Reads a base64 key (as `generate_key` writes it).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = STANDARD_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .map_err(|e| format!("the server key is not base64: {e}"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| "the server key must be 32 bytes".to_owned())?;
        Ok(Self::new(&key))
    }

    /// `v1.<base64 nonce>.<base64 ciphertext>`.
    pub fn seal(&self, plaintext: &str) -> Result<String, String> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), plaintext.as_bytes())
            .map_err(|_| "encryption failed".to_owned())?;
        Ok(format!("v1.{}.{}", STANDARD_NO_PAD.encode(nonce), STANDARD_NO_PAD.encode(sealed)))
    }

    pub fn open(&self, sealed: &str) -> Result<String, String> {
        let mut parts = sealed.split('.');
        let (Some("v1"), Some(nonce), Some(body), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a sealed secret".into());
        };
        let nonce: [u8; 24] = STANDARD_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| "bad nonce".to_owned())?;
        let body = STANDARD_NO_PAD.decode(body).map_err(|_| "bad ciphertext".to_owned())?;
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), body.as_slice())
            .map_err(|_| "the secret does not open with this server key".to_owned())?;
        String::from_utf8(plain).map_err(|_| "the secret is not text".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_prefix_and_hash_stably() {
        let (key, prefix) = new_api_key();
        assert!(key.starts_with(&prefix) && prefix.starts_with(KEY_PREFIX));
        assert_eq!(key_prefix(&key), Some(prefix.as_str()));
        assert_eq!(key_prefix("atl_nothex!!!!!_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), None);
        assert_eq!(key_prefix("Bearer x"), None);
        assert_eq!(token_hash(&key), token_hash(&key));
        assert_ne!(new_api_key().0, key);
        assert!(same_hash(&token_hash("a"), &token_hash("a")));
        assert!(!same_hash(&token_hash("a"), &token_hash("b")));
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = SecretBox::from_base64(&SecretBox::generate_key()).expect("key");
        let sealed = key.seal("JBSWY3DPEHPK3PXP").expect("seal");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(key.open(&sealed).as_deref(), Ok("JBSWY3DPEHPK3PXP"));
        let other = SecretBox::from_base64(&SecretBox::generate_key()).expect("key");
        assert!(other.open(&sealed).is_err());
        assert!(key.open("v1.x.y").is_err());
    }
}
