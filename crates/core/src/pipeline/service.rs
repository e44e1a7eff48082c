//! What clients do with runs: start one, read it and its version tree, give
//! feedback, continue, stop, resume, cancel, branch from an earlier version, and
//! propose a change in words. Each write names the run's revision; the run only
//! moves through the [`Engine`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::driver::Engine;
use super::feedback::{self, Change, ChangeRefused, ChangeType};
use super::model::{FeedbackMode, Run, RunSettings, RunStatus, RunTask, Version, VersionKind};
use super::phase::StepOutcome;
use crate::account::Principal;
use crate::catalog::Modality;
use crate::error::{CoreError, Result};
use crate::ids::{RunId, TaskId, VersionId};
use crate::task::{CreateTask, TaskStatus, require_write};
use crate::text::TextRequest;
use crate::time::{Millis, now_millis};

/// Limits on runs (the configuration's `[pipelines]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRules {
    /// The shortest and longest story, in characters (seed 001: 5,000 to 50,000).
    pub min_chars: usize,
    pub max_chars: usize,
    /// Runs one user may have going at once (0: no limit).
    pub max_active_per_user: u32,
    /// Runs one user may start per hour (0: no limit).
    pub max_per_hour: u32,
    /// A run's time limit when the request names none (seed 001: 600 s).
    pub deadline_seconds: u32,
    pub default_text_model: String,
    pub default_image_model: String,
}

impl Default for PipelineRules {
    fn default() -> Self {
        Self {
            min_chars: 5_000,
            max_chars: 50_000,
            max_active_per_user: 3,
            max_per_hour: 30,
            deadline_seconds: 600,
            default_text_model: super::manga::DEFAULT_TEXT_MODEL.to_owned(),
            default_image_model: super::manga::DEFAULT_IMAGE_MODEL.to_owned(),
        }
    }
}

/// A request to start a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRun {
    pub pipeline: String,
    pub text: String,
    pub request_id: Option<String>,
    pub feedback: Option<FeedbackMode>,
    pub text_model: Option<String>,
    pub image_model: Option<String>,
    pub deadline_seconds: Option<u32>,
    pub quality: Option<u8>,
    pub ai_auto_settings: Option<bool>,
    pub options: Option<Value>,
    pub last_phase: Option<u32>,
}

/// What a person does to a run besides changing its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on to the next phase now.
    Continue,
    /// Wait with no deadline until resumed.
    Stop,
    /// Go on after a stop.
    Resume,
    Cancel,
}

/// A change proposed in words: its task, and once it answered, the patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub id: TaskId,
    pub status: TaskStatus,
    pub request: String,
    /// The version it was made against.
    pub basis: Option<VersionId>,
    /// The RFC 6902 operations proposed, once answered.
    pub operations: Option<Value>,
    pub summary: Option<String>,
    pub not_understood: Vec<String>,
    /// What applying it would change (a patch from the basis document), or why it
    /// cannot apply.
    pub diff: Option<Value>,
    pub error: Option<String>,
}

fn invalid(field: &str, message: String, mut details: Value) -> CoreError {
    if let Some(object) = details.as_object_mut() {
        object.insert("field".into(), json!(field));
    }
    CoreError::InvalidInput { message, details }
}

fn refused(error: ChangeRefused) -> CoreError {
    let mut details = error.details;
    if let Some(object) = details.as_object_mut() {
        object.insert("reason".into(), json!(error.code));
        object.entry("field").or_insert(json!("change"));
    }
    CoreError::InvalidInput { message: error.message, details }
}

/// Another write kept moving the run while a change was made (four tries).
fn run_changed() -> CoreError {
    CoreError::Conflict { code: "run_busy", message: "the run changed meanwhile; try again".into() }
}

fn busy(run: &Run, action: &str) -> CoreError {
    CoreError::Conflict {
        code: "run_state",
        message: format!("cannot {action} a run that is {} (phase {})", run.status.as_str(), run.phase),
    }
}

pub struct PipelineService {
    engine: Arc<Engine>,
    rules: PipelineRules,
}

/// The JSON Schema of a proposed change (what the text model answers).
pub fn proposal_schema() -> Value {
    json!({
        "type": "object",
        "required": ["operations", "summary"],
        "properties": {
            "operations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["op", "path"],
                    "properties": {
                        "op": { "enum": ["add", "remove", "replace", "move", "copy"] },
                        "path": { "type": "string" },
                        "from": { "type": "string" },
                        "value": {}
                    }
                }
            },
            "summary": { "type": "string" },
            "not_understood": { "type": "array", "items": { "type": "string" } }
        }
    })
}

impl PipelineService {
    pub fn new(engine: Arc<Engine>, rules: PipelineRules) -> Self {
        Self { engine, rules }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn rules(&self) -> &PipelineRules {
        &self.rules
    }

    fn check_model(&self, field: &str, model: &str, modality: Modality) -> Result<String> {
        let spec = match self.engine.tasks.resolve_model(Some(model)) {
            Ok(spec) => spec,
            Err(CoreError::NotFound { .. } | CoreError::InvalidInput { .. }) => {
                return Err(invalid(field, format!("{field}: there is no model {model:?}"), json!({ "model": model })));
            }
            Err(other) => return Err(other),
        };
        if spec.modality != modality {
            return Err(invalid(
                field,
                format!("{field}: {} makes {:?}, not {modality:?}", spec.id(), spec.modality),
                json!({ "model": model }),
            ));
        }
        Ok(spec.id())
    }

    /// Checks and stores a new run, and starts it.
    pub async fn create(&self, caller: &Principal, request: NewRun) -> Result<Run> {
        require_write(caller)?;
        let pipeline = self.engine.pipeline(&request.pipeline)?;
        let chars = request.text.chars().count();
        let (min, max) = (self.rules.min_chars, self.rules.max_chars);
        if request.text.trim().is_empty() || chars < min || chars > max {
            return Err(invalid(
                "text",
                format!("text: {chars} characters; a story of {min} to {max} characters is needed"),
                json!({ "characters": chars, "min": min, "max": max }),
            ));
        }
        let feedback = request.feedback.unwrap_or_default();
        if feedback.timeout_seconds == 0 || feedback.timeout_seconds > 86_400 {
            return Err(invalid(
                "feedback_mode.timeout_seconds",
                "feedback_mode.timeout_seconds: 1 to 86400".into(),
                json!({}),
            ));
        }
        let deadline_seconds = request.deadline_seconds.unwrap_or(self.rules.deadline_seconds);
        if !(1..=86_400).contains(&deadline_seconds) {
            return Err(invalid("deadline_seconds", "deadline_seconds: 1 to 86400".into(), json!({})));
        }
        let quality = request.quality.unwrap_or(3);
        if !(1..=5).contains(&quality) {
            return Err(invalid("quality", "quality: 1 to 5".into(), json!({})));
        }
        if let Some(last) = request.last_phase
            && (last == 0 || last > pipeline.last())
        {
            return Err(invalid("last_phase", format!("last_phase: 1 to {}", pipeline.last()), json!({})));
        }
        let options = request.options.unwrap_or_else(|| json!({}));
        if !options.is_object() {
            return Err(invalid("options", "options: must be an object".into(), json!({})));
        }
        if let Some(request_id) = &request.request_id
            && (request_id.is_empty() || request_id.chars().count() > 200)
        {
            return Err(invalid("request_id", "request_id: 1 to 200 characters".into(), json!({})));
        }
        let text_model = self.check_model(
            "text_model",
            request.text_model.as_deref().unwrap_or(&self.rules.default_text_model),
            Modality::Text,
        )?;
        let image_model = self.check_model(
            "image_model",
            request.image_model.as_deref().unwrap_or(&self.rules.default_image_model),
            Modality::Image,
        )?;
        self.check_limits(caller).await?;
        let now = now_millis();
        let run = Run {
            id: RunId::new(),
            owner: caller.user_id.clone(),
            pipeline: pipeline.name.to_owned(),
            request_id: request.request_id,
            status: RunStatus::Running,
            phase: 1,
            head: None,
            phase_try: 0,
            wake_at: Some(now),
            deadline_at: now + i64::from(deadline_seconds) * 1000,
            text: request.text,
            settings: RunSettings {
                feedback,
                text_model,
                image_model,
                deadline_seconds,
                quality,
                ai_auto_settings: request.ai_auto_settings.unwrap_or(true),
                options,
                last_phase: request.last_phase,
            },
            error: None,
            note: None,
            progress: 0,
            created_at: now,
            updated_at: now,
            completed_at: None,
            paused_at: None,
            revision: 0,
        };
        self.engine.store.create_run(&run).await?;
        self.kick(&run.id);
        Ok(run)
    }

    async fn check_limits(&self, caller: &Principal) -> Result<()> {
        let store = &self.engine.store;
        if self.rules.max_active_per_user > 0 {
            let active = store.count_active_runs(&caller.user_id).await?;
            if active >= u64::from(self.rules.max_active_per_user) {
                return Err(CoreError::Overloaded {
                    message: format!(
                        "{active} of your runs have not ended (at most {} at once)",
                        self.rules.max_active_per_user
                    ),
                    retry_after: Duration::from_secs(30),
                });
            }
        }
        if self.rules.max_per_hour > 0 {
            let hour_ago = now_millis() - 3_600_000;
            let recent = store.count_runs_since(&caller.user_id, hour_ago).await?;
            if recent >= u64::from(self.rules.max_per_hour) {
                return Err(CoreError::Overloaded {
                    message: format!(
                        "you started {recent} runs in the last hour (at most {})",
                        self.rules.max_per_hour
                    ),
                    retry_after: Duration::from_secs(300),
                });
            }
        }
        Ok(())
    }

    /// Advances a run soon, off the caller's request.
    fn kick(&self, id: &RunId) {
        let (engine, id) = (self.engine.clone(), id.clone());
        tokio::spawn(async move {
            if let Err(error) = engine.advance(&id).await {
                tracing::warn!(run_id = %id, %error, "could not advance a run");
            }
        });
    }

    pub async fn get(&self, caller: &Principal, id: &RunId) -> Result<Run> {
        self.engine
            .store
            .get_run(id)
            .await?
            .filter(|run| caller.may_see(Some(&run.owner)))
            .ok_or(CoreError::NotFound { what: "run" })
    }

    /// The caller's run with this request id (the newest).
    pub async fn find_by_request(&self, caller: &Principal, request_id: &str) -> Result<Option<Run>> {
        self.engine.store.find_run_by_request(&caller.user_id, request_id).await
    }

    pub async fn list(
        &self,
        caller: &Principal,
        before: Option<&RunId>,
        limit: u32,
    ) -> Result<(Vec<Run>, Option<RunId>)> {
        let owner = (!caller.is_admin()).then_some(&caller.user_id);
        self.engine.store.list_runs(owner, before, limit.clamp(1, 100)).await
    }

    pub async fn versions(&self, caller: &Principal, id: &RunId) -> Result<Vec<Version>> {
        self.get(caller, id).await?;
        self.engine.store.list_versions(id).await
    }

    pub async fn version(&self, caller: &Principal, id: &RunId, version: &VersionId) -> Result<Version> {
        self.get(caller, id).await?;
        self.engine
            .store
            .get_version(version)
            .await?
            .filter(|found| &found.run_id == id)
            .ok_or(CoreError::NotFound { what: "version" })
    }

    async fn head(&self, run: &Run) -> Result<Version> {
        let Some(head) = &run.head else {
            return Err(CoreError::Conflict {
                code: "run_state",
                message: "the run has no finished phase to change yet".into(),
            });
        };
        self.engine.store.get_version(head).await?.ok_or(CoreError::NotFound { what: "version" })
    }

    /// Applies a change to the run's current version: a new child version; the
    /// document must keep every finished phase's schema.
    pub async fn feedback(&self, caller: &Principal, id: &RunId, change: Change) -> Result<(Run, Version)> {
        require_write(caller)?;
        for _ in 0..4 {
            let mut run = self.get(caller, id).await?;
            if matches!(run.status, RunStatus::Running | RunStatus::Parked | RunStatus::Cancelled | RunStatus::Failed) {
                return Err(busy(&run, "change"));
            }
            let head = self.head(&run).await?;
            let (document, summary) = feedback::apply(&head.document, &change).map_err(refused)?;
            self.check_document(&run, head.phase, &document)?;
            let applied = feedback::record(&head.document, &document, &change, summary);
            if change.change_type == ChangeType::Regenerate {
                self.redraw(&mut run)?;
            }
            if let Some(version) = self.add_feedback_version(&mut run, &head, document, applied, &change).await? {
                if run.status == RunStatus::Running {
                    self.engine.events.publish(&run.id, "phase_started", json!({ "phase": run.phase }));
                    self.kick(&run.id);
                }
                return Ok((run, version));
            }
        }
        Err(CoreError::Conflict {
            code: "run_busy",
            message: "the run changed while the change was applied; try again".into(),
        })
    }

    /// A regenerate change sends the run back to the phase that draws the panels
    /// (the one that writes `art`); the phases after it run again, keeping what a
    /// person changed (their lettering).
    fn redraw(&self, run: &mut Run) -> Result<()> {
        let pipeline = self.engine.pipeline(&run.pipeline)?;
        let Some(phase) = pipeline.phases.iter().find(|phase| phase.parts().contains(&"art")) else {
            return Err(invalid("change", "this pipeline draws no panels".into(), json!({ "reason": "no_panels" })));
        };
        let now = now_millis();
        self.engine.unpause(run, now);
        run.phase = phase.number();
        run.phase_try = 0;
        run.progress = 0;
        run.status = RunStatus::Running;
        run.error = None;
        run.completed_at = None;
        run.note = Some("panels are drawn again".into());
        run.wake_at = Some(now);
        // New work: the run's time limit again.
        run.deadline_at = run.deadline_at.max(now + i64::from(run.settings.deadline_seconds) * 1000);
        Ok(())
    }

    fn check_document(&self, run: &Run, phase: u32, document: &Value) -> Result<()> {
        let pipeline = self.engine.pipeline(&run.pipeline)?;
        let schema = super::manga::document_schema(pipeline, phase);
        crate::text::check_answer(&schema, document).map_err(|errors| {
            invalid(
                "change",
                format!("the change leaves the document invalid: {errors}"),
                json!({ "reason": "invalid_document", "errors": errors }),
            )
        })
    }

    async fn add_feedback_version(
        &self,
        run: &mut Run,
        head: &Version,
        document: Value,
        applied: super::model::AppliedChange,
        change: &Change,
    ) -> Result<Option<Version>> {
        let now = now_millis();
        let version = Version {
            id: VersionId::new(),
            run_id: run.id.clone(),
            parent: Some(head.id.clone()),
            phase: head.phase,
            kind: VersionKind::Feedback,
            document,
            description: format!("Phase {} user feedback applied ({})", head.phase, applied.change_type),
            changes: vec![applied],
            elapsed_ms: None,
            created_at: now,
        };
        run.head = Some(version.id.clone());
        run.updated_at = now;
        if !self.engine.store.add_version(run, &version).await? {
            return Ok(None);
        }
        run.revision += 1;
        self.engine.events.publish(
            &run.id,
            "preview_change",
            json!({
                "element_id": change.element_id,
                "change_data": change.change_data,
                "change_type": change.change_type.as_str(),
                "version_id": version.id,
                "preview_url": super::preview_url(&run.id, &version.id),
            }),
        );
        Ok(Some(version))
    }

    /// Continue, stop, resume or cancel.
    pub async fn control(&self, caller: &Principal, id: &RunId, control: Control) -> Result<Run> {
        require_write(caller)?;
        for _ in 0..4 {
            let mut run = self.get(caller, id).await?;
            let now = now_millis();
            let pipeline = self.engine.pipeline(&run.pipeline)?;
            match (control, run.status) {
                (Control::Continue, RunStatus::WaitingInput) | (Control::Resume, RunStatus::Paused) => {
                    self.engine.unpause(&mut run, now);
                    self.engine.start_next_phase(&mut run, pipeline, now);
                }
                (Control::Stop, RunStatus::WaitingInput) => {
                    run.status = RunStatus::Paused;
                    // The clock has been held since the wait began.
                    run.paused_at = run.paused_at.or(Some(now));
                    run.wake_at = None;
                    run.updated_at = now;
                    self.engine.events.publish(&run.id, "status", json!({ "status": "paused" }));
                }
                (Control::Cancel, status) if !status.is_terminal() => {
                    self.engine.cancel_phase_tasks(&run).await;
                    run.status = RunStatus::Cancelled;
                    run.completed_at = Some(now);
                    run.wake_at = None;
                    run.updated_at = now;
                    self.engine.events.publish(&run.id, "status", json!({ "status": "cancelled" }));
                }
                _ => {
                    let action = match control {
                        Control::Continue => "continue",
                        Control::Stop => "stop",
                        Control::Resume => "resume",
                        Control::Cancel => "cancel",
                    };
                    return Err(busy(&run, action));
                }
            }
            if self.engine.store.update_run(&run).await? {
                run.revision += 1;
                self.kick(&run.id);
                return Ok(run);
            }
        }
        Err(run_changed())
    }

    /// Goes back to an earlier version: the run continues from it (the phase after
    /// it) while the old branch stays readable. A phase at work is abandoned.
    pub async fn branch(&self, caller: &Principal, id: &RunId, from: &VersionId) -> Result<Run> {
        require_write(caller)?;
        let version = self.version(caller, id, from).await?;
        for _ in 0..4 {
            let mut run = self.get(caller, id).await?;
            if matches!(run.status, RunStatus::Cancelled) {
                return Err(busy(&run, "branch"));
            }
            if run.status == RunStatus::Running {
                self.engine.cancel_phase_tasks(&run).await;
            }
            let now = now_millis();
            self.engine.unpause(&mut run, now);
            run.head = Some(version.id.clone());
            run.phase = version.phase;
            run.phase_try = 0;
            run.progress = 100;
            run.error = None;
            run.completed_at = None;
            run.note = Some(format!("branched from version {} (phase {})", version.id, version.phase));
            run.status = RunStatus::WaitingInput;
            run.paused_at = Some(now);
            let wait = if run.settings.feedback.enabled { run.settings.feedback.timeout_seconds } else { 0 };
            run.wake_at = Some(now + i64::from(wait) * 1000);
            // A branch is new work: it gets the run's time limit again.
            run.deadline_at = run.deadline_at.max(now + i64::from(run.settings.deadline_seconds) * 1000);
            run.error = None;
            run.updated_at = now;
            if self.engine.store.update_run(&run).await? {
                run.revision += 1;
                self.engine.events.publish(
                    &run.id,
                    "branch",
                    json!({ "version_id": version.id, "phase": version.phase }),
                );
                self.kick(&run.id);
                return Ok(run);
            }
        }
        Err(run_changed())
    }

    /// Asks the run's text model for a change in words, as a patch to the current
    /// version; answered by [`Self::proposal`] once its task ends.
    pub async fn propose(&self, caller: &Principal, id: &RunId, request: &str) -> Result<Proposal> {
        require_write(caller)?;
        let run = self.get(caller, id).await?;
        if matches!(run.status, RunStatus::Running | RunStatus::Parked | RunStatus::Cancelled | RunStatus::Failed) {
            return Err(busy(&run, "change"));
        }
        let request = request.trim();
        if request.is_empty() || request.chars().count() > 2_000 {
            return Err(invalid("text", "text: 1 to 2000 characters".into(), json!({})));
        }
        let head = self.head(&run).await?;
        let pipeline = self.engine.pipeline(&run.pipeline)?;
        let mut text = TextRequest::new(format!(
            "A person reviewing the manga asks for this change: {request:?}. Answer with RFC 6902 JSON Patch operations \
             (paths as JSON pointers into the document) that make exactly this change and keep the document valid \
             against its schema; a one-line summary; and list any part of the request you could not apply."
        ));
        text.schema = Some(proposal_schema());
        text.schema_name = Some("manga_revision".into());
        text.context = Some(json!({
            "task": "manga.revise",
            "request": request,
            "phase": head.phase,
            "document": head.document,
            "schema": super::manga::document_schema(pipeline, head.phase),
        }));
        let principal = self
            .engine
            .principal(&run)
            .await?
            .ok_or(CoreError::Forbidden { message: "the run's owner is disabled".into() })?;
        let key = format!("proposal:{}:{}", head.id, uuid::Uuid::now_v7().simple());
        let create = CreateTask {
            model: Some(run.settings.text_model.clone()),
            input: text.to_value(),
            priority: 1,
            idempotency_key: Some(format!("{}:{key}", run.id)),
            request_hash: None,
            prompt_id: None,
            place: None,
        };
        let (task, _) = self.engine.tasks.create(&principal, create).await?;
        self.engine.store.link_task(&RunTask { run_id: run.id.clone(), key, task_id: task.id, reused: None }).await?;
        self.proposal(caller, id, task.id).await
    }

    /// A proposal: its task's state, and once answered the patch and its diff.
    pub async fn proposal(&self, caller: &Principal, id: &RunId, proposal: TaskId) -> Result<Proposal> {
        let run = self.get(caller, id).await?;
        let links = self.engine.store.run_tasks(&run.id, "proposal:").await?;
        let Some(link) = links.into_iter().find(|link| link.task_id == proposal) else {
            return Err(CoreError::NotFound { what: "proposal" });
        };
        let principal = self.engine.principal(&run).await?.ok_or(CoreError::NotFound { what: "proposal" })?;
        let task = self.engine.tasks.get(&principal, proposal).await?;
        let basis = link.key.split(':').nth(1).and_then(VersionId::parse);
        let request = task.input.pointer("/context/request").and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut answer = Proposal {
            id: proposal,
            status: task.status,
            request,
            basis: basis.clone(),
            operations: None,
            summary: None,
            not_understood: Vec::new(),
            diff: None,
            error: task.error.as_ref().map(|error| error.message.clone()),
        };
        let StepOutcome::Done(output) = self.engine.outcome(&task).await? else { return Ok(answer) };
        let Some(json) = output.json else {
            answer.error = Some("the text model answered no JSON".into());
            return Ok(answer);
        };
        answer.operations = json.get("operations").cloned();
        answer.summary = json.get("summary").and_then(Value::as_str).map(str::to_owned);
        answer.not_understood = json
            .get("not_understood")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if let Some(basis) = &basis
            && let Some(version) = self.engine.store.get_version(basis).await?
        {
            match self.patched(&run, &version, answer.operations.as_ref()) {
                Ok(document) => answer.diff = Some(json!(json_patch::diff(&version.document, &document))),
                Err(error) => answer.error = Some(error.to_string()),
            }
        }
        Ok(answer)
    }

    fn patched(&self, run: &Run, basis: &Version, operations: Option<&Value>) -> Result<Value> {
        let operations = operations.cloned().unwrap_or_else(|| json!([]));
        let patch: json_patch::Patch = serde_json::from_value(operations)
            .map_err(|error| invalid("operations", format!("the proposal is not a JSON Patch: {error}"), json!({})))?;
        let mut document = basis.document.clone();
        json_patch::patch(&mut document, &patch).map_err(|error| {
            invalid("operations", format!("the proposal does not apply: {error}"), json!({ "reason": "patch_failed" }))
        })?;
        self.check_document(run, basis.phase, &document)?;
        Ok(document)
    }

    /// Applies an answered proposal made against the current version.
    pub async fn apply_proposal(&self, caller: &Principal, id: &RunId, proposal: TaskId) -> Result<(Run, Version)> {
        require_write(caller)?;
        let answer = self.proposal(caller, id, proposal).await?;
        if answer.status != TaskStatus::Completed || answer.operations.is_none() {
            return Err(CoreError::Conflict {
                code: "proposal_not_ready",
                message: format!("the proposal is {} and has no answer to apply", answer.status.as_str()),
            });
        }
        for _ in 0..4 {
            let mut run = self.get(caller, id).await?;
            if matches!(run.status, RunStatus::Running | RunStatus::Parked | RunStatus::Cancelled | RunStatus::Failed) {
                return Err(busy(&run, "change"));
            }
            let head = self.head(&run).await?;
            if answer.basis.as_ref() != Some(&head.id) {
                return Err(CoreError::Conflict {
                    code: "stale_proposal",
                    message: "the run's document changed since the proposal was made; propose again".into(),
                });
            }
            let document = self.patched(&run, &head, answer.operations.as_ref())?;
            let change = Change {
                change_type: ChangeType::NaturalLanguage,
                element_id: None,
                change_data: json!({ "text": answer.request, "proposal_id": proposal.to_string() }),
            };
            let mut summary = answer.summary.clone().unwrap_or_default();
            if !answer.not_understood.is_empty() {
                summary.push_str(&format!(" (not understood: {})", answer.not_understood.join("; ")));
            }
            let applied = feedback::record(&head.document, &document, &change, summary);
            if let Some(version) = self.add_feedback_version(&mut run, &head, document, applied, &change).await? {
                return Ok((run, version));
            }
        }
        Err(run_changed())
    }
}

/// How long the run has taken so far (the seed's `processing_time`, seconds).
pub fn processing_seconds(run: &Run) -> f64 {
    let end: Millis = run.completed_at.unwrap_or_else(now_millis);
    (end - run.created_at).max(0) as f64 / 1000.0
}
