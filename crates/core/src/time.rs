//! Time as the store keeps it: milliseconds since the Unix epoch, UTC.

use chrono::{DateTime, TimeZone, Utc};

pub type Millis = i64;

pub fn now_millis() -> Millis {
    Utc::now().timestamp_millis()
}

pub fn to_datetime(millis: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis).single().unwrap_or_default()
}
