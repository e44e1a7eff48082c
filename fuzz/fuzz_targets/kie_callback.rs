//! A provider's callback as Kie sends it (crates/providers/src/kie/callback.rs, read
//! as `KieProvider::callback` does): the body parsed as JSON, the task named in it,
//! the signature headers checked; and a callback signed with the key is accepted.
//!
//! The input: `<X-Webhook-Timestamp>\n<X-Webhook-Signature>\n<body>`.
#![no_main]

use atelier_fuzz::kie_callback::{CallbackError, MAX_SKEW_SECS, task_id, verify};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const KEY: &str = "fuzz-key";
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let timestamp = parts.next().and_then(|t| std::str::from_utf8(t).ok());
    let signature = parts.next().and_then(|s| std::str::from_utf8(s).ok());
    let body = parts.next().unwrap_or_default();
    let Ok(body) = serde_json::from_slice::<Value>(body) else { return };
    let Ok(task) = task_id(&body) else { return };
    let _ = verify(KEY, &task, timestamp, signature, NOW);
    // The same callback, signed as Kie signs it.
    if let Some(timestamp) = timestamp {
        let mut mac = Hmac::<sha2_hmac::Sha256>::new_from_slice(KEY.as_bytes()).expect("any key length");
        mac.update(format!("{task}.{}", timestamp.trim()).as_bytes());
        let signed = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let fresh =
            timestamp.trim().parse::<i64>().is_ok_and(|sent| sent.abs_diff(NOW) <= MAX_SKEW_SECS.unsigned_abs());
        let expected = if fresh { Ok(()) } else { Err(CallbackError::StaleTimestamp) };
        assert_eq!(verify(KEY, &task, Some(timestamp), Some(&signed), NOW), expected);
    }
});
