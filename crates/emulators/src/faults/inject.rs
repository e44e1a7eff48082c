//! The middleware that injects faults, for any emulator: it counts each
//! request, picks its fault (the `X-Emulator-Fault` header first, then the
//! run's plan) and applies it. What a fault does to the answer is the same
//! everywhere; each emulator ([`FaultHost`]) says how its answers look.
//!
//! - `latency=<ms>`: waits, then handles the request.
//! - `timeout`: handles the request, then holds the answer for the emulator's
//!   timeout duration, longer than any sane client timeout.
//! - `reset`: drops the connection unanswered; the request is not handled.
//!   Needs the emulator's `serve` (see `crate::serve`): through a bare router it
//!   answers the emulator's error 500 instead.
//! - `status=<code>[,retry_after_seconds=<n>]`: answers the emulator's error
//!   shape with that code, without handling the request; `Retry-After` only
//!   when asked for.
//! - `malformed`: handles the request, then answers HTTP 200 with JSON cut short.
//! - `generation_failed` / `never_finish` (and VolcEngine's `expired`, Google's
//!   `safety`, the self-hosted Stable Diffusion servers' `oom` and `restart`):
//!   handed to the handler as a [`TaskFault`], which marks the task it creates
//!   or polls (or shapes the synchronous answer).
//!
//! An emulator may answer a fault its own way on some endpoints first
//! ([`FaultHost::adapt`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::header::requested_fault;
use super::{FAULT_HEADER, Fault, FaultPlan, PlanRunner, RuleEndpoint};
use crate::serve::ConnectionKill;

/// One emulator's faults in motion: its plan's runner, how long `timeout`
/// holds an answer, and how many faults were injected, by name.
pub(crate) struct Injector<E> {
    runner: Mutex<PlanRunner<E>>,
    timeout: Duration,
    injected: Mutex<BTreeMap<&'static str, u64>>,
}

impl<E: RuleEndpoint + PartialEq> Injector<E> {
    /// Plays `plan` under `seed`; `timeout` holds the `timeout` fault's answers.
    pub(crate) fn new(plan: &FaultPlan<E>, seed: u64, timeout: Duration) -> Self {
        Self { runner: Mutex::new(PlanRunner::new(plan, seed)), timeout, injected: Mutex::default() }
    }

    /// The plan's fault for the next request to `endpoint`, if a rule fires.
    fn next(&self, endpoint: E) -> Option<Fault> {
        lock(&self.runner).next(endpoint)
    }

    fn count(&self, fault: &Fault) {
        *lock(&self.injected).entry(fault.name()).or_default() += 1;
    }

    /// The faults injected so far, by name (`status`, `reset`…), for the stats.
    pub(crate) fn injected(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.injected).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the fault middleware needs from one emulator: its endpoints, its
/// [`Injector`] and counters, and its answers.
pub(crate) trait FaultHost: Send + Sync + 'static {
    /// The endpoints its rules name.
    type Endpoint: RuleEndpoint + PartialEq + fmt::Debug + Send;
    /// Its name in logs (`kie emulator`).
    const NAME: &'static str;
    /// The start of a JSON answer, cut short: what `malformed` answers.
    const MALFORMED_BODY: &'static str;

    /// The endpoint a request goes to (by its path, or by its query where the
    /// protocol names the operation there, as VolcEngine's `Action` does).
    fn classify(method: &Method, uri: &Uri) -> Self::Endpoint;
    /// Its faults in motion.
    fn injector(&self) -> &Injector<Self::Endpoint>;
    /// Counts a request, faulted or not.
    fn count_request(&self, endpoint: Self::Endpoint, uri: &Uri);

    /// The answer to an `X-Emulator-Fault` header that does not parse.
    fn bad_header(message: &str) -> Response;
    /// The answer to `status=<code>` on `endpoint` (`Retry-After` is added after).
    fn status_answer(endpoint: Self::Endpoint, code: u16) -> Response;
    /// The answer to `reset` when there is no connection to drop (a bare router).
    fn reset_unavailable() -> Response;
    /// What the emulator makes of `fault` on `endpoint`: by default every
    /// fault applies as it is.
    fn adapt(endpoint: Self::Endpoint, fault: Fault) -> Adapted {
        let _ = endpoint;
        Adapted::Apply(fault)
    }
}

/// What an emulator makes of a fault on one of its endpoints ([`FaultHost::adapt`]).
pub(crate) enum Adapted {
    /// Apply this fault: the one injected, or another in its place.
    Apply(Fault),
    /// Answer this, without handling the request.
    Answer(Response),
}

/// A task fault handed from the middleware to the handler that creates or polls the task.
#[derive(Debug, Clone)]
pub(crate) struct TaskFault(Fault);

impl TaskFault {
    /// The task fault the middleware handed to this request, if any.
    pub(crate) fn of(request: &Request) -> Option<Fault> {
        request.extensions().get::<TaskFault>().map(|f| f.0.clone())
    }
}

/// Counts each request, picks its fault (header first, then the plan), and applies it.
pub(crate) async fn middleware<H: FaultHost>(State(host): State<Arc<H>>, mut request: Request, next: Next) -> Response {
    let endpoint = H::classify(request.method(), request.uri());
    host.count_request(endpoint, request.uri());

    let from_header = match requested_fault(request.headers(), H::Endpoint::parse_fault) {
        Ok(fault) => fault,
        Err(e) => return H::bad_header(&format!("invalid {FAULT_HEADER} header: {e}")),
    };
    // The plan sees every request, so "every Nth" counts requests, not just unfaulted ones.
    let injector = host.injector();
    let planned = injector.next(endpoint);
    let Some(fault) = from_header.or(planned) else {
        return next.run(request).await;
    };
    tracing::debug!(fault = %fault, endpoint = ?endpoint, "{}: injecting a fault", H::NAME);
    injector.count(&fault);
    let fault = match H::adapt(endpoint, fault) {
        Adapted::Apply(fault) => fault,
        Adapted::Answer(answer) => return answer,
    };

    match fault {
        Fault::Latency(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Fault::Timeout => {
            let response = next.run(request).await;
            tokio::time::sleep(injector.timeout).await;
            response
        }
        Fault::Reset => match request.extensions().get::<ConnectionKill>() {
            Some(kill) => kill.drop_connection().await,
            None => H::reset_unavailable(),
        },
        Fault::Status { code, retry_after_seconds } => {
            let mut response = H::status_answer(endpoint, code);
            if let Some(n) = retry_after_seconds {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(n));
            }
            response
        }
        Fault::Malformed => {
            let _ = next.run(request).await;
            let mut response = (StatusCode::OK, Body::from(H::MALFORMED_BODY)).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Fault::GenerationFailed
        | Fault::NeverFinish
        | Fault::Expired
        | Fault::Safety(_)
        | Fault::Oom
        | Fault::Restart => {
            request.extensions_mut().insert(TaskFault(fault));
            next.run(request).await
        }
    }
}
