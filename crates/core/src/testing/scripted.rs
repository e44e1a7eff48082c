//! A provider whose answers a test scripts, counting every call.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use crate::catalog::{Modality, ModelSpec};
use crate::error::Result;
use crate::ports::{ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted};
use crate::ratelimit::RateLimit;

/// One scripted answer, to a submit or a poll.
#[derive(Debug)]
pub enum Answer {
    /// The work is done, with these outputs.
    Finish(Vec<Output>),
    /// Submit: accepted under this external id, to be polled after `poll_after`.
    Accept(String),
    /// Poll: still running.
    Running,
    /// Submit: the call failed. Poll: the task failed at the provider.
    Fail(ProviderError),
    /// Poll: the call itself failed (the provider still has the task).
    PollError(ProviderError),
    /// Never answers (a provider that hangs), until the run is interrupted.
    Hang,
}

/// A provider of the service `service`, offering `models`, answering as scripted.
/// When a script runs out, a submit or poll finishes with one small PNG.
///
/// A task's input may script its own run too: `errors: ["provider_error", …]` fails
/// attempt *n* with the *n*th error class (by its stable code), and `files: [...]`
/// names its input files.
pub struct Scripted {
    service: String,
    models: Mutex<Vec<ModelSpec>>,
    /// What the service will list once asked again (`refresh_models`).
    next_models: Mutex<Option<Result<Vec<ModelSpec>, ProviderError>>>,
    costly: bool,
    rate_limit: Option<RateLimit>,
    poll_after: Duration,
    submits: Mutex<VecDeque<Answer>>,
    polls: Mutex<VecDeque<Answer>>,
    prepares: Mutex<VecDeque<ProviderError>>,
    pub prepare_calls: AtomicUsize,
    pub submit_calls: AtomicUsize,
    pub poll_calls: AtomicUsize,
    /// The external ids polls were made with, in order.
    polled: Mutex<Vec<String>>,
    /// When each submit came.
    submitted_at: Mutex<Vec<std::time::Instant>>,
}

impl Scripted {
    /// A free (not costly) service with one image model, `model`.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            models: Mutex::new(vec![Self::spec(service, "model", Modality::Image)]),
            next_models: Mutex::default(),
            costly: false,
            rate_limit: None,
            poll_after: Duration::from_millis(10),
            submits: Mutex::default(),
            polls: Mutex::default(),
            prepares: Mutex::default(),
            prepare_calls: AtomicUsize::new(0),
            submit_calls: AtomicUsize::new(0),
            poll_calls: AtomicUsize::new(0),
            polled: Mutex::default(),
            submitted_at: Mutex::default(),
        }
    }

    /// A model spec of this service (usable, any object input).
    pub fn spec(service: &str, model: &str, modality: Modality) -> ModelSpec {
        ModelSpec {
            service: service.to_owned(),
            model: model.to_owned(),
            aliases: Vec::new(),
            modality,
            title: model.to_owned(),
            description: "a scripted test model".to_owned(),
            input_schema: serde_json::json!({ "type": "object" }),
            estimated_seconds: 1,
            poll_timeout_secs: None,
            requires_config: None,
        }
    }

    pub fn with_models(self, models: Vec<ModelSpec>) -> Self {
        *self.models.lock().unwrap_or_else(PoisonError::into_inner) = models;
        self
    }

    /// The service will list these models once the catalog asks again (or fail to).
    pub fn on_refresh(&self, models: Result<Vec<ModelSpec>, ProviderError>) {
        *self.next_models.lock().unwrap_or_else(PoisonError::into_inner) = Some(models);
    }

    /// Submits cost money: they are marked first and never repeated blindly.
    pub fn costly(mut self) -> Self {
        self.costly = true;
        self
    }

    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The next submits answer these, in order.
    pub fn on_submit(self, answers: impl IntoIterator<Item = Answer>) -> Self {
        self.submits.lock().unwrap_or_else(PoisonError::into_inner).extend(answers);
        self
    }

    /// The next polls answer these, in order.
    pub fn on_poll(self, answers: impl IntoIterator<Item = Answer>) -> Self {
        self.polls.lock().unwrap_or_else(PoisonError::into_inner).extend(answers);
        self
    }

    /// The next prepares fail with these, in order.
    pub fn on_prepare(self, errors: impl IntoIterator<Item = ProviderError>) -> Self {
        self.prepares.lock().unwrap_or_else(PoisonError::into_inner).extend(errors);
        self
    }

    pub fn submits(&self) -> usize {
        self.submit_calls.load(Ordering::SeqCst)
    }

    pub fn polls(&self) -> usize {
        self.poll_calls.load(Ordering::SeqCst)
    }

    pub fn prepares(&self) -> usize {
        self.prepare_calls.load(Ordering::SeqCst)
    }

    /// When each submit came, in order.
    pub fn submit_times(&self) -> Vec<std::time::Instant> {
        self.submitted_at.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The external ids polls were made with, in order.
    pub fn polled_ids(&self) -> Vec<String> {
        self.polled.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn next(script: &Mutex<VecDeque<Answer>>) -> Answer {
        script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or_else(|| Answer::Finish(vec![tiny_png()]))
    }
}

/// A 1×1 PNG output.
pub fn tiny_png() -> Output {
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
        0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff,
        0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    Output::new(Bytes::from_static(PNG), "image/png").with_size(1, 1)
}

#[async_trait]
impl Provider for Scripted {
    fn service(&self) -> &str {
        &self.service
    }

    fn models(&self) -> Vec<ModelSpec> {
        self.models.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    async fn refresh_models(&self) -> Result<(), ProviderError> {
        match self.next_models.lock().unwrap_or_else(PoisonError::into_inner).take() {
            Some(Ok(models)) => {
                *self.models.lock().unwrap_or_else(PoisonError::into_inner) = models;
                Ok(())
            }
            Some(Err(error)) => Err(error),
            None => Ok(()),
        }
    }

    fn validate(&self, _model: &str, input: &Value) -> Result<Value> {
        Ok(input.clone())
    }

    fn submit_is_costly(&self) -> bool {
        self.costly
    }

    fn submit_rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    async fn prepare(&self, _job: &Job<'_>) -> Result<(), ProviderError> {
        self.prepare_calls.fetch_add(1, Ordering::SeqCst);
        match self.prepares.lock().unwrap_or_else(PoisonError::into_inner).pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn input_files(&self, _model: &str, input: &Value) -> Vec<String> {
        input["files"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        self.submit_calls.fetch_add(1, Ordering::SeqCst);
        self.submitted_at.lock().unwrap_or_else(PoisonError::into_inner).push(std::time::Instant::now());
        let attempt = job.attempt.max(1) as usize - 1;
        if let Some(code) = job.input["errors"].get(attempt).and_then(Value::as_str) {
            let class = ErrorClass::from_code(code).unwrap_or(ErrorClass::ClientError);
            let mut error = ProviderError::new(class, format!("scripted {code}"));
            if class == ErrorClass::RateLimited {
                error.retry_after = Some(Duration::from_millis(50));
            }
            return Err(error);
        }
        match Self::next(&self.submits) {
            Answer::Finish(outputs) => Ok(Submitted::Finished(outputs)),
            // `{task}` in a scripted id stands for the task's id.
            Answer::Accept(external_id) => Ok(Submitted::Accepted {
                external_id: external_id.replace("{task}", &job.task_id.to_string()),
                poll_after: self.poll_after,
            }),
            Answer::Fail(error) | Answer::PollError(error) => Err(error),
            Answer::Running => Ok(Submitted::Accepted { external_id: "scripted".into(), poll_after: self.poll_after }),
            Answer::Hang => std::future::pending().await,
        }
    }

    async fn poll(&self, _job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        self.poll_calls.fetch_add(1, Ordering::SeqCst);
        self.polled.lock().unwrap_or_else(PoisonError::into_inner).push(external_id.to_owned());
        match Self::next(&self.polls) {
            Answer::Finish(outputs) => Ok(Polled::Finished(outputs)),
            Answer::Running | Answer::Accept(_) => Ok(Polled::Running { progress: None, poll_after: self.poll_after }),
            Answer::Fail(error) => Ok(Polled::Failed(error)),
            Answer::PollError(error) => Err(error),
            Answer::Hang => std::future::pending().await,
        }
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}
