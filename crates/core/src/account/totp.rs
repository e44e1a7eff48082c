//! TOTP two-factor (RFC 6238, seed 000): SHA-1, 6 digits, 30 s steps — what every
//! authenticator app reads from an `otpauth://` URI — with one step of clock skew.
//! A code is accepted once: the step it matched is remembered and later codes must
//! come from a later step.

use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

pub const ISSUER: &str = "Atelier";

/// A fresh secret of 160 bits, base32 (RFC 4226's recommended length).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    Secret::from(bytes).to_base32()
}

fn totp(secret_base32: &str, account: &str) -> Result<Totp, String> {
    let secret = Secret::try_from_base32(secret_base32).map_err(|e| format!("bad TOTP secret: {e}"))?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', "_"))
        .build()
        .map_err(|e| format!("bad TOTP parameters: {e}"))
}

/// The `otpauth://totp/…` URI an authenticator app enrols from.
pub fn otpauth_uri(secret_base32: &str, account: &str) -> Result<String, String> {
    totp(secret_base32, account)?.to_url().map_err(|e| format!("cannot write the otpauth URI: {e}"))
}

/// The step a code matches at `unix_secs` (±1 step), if any, and only when it is
/// later than `last_step` (a code is good once).
pub fn check(secret_base32: &str, code: &str, unix_secs: u64, last_step: Option<u64>) -> Result<Option<u64>, String> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let step = totp(secret_base32, "check")?.check(&code, unix_secs);
    Ok(step.filter(|step| last_step.is_none_or(|last| *step > last)))
}

/// The code for `unix_secs` (tests and the CLI's own checks).
pub fn code_at(secret_base32: &str, unix_secs: u64) -> Result<String, String> {
    Ok(totp(secret_base32, "code")?.generate(unix_secs).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8
        // digits); its last 6 digits are the 6-digit code.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(code_at(&secret, 59).expect("code"), "287082");
        assert_eq!(code_at(&secret, 1_111_111_109).expect("code"), "081804");
    }

    #[test]
    fn codes_are_good_once_and_only_near_their_time() {
        let secret = new_secret();
        let now = 1_795_341_600;
        let code = code_at(&secret, now).expect("code");
        let step = check(&secret, &code, now, None).expect("check").expect("accepted");
        assert_eq!(check(&secret, &code, now, Some(step)).expect("check"), None, "replayed");
        assert!(check(&secret, &code, now + 30, None).expect("check").is_some(), "one step of skew");
        assert_eq!(check(&secret, &code, now + 90, None).expect("check"), None, "stale");
        assert_eq!(check(&secret, "12345", now, None).expect("check"), None);
        let uri = otpauth_uri(&secret, "ada@example.com").expect("uri");
        assert!(uri.starts_with("otpauth://totp/Atelier:ada%40example.com?"), "{uri}");
        assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    }
}
