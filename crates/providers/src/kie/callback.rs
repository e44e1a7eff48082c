//! Kie's callbacks (docs/providers/kie.md 1.2, 1.3, 1.4): a POST to the `callBackUrl`
//! given at createTask (market), generate (Veo, Midjourney). Each API has its own
//! body, but all name the task in `data.taskId`. Atelier treats a callback only as a hint to poll now; the result
//! always comes from `recordInfo`, so an unsigned or forged callback can at most
//! hasten a poll. When webhook signing is on, the signature is checked:
//! `X-Webhook-Signature = base64(HMAC-SHA256(key, taskId + "." + timestamp))`,
//! compared in constant time, with the timestamp (Unix seconds) within 5 minutes.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2_hmac::Sha256;

/// The largest clock difference accepted between Kie's timestamp and ours.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the callback names no task (data.taskId)")]
    NoTaskId,
    #[error("the callback is not signed (X-Webhook-Timestamp and X-Webhook-Signature)")]
    Unsigned,
    #[error("the callback's timestamp is missing, malformed or too far from now")]
    StaleTimestamp,
    #[error("the callback's signature does not match")]
    BadSignature,
}

/// The task a callback is about: `data.taskId` (one CN sample reads `data.task_id`).
pub fn task_id(body: &Value) -> Result<String, CallbackError> {
    let data = body.get("data").unwrap_or(&Value::Null);
    data.get("taskId")
        .or_else(|| data.get("task_id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or(CallbackError::NoTaskId)
}

/// Checks a signed callback. `now_secs` is the current Unix time.
pub fn verify(
    key: &str,
    task_id: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    now_secs: i64,
) -> Result<(), CallbackError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else { return Err(CallbackError::Unsigned) };
    let sent: i64 = timestamp.trim().parse().map_err(|_| CallbackError::StaleTimestamp)?;
    // `abs_diff`: a timestamp near i64::MIN overflowed `now - sent` (found by fuzzing).
    if now_secs.abs_diff(sent) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(CallbackError::StaleTimestamp);
    }
    let given =
        base64::engine::general_purpose::STANDARD.decode(signature.trim()).map_err(|_| CallbackError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(|_| CallbackError::BadSignature)?;
    mac.update(task_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.trim().as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).map_err(|_| CallbackError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(key: &str, task_id: &str, timestamp: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
        mac.update(format!("{task_id}.{timestamp}").as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn accepts_only_a_fresh_matching_signature() {
        let signature = sign("k", "task_1", "1000");
        assert_eq!(verify("k", "task_1", Some("1000"), Some(&signature), 1010), Ok(()));
        assert_eq!(verify("other", "task_1", Some("1000"), Some(&signature), 1010), Err(CallbackError::BadSignature));
        assert_eq!(verify("k", "task_2", Some("1000"), Some(&signature), 1010), Err(CallbackError::BadSignature));
        assert_eq!(verify("k", "task_1", Some("1000"), Some(&signature), 2000), Err(CallbackError::StaleTimestamp));
        assert_eq!(verify("k", "task_1", None, Some(&signature), 1010), Err(CallbackError::Unsigned));
        assert_eq!(verify("k", "task_1", Some("1000"), Some("%%%"), 1010), Err(CallbackError::BadSignature));
    }

    /// fuzz/ (kie_callback): a timestamp far in the past overflowed the skew's
    /// subtraction, a panic (a 500) instead of a refusal.
    #[test]
    fn a_timestamp_at_the_ends_of_i64_is_stale() {
        for timestamp in ["-9223372036854775808", "-9223372036854775000", "9223372036854775807"] {
            let signature = sign("k", "task_1", timestamp);
            assert_eq!(
                verify("k", "task_1", Some(timestamp), Some(&signature), 1_700_000_000),
                Err(CallbackError::StaleTimestamp)
            );
        }
    }

    #[test]
    fn reads_the_task_id_in_both_spellings() {
        assert_eq!(task_id(&serde_json::json!({ "data": { "taskId": "a" } })), Ok("a".to_owned()));
        assert_eq!(task_id(&serde_json::json!({ "data": { "task_id": "b" } })), Ok("b".to_owned()));
        assert_eq!(task_id(&serde_json::json!({ "code": 200 })), Err(CallbackError::NoTaskId));
    }

    #[test]
    fn reads_veo_and_midjourney_callbacks() {
        let veo = serde_json::json!({ "code": 200, "msg": "Veo3.1 video generated successfully.", "data": {
            "taskId": "veo_task_1", "info": { "resultUrls": ["http://v/1.mp4"], "resolution": "1080p" },
            "fallbackFlag": false } });
        assert_eq!(task_id(&veo), Ok("veo_task_1".to_owned()));
        let veo_failed = serde_json::json!({ "code": 400, "msg": "Your prompt was flagged by Website as violating \
            content policies.", "data": { "taskId": "veo_task_2", "fallbackFlag": false } });
        assert_eq!(task_id(&veo_failed), Ok("veo_task_2".to_owned()));
        let mj = serde_json::json!({ "code": 500, "msg": "Image generation failed", "data": {
            "taskId": "mj_task_3", "promptJson": "{}", "resultUrls": [] } });
        assert_eq!(task_id(&mj), Ok("mj_task_3".to_owned()));
    }
}
