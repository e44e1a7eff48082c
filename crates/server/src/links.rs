//! Signed, expiring links to one output file (seed 001 1.8): shareable without an
//! API key, refused after their time or when any part of them was changed. The
//! signature is an HMAC-SHA256 of the file's id and the expiry, under a key derived
//! from the server's secret (so links survive a restart and die with a new key).

use std::time::Duration;

use atelier_core::AssetId;
use atelier_core::time::Millis;
use hmac::{KeyInit, Mac};
use sha2::Digest;

type HmacSha256 = hmac::Hmac<sha2_hmac::Sha256>;

/// Where a signed link points.
pub const SHARED_PATH: &str = "/api/v1/shared";

#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature does not match (it was changed, or signed by another server key)")]
    BadSignature,
}

impl LinkSigner {
    /// A signer whose key is derived from the server's secret.
    pub fn from_secret(secret: &str) -> Self {
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"atelier signed links v1\0");
        hasher.update(secret.as_bytes());
        Self { key: hasher.finalize().into() }
    }

    fn mac(&self, asset: &str, expires: i64) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(asset.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The signature of a link to `asset` valid until `expires` (Unix seconds).
    pub fn sign(&self, asset: &str, expires: i64) -> String {
        hex::encode(self.mac(asset, expires).finalize().into_bytes())
    }

    /// A path (from the server's root) to `asset`, valid for `ttl` from `now`.
    pub fn path(&self, asset: &AssetId, ttl: Duration, now: Millis) -> (String, i64) {
        let expires = now / 1000 + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let signature = self.sign(asset.as_str(), expires);
        (format!("{SHARED_PATH}/{asset}?expires={expires}&signature={signature}"), expires)
    }

    /// Checks a link (constant-time), then its expiry.
    pub fn verify(&self, asset: &str, expires: i64, signature: &str, now: Millis) -> Result<(), LinkError> {
        let bytes = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        self.mac(asset, expires).verify_slice(&bytes).map_err(|_| LinkError::BadSignature)?;
        // Saturating: an expiry past i64::MAX milliseconds (a huge `link_ttl_secs`)
        // overflowed here (found by fuzzing); it is simply far in the future.
        if expires.saturating_mul(1000) <= now {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_holds_until_it_expires_and_not_when_changed() {
        let signer = LinkSigner::from_secret("key");
        let asset = AssetId::new();
        let now = 1_000_000_000;
        let (path, expires) = signer.path(&asset, Duration::from_secs(60), now);
        let signature = path.rsplit('=').next().expect("signature");
        assert!(path.starts_with(&format!("/api/v1/shared/{asset}?expires=")));
        assert_eq!(signer.verify(asset.as_str(), expires, signature, now), Ok(()));
        assert_eq!(signer.verify(asset.as_str(), expires, signature, (expires + 1) * 1000), Err(LinkError::Expired));
        assert_eq!(signer.verify(asset.as_str(), expires + 3600, signature, now), Err(LinkError::BadSignature));
        assert_eq!(signer.verify("img_other", expires, signature, now), Err(LinkError::BadSignature));
        assert_eq!(signer.verify(asset.as_str(), expires, "zz", now), Err(LinkError::BadSignature));
        let other = LinkSigner::from_secret("another key");
        assert_eq!(other.verify(asset.as_str(), expires, signature, now), Err(LinkError::BadSignature));
    }

    /// fuzz/ (input_ref): a signed expiry past i64::MAX milliseconds overflowed the
    /// expiry check (a panic, a 500); such a link holds, and one signed with a
    /// longer time-to-live than an i64 of seconds holds too.
    #[test]
    fn an_expiry_far_in_the_future_holds() {
        let signer = LinkSigner::from_secret("fuzz");
        for expires in [1_006_000_000_000_000_600, i64::MAX] {
            let signature = signer.sign("i007", expires);
            assert_eq!(signer.verify("i007", expires, &signature, 1_700_000_000_000), Ok(()));
        }
        let asset = AssetId::new();
        let (path, expires) = signer.path(&asset, Duration::from_secs(u64::MAX), 1_700_000_000_000);
        let signature = path.rsplit('=').next().expect("signature");
        assert_eq!(signer.verify(asset.as_str(), expires, signature, 1_700_000_000_000), Ok(()));
    }
}
