//! The model at work, shared by every API family: one generation at a time
//! (sd-server's `sd_ctx_mutex`: the synchronous calls and the async jobs'
//! worker take turns), each sampling `steps` steps of `step_ms`, then drawing
//! its images with `crate::render` (from each image's seed `seed + i`, the
//! model's name and the parameters' digest).
//!
//! The task faults act here, step by step: `oom` fails before the first step,
//! `restart` restarts the server once half of the steps are sampled,
//! `never_finish` stays on the last step, `generation_failed` fails once the
//! steps are sampled.

use std::time::Duration;

use base64::Engine;
use tokio::sync::watch;

use super::SdCppState;
use super::errors;
use super::params::Resolved;
use crate::faults::Fault;
use crate::render::{Encoding, render};

/// How often a generation stuck on its last step looks up.
const STALL_TICK: Duration = Duration::from_millis(20);

/// How sampling ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Sampled {
    /// Every step sampled: the images can be drawn.
    Finished,
    /// The generation failed with this message.
    Failed(String),
    /// The server restarted (or the job is gone): nothing to answer.
    Lost,
}

/// Resolves when the server restarts (the epoch moves on).
pub(super) async fn restarted(epoch: &mut watch::Receiver<u64>) {
    if epoch.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn step_wait(delay: Duration) {
    if delay.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(delay).await;
    }
}

/// Counts a generation holding the model while it holds it.
pub(super) struct Running<'a>(&'a SdCppState);

impl<'a> Running<'a> {
    pub(super) fn new(state: &'a SdCppState) -> Self {
        let mut inner = state.inner();
        inner.stats.running += 1;
        inner.stats.max_concurrency = inner.stats.max_concurrency.max(inner.stats.running);
        Self(state)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut inner = self.0.inner();
        inner.stats.running = inner.stats.running.saturating_sub(1);
    }
}

/// Counts a request waiting for the model while it waits.
pub(super) struct Waiting<'a>(&'a SdCppState);

impl<'a> Waiting<'a> {
    pub(super) fn new(state: &'a SdCppState) -> Self {
        let mut inner = state.inner();
        inner.stats.waiting += 1;
        inner.stats.max_waiting = inner.stats.max_waiting.max(inner.stats.waiting);
        Self(state)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut inner = self.0.inner();
        inner.stats.waiting = inner.stats.waiting.saturating_sub(1);
    }
}

/// Samples `steps` steps while holding the model. After each step `fault_now`
/// says the fault that applies now (a job's may change while it runs), or
/// `None` when there is nothing to generate for any more (the job is gone).
pub(super) async fn sample(
    state: &SdCppState,
    steps: u32,
    epoch: &mut watch::Receiver<u64>,
    mut fault_now: impl FnMut() -> Option<Option<Fault>>,
) -> Sampled {
    let delay = Duration::from_millis(state.config.step_ms);
    let restart_at = steps.div_ceil(2).max(1);
    match fault_now() {
        None => return Sampled::Lost,
        Some(Some(Fault::Oom)) => return Sampled::Failed(errors::OUT_OF_MEMORY.into()),
        Some(_) => {}
    }
    let mut fault = None;
    for step in 1..=steps {
        tokio::select! {
            () = step_wait(delay) => {}
            () = restarted(epoch) => return Sampled::Lost,
        }
        fault = match fault_now() {
            None => return Sampled::Lost,
            Some(fault) => fault,
        };
        match fault {
            Some(Fault::Oom) => return Sampled::Failed(errors::OUT_OF_MEMORY.into()),
            Some(Fault::Restart) if step >= restart_at => {
                state.restart();
                return Sampled::Lost;
            }
            Some(Fault::NeverFinish) if step == steps => loop {
                tokio::select! {
                    () = step_wait(STALL_TICK) => {}
                    () = restarted(epoch) => return Sampled::Lost,
                }
                if fault_now().is_none() {
                    return Sampled::Lost;
                }
            },
            _ => {}
        }
    }
    if fault == Some(Fault::GenerationFailed) {
        return Sampled::Failed(errors::NO_RESULTS.into());
    }
    Sampled::Finished
}

/// Draws a finished generation's images, base64.
pub(super) async fn draw(state: &SdCppState, spec: &Resolved, encoding: Encoding) -> Result<Vec<String>, String> {
    let (width, height, seed, count, digest) = (spec.width, spec.height, spec.seed, spec.count, spec.digest);
    let salt = state.config.model_name.clone();
    let drawn = tokio::task::spawn_blocking(move || {
        (0..count)
            .map(|i| render(width, height, seed.wrapping_add(i64::from(i)) as u64, &salt, &digest, 0, encoding))
            .collect::<Result<Vec<_>, _>>()
    })
    .await;
    let images = match drawn {
        Ok(Ok(images)) => images,
        Ok(Err(e)) => return Err(format!("could not encode an image: {e}")),
        Err(e) => return Err(format!("the image renderer stopped: {e}")),
    };
    state.inner().stats.images_generated += u64::from(count);
    Ok(images.iter().map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes)).collect())
}
