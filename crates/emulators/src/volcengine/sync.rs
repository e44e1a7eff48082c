//! `CVProcess`, the synchronous call (the providers' protocol notes, 4.4): the
//! body carries the `req_key`, its fields and the output options (`return_url`,
//! `logo_info`, `aigc_meta`); the answer's `data` holds the images directly
//! (`binary_data_base64` or `image_urls`), with an `algorithm_base_resp`
//! (`status_code: 0`) as real answers carry (its presence is unconfirmed).
//!
//! `generation_failed` answers the configured failure code (50511 by default)
//! after the checks; `never_finish` is held as `timeout` (see `faults.rs`).

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::envelope::{self, INTERNAL_ERROR};
use super::params::{self, Style};
use super::tasks::req_key;
use super::{Refusal, VolcState};
use crate::faults::Fault;

/// `CVProcess`.
pub(super) async fn process(
    state: &VolcState,
    fields: &Map<String, Value>,
    fault: Option<Fault>,
    base_url: &str,
    started: Instant,
) -> Result<Value, Refusal> {
    let key = req_key(fields, Style::Sync, "CVProcess", started)?;
    let job = params::check(key, fields).map_err(|e| envelope::invalid(&e, started))?;
    let output = params::output(fields).map_err(|e| envelope::invalid(&e, started))?;
    *state.inner().stats.by_req_key.entry(key.as_str()).or_default() += 1;
    if fault == Some(Fault::GenerationFailed) {
        return Err(envelope::error(state.config.generation_failed_code, None, started).into());
    }
    let name = format!("p{}", state.next_sequence());
    let mut data = super::images::result_fields(state, &job, &name, &output, base_url)
        .await
        .map_err(|e| envelope::error(INTERNAL_ERROR, Some(&e), started))?;
    data["algorithm_base_resp"] = json!({ "status_code": 0, "status_message": "Success" });
    state.record_output(&output);
    Ok(data)
}
