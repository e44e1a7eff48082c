//! The WebUI's shared state (`shared.state`) as the API shows it:
//! `GET /sdapi/v1/progress`, and `POST /sdapi/v1/interrupt` and
//! `POST /sdapi/v1/skip` that act on the generation in flight.
//!
//! Confirmed (`modules/api/api.py` `progressapi`): the answer is
//! `{"progress","eta_relative","state","current_image","textinfo"}`; while
//! idle (`job_count == 0`) progress and `eta_relative` are 0 and there is no
//! image; otherwise `progress = 0.01 + job_no/job_count + sampling_step /
//! sampling_steps / job_count` (at most 1), `eta_relative` the time left at
//! that pace, and `current_image` the live preview unless
//! `?skip_current_image=true`. `state` is `{skipped, interrupted,
//! stopping_generation, job, job_count, job_timestamp, job_no, sampling_step,
//! sampling_steps}`: `job` `"scripts_txt2img"` or `"scripts_img2img"` (with
//! `n_iter` > 1, `"Batch <n> out of <N>"`), `job_count` the batches
//! (`n_iter`), `job_no` the batch sampling now (from 0). `interrupt` answers
//! `{}` and `skip` `null`; `interrupted` stays true after the interrupted
//! generation until the next one begins.
//!
//! Unconfirmed, the emulator's choices: idle, the counters are all 0 and `job`
//! empty (the WebUI keeps the last steps; a restarted one shows zeros); the
//! preview is drawn at a quarter of the output's size from the first image's
//! seed, from the first sampled step on (the WebUI shows one every
//! `show_progress_every_n_steps`); `textinfo` is always `null`.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::A1111State;
use super::errors::{self, Invalid};
use crate::render::render_png;

/// The shared state: the generation in flight, and the flags the API sets.
#[derive(Debug)]
pub(super) struct Progress {
    /// The generation in flight, if any.
    pub(super) run: Option<Run>,
    pub(super) interrupted: bool,
    pub(super) skipped: bool,
    /// When the last generation began (`%Y%m%d%H%M%S`), `"0"` before any.
    pub(super) job_timestamp: String,
}

impl Default for Progress {
    fn default() -> Self {
        Self { run: None, interrupted: false, skipped: false, job_timestamp: "0".into() }
    }
}

/// The generation in flight.
#[derive(Debug, Clone)]
pub(super) struct Run {
    /// Tells one generation's run from the next one's.
    pub(super) id: u64,
    pub(super) job: String,
    pub(super) job_count: u32,
    pub(super) job_no: u32,
    pub(super) sampling_step: u32,
    pub(super) sampling_steps: u32,
    pub(super) started: Instant,
    /// How the live preview is drawn.
    pub(super) preview: Preview,
}

/// What the live preview of a run is drawn from.
#[derive(Debug, Clone)]
pub(super) struct Preview {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) seed: u64,
    pub(super) salt: String,
    pub(super) digest: [u8; 32],
}

impl Progress {
    /// A generation begins: the flags are cleared.
    pub(super) fn begin(&mut self, run: Run) {
        self.interrupted = false;
        self.skipped = false;
        self.job_timestamp = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
        self.run = Some(run);
    }

    /// The `state` object.
    fn state(&self) -> Value {
        let run = self.run.as_ref();
        json!({
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "stopping_generation": false,
            "job": run.map_or("", |r| r.job.as_str()),
            "job_count": run.map_or(0, |r| r.job_count),
            "job_timestamp": self.job_timestamp,
            "job_no": run.map_or(0, |r| r.job_no),
            "sampling_step": run.map_or(0, |r| r.sampling_step),
            "sampling_steps": run.map_or(0, |r| r.sampling_steps),
        })
    }
}

/// `skip_current_image` from a raw query, as FastAPI reads a boolean.
fn skip_current_image(query: Option<&str>) -> Result<bool, Invalid> {
    let value = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == "skip_current_image").map(|(_, v)| v));
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(false),
        Some("1" | "true" | "on" | "yes" | "t" | "y") => Ok(true),
        Some("0" | "false" | "off" | "no" | "f" | "n") => Ok(false),
        Some(_) => Err(Invalid {
            loc: vec![json!("query"), json!("skip_current_image")],
            msg: "value could not be parsed to a boolean".into(),
            kind: "type_error.bool",
            ctx: None,
        }),
    }
}

/// `GET /sdapi/v1/progress`.
pub(super) async fn progress(State(state): State<Arc<A1111State>>, request: Request) -> Response {
    let skip_image = match skip_current_image(request.uri().query()) {
        Ok(skip) => skip,
        Err(invalid) => return errors::validation(&[invalid]),
    };
    let (body, preview) = {
        let inner = state.inner();
        let progress = &inner.progress;
        match progress.run.as_ref().filter(|run| run.job_count > 0) {
            None => (json!({ "progress": 0, "eta_relative": 0, "state": progress.state() }), None),
            Some(run) => {
                let job_count = f64::from(run.job_count);
                let mut done = 0.01 + f64::from(run.job_no) / job_count;
                if run.sampling_steps > 0 {
                    done += f64::from(run.sampling_step) / f64::from(run.sampling_steps) / job_count;
                }
                let elapsed = run.started.elapsed().as_secs_f64();
                let eta_relative = elapsed / done - elapsed;
                let preview = (!skip_image && run.sampling_step > 0)
                    .then(|| (run.preview.clone(), run.job_no * run.sampling_steps + run.sampling_step));
                (json!({ "progress": done.min(1.0), "eta_relative": eta_relative, "state": progress.state() }), preview)
            }
        }
    };
    let mut body = body;
    body["current_image"] = Value::Null;
    body["textinfo"] = Value::Null;
    if let Some((preview, step)) = preview {
        let drawn = tokio::task::spawn_blocking(move || {
            render_png(preview.width, preview.height, preview.seed, &preview.salt, &preview.digest, step)
        })
        .await;
        if let Ok(Ok(png)) = drawn {
            body["current_image"] = json!(base64::engine::general_purpose::STANDARD.encode(png));
        }
    }
    Json(body).into_response()
}

/// `POST /sdapi/v1/interrupt`: the generation in flight stops at its next step.
pub(super) async fn interrupt(State(state): State<Arc<A1111State>>) -> Response {
    let mut inner = state.inner();
    inner.progress.interrupted = true;
    inner.stats.interrupt_requests += 1;
    Json(json!({})).into_response()
}

/// `POST /sdapi/v1/skip`: the batch sampling now stops at its next step.
pub(super) async fn skip(State(state): State<Arc<A1111State>>) -> Response {
    state.inner().progress.skipped = true;
    Json(Value::Null).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_current_image_reads_as_a_boolean() {
        assert_eq!(skip_current_image(None), Ok(false));
        assert_eq!(skip_current_image(Some("skip_current_image=true")), Ok(true));
        assert_eq!(skip_current_image(Some("a=b&skip_current_image=0")), Ok(false));
        assert!(skip_current_image(Some("skip_current_image=perhaps")).is_err());
    }

    #[test]
    fn idle_state_is_all_zeros() {
        let progress = Progress::default();
        let state = progress.state();
        assert_eq!((state["job"].clone(), state["job_count"].clone()), (json!(""), json!(0)));
        assert_eq!(state["job_timestamp"], "0");
    }
}
