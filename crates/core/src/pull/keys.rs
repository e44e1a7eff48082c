//! Worker key secrets: `atw_<12 hex id>_<43 chars of secret>`, shaped like user keys
//! (`atl_…`) but told apart by their prefix, so neither is taken for the other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// Every worker key starts with this.
pub const WORKER_KEY_PREFIX: &str = "atw_";

/// A new worker key and its visible prefix.
pub fn new_worker_key() -> (String, String) {
    let mut rng = rand::rng();
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let prefix = format!("{WORKER_KEY_PREFIX}{}", hex::encode(id));
    (format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(secret)), prefix)
}

/// The visible prefix of a worker key as given (`None` when it is not shaped like one).
pub fn worker_key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(WORKER_KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() >= 32)
        .then(|| &key[..WORKER_KEY_PREFIX.len() + 12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_shaped_and_told_from_user_keys() {
        let (key, prefix) = new_worker_key();
        assert_eq!(worker_key_prefix(&key), Some(prefix.as_str()));
        assert_eq!(worker_key_prefix(&key.replacen("atw_", "atl_", 1)), None);
        assert_eq!(worker_key_prefix("atw_123_short"), None);
    }
}
