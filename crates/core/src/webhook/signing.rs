//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): the signed
//! content is `{webhook-id}.{webhook-timestamp}.{body}`, signed with HMAC-SHA256
//! under the secret's bytes (base64 after `whsec_`), sent as
//! `webhook-signature: v1,<base64>`. HMAC is written out here (RFC 2104, a few
//! lines over `sha2`) so the core needs no other crate; the published test vector
//! and the reference library's check in the API tests hold it to the spec.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

pub const SECRET_PREFIX: &str = "whsec_";
/// A receiver accepts a timestamp this far from its clock (the spec's tolerance).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A new secret: 24 random bytes, as `whsec_<base64>` (Svix's length).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key a secret names: its base64 after `whsec_`.
pub fn secret_key(secret: &str) -> Result<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(encoded).map_err(|_| CoreError::invalid("secret", "must be whsec_ and base64"))?;
    if !(24..=64).contains(&key.len()) {
        return Err(CoreError::invalid("secret", "must hold 24 to 64 bytes"));
    }
    Ok(key)
}

fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|byte| byte ^ 0x36));
    for part in message {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|byte| byte ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The `webhook-signature` value for one message: `v1,<base64>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(key, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(mac))
}

/// Whether a `webhook-signature` header (space-separated signatures, any of
/// which may match) signs the message, and its timestamp is within
/// [`TOLERANCE_SECS`] of `now`. What a receiver does; for tests and the bench.
pub fn verify(key: &[u8], id: &str, timestamp: i64, body: &[u8], header: &str, now: i64) -> bool {
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return false;
    }
    let expected = sign(key, id, timestamp, body);
    let expected = expected.as_bytes();
    header.split(' ').any(|candidate| {
        // Compared in constant time for equal lengths.
        candidate.len() == expected.len()
            && candidate.bytes().zip(expected).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector the Standard Webhooks libraries share (and Svix's).
    #[test]
    fn signs_the_published_test_vector() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("a secret");
        let signature = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    /// RFC 4231's test case 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let long_key = [0xaa_u8; 131];
        let mac = hmac_sha256(&long_key, &[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn verification_refuses_changes_and_stale_timestamps() {
        let secret = new_secret();
        assert!(secret.starts_with(SECRET_PREFIX));
        let key = secret_key(&secret).expect("a new secret parses");
        let header = format!("v1,bm90IGl0 {}", sign(&key, "msg_1", 1000, b"{}"));
        assert!(verify(&key, "msg_1", 1000, b"{}", &header, 1010));
        assert!(!verify(&key, "msg_1", 1000, b"{ }", &header, 1010), "another body");
        assert!(!verify(&key, "msg_2", 1000, b"{}", &header, 1010), "another id");
        assert!(!verify(&key, "msg_1", 1000, b"{}", &header, 1000 + TOLERANCE_SECS + 1), "too old");
        let other = secret_key(&new_secret()).expect("another secret");
        assert!(!verify(&other, "msg_1", 1000, b"{}", &header, 1010), "another key");
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert!(secret_key("whsec_not base64!").is_err());
        assert!(secret_key("whsec_c2hvcnQ=").is_err(), "too short");
    }
}
