//! The task operations the API offers, with their rules: model resolution and input
//! validation before anything is stored, bounded queue (backpressure), idempotency,
//! cancel, retry as a new linked task, delete with the task's blobs.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::admission::Admission;
use super::{Task, TaskFilter, TaskPage, TaskStatus};
use crate::account::Principal;
use crate::catalog::{Catalog, ModelSpec, ResolvedModel};
use crate::circuit::Circuits;
use crate::error::{CoreError, Result};
use crate::events::{EventBus, TaskEvent};
use crate::ids::{PromptId, TaskId};
use crate::ports::{AssetStore, Callback, CallbackError, CallbackTask, Created, OwnerCount, PromptStore, Store};
use crate::ports::{ErrorClass, InputFiles, InputRef};
use crate::quota::{self, CreateLimit, DailyQuota, LimitCount};
use crate::task::{NewTask, Route, RouteSkip};
use crate::time::{Millis, now_millis};

/// The rules a deployment sets.
#[derive(Debug, Clone)]
pub struct TaskRules {
    /// The model used when a request names none.
    pub default_model: String,
    /// At most this many tasks wait to run; past it, creates answer 429.
    pub max_queued: u64,
    /// At most this many of one user's tasks wait to run (0: no limit of its own).
    pub max_queued_per_user: u64,
    /// A task still pending after this long expires.
    pub pending_ttl: Duration,
    pub max_attempts: u32,
    /// Daily quotas per service or model (seed 001).
    pub daily_quotas: Vec<DailyQuota>,
    /// Per-user limits, by role.
    pub user_limits: crate::account::RoleLimits,
    /// At most this many tasks of a service open at its provider at once, by
    /// service (shown by the providers report; the worker enforces it).
    pub max_in_flight: std::collections::HashMap<String, u32>,
    /// Services to try in order for a model named without one (`imagen4` →
    /// `["google", "kie"]`), by model name in lower case.
    pub routing: std::collections::BTreeMap<String, Vec<String>>,
    /// Models (`service/model`) that remote workers serve through the pull protocol
    /// (`[pull] models`), beside those of services that only remote workers serve:
    /// this server's own workers leave their tasks alone.
    pub pulled: std::collections::BTreeSet<String>,
}

impl TaskRules {
    /// The rules with models named canonically (`kie/sora2` → `kie/sora-2`), so that a
    /// quota or a route written with a former name or a seed 003 constant still holds.
    fn in_canonical_names(mut self, catalog: &Catalog) -> Self {
        for quota in &mut self.daily_quotas {
            quota.scope = catalog.canonical_key(&quota.scope);
        }
        self.routing = std::mem::take(&mut self.routing)
            .into_iter()
            .map(|(model, services)| (catalog.canonical_key(&model), services))
            .collect();
        self.pulled = std::mem::take(&mut self.pulled).iter().map(|model| catalog.canonical_key(model)).collect();
        self
    }
}

impl Default for TaskRules {
    fn default() -> Self {
        Self {
            default_model: "local/placeholder".into(),
            max_queued: 100_000,
            max_queued_per_user: 50_000,
            pending_ttl: Duration::from_secs(24 * 3600),
            max_attempts: 5,
            daily_quotas: Vec::new(),
            user_limits: crate::account::RoleLimits::default(),
            max_in_flight: std::collections::HashMap::new(),
            routing: std::collections::BTreeMap::new(),
            pulled: std::collections::BTreeSet::new(),
        }
    }
}

/// A request to create a task.
#[derive(Debug, Clone, Default)]
pub struct CreateTask {
    /// `service/model`, or a bare model name; the default model when `None`.
    pub model: Option<String>,
    pub input: Value,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    /// A hash of the whole request, to tell a repeated key with another body.
    pub request_hash: Option<String>,
    /// The prompt the task is made from; it must be one the caller may see.
    pub prompt_id: Option<PromptId>,
    /// Where it is set (a stored location of the caller's is resolved by the caller).
    pub place: Option<super::TaskPlace>,
}

pub struct TaskService {
    pub(super) store: Arc<dyn Store>,
    prompts: Arc<dyn PromptStore>,
    pub(super) assets: Arc<dyn AssetStore>,
    pub(super) catalog: Arc<Catalog>,
    pub(super) events: EventBus,
    pub(super) rules: TaskRules,
    /// Each service's circuit breaker, shared with this process's workers.
    pub(super) circuits: Arc<Circuits>,
    /// Room in the queue, overall and per user.
    pub(super) admission: Admission,
    /// Opens a data URI an input carries when the task is created, so that a file
    /// over the media limits is the request's 422 rather than the task's failure.
    inputs: Option<Arc<dyn InputFiles>>,
}

impl TaskService {
    pub fn new(
        store: Arc<dyn Store>,
        prompts: Arc<dyn PromptStore>,
        assets: Arc<dyn AssetStore>,
        catalog: Arc<Catalog>,
        events: EventBus,
        rules: TaskRules,
        circuits: Arc<Circuits>,
    ) -> Self {
        let admission = Admission::new(rules.max_queued, rules.max_queued_per_user);
        let rules = rules.in_canonical_names(&catalog);
        Self { store, prompts, assets, catalog, events, rules, circuits, admission, inputs: None }
    }

    /// Checks the data URIs of a new task's input as it is created, by opening them
    /// as its run will (decoded, vetted). URLs are still fetched when the task runs.
    pub fn with_input_check(mut self, inputs: Arc<dyn InputFiles>) -> Self {
        self.inputs = Some(inputs);
        self
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    pub fn rules(&self) -> &TaskRules {
        &self.rules
    }

    /// Resolves the model a request names (or the default one).
    pub fn resolve_model(&self, model: Option<&str>) -> Result<ModelSpec> {
        Ok(self.catalog.resolve(model.unwrap_or(&self.rules.default_model))?.spec)
    }

    /// Validates and stores a new task. Returns the task and whether it is new (false
    /// when the idempotency key named an existing one).
    pub async fn create(&self, caller: &Principal, request: CreateTask) -> Result<(Task, bool)> {
        require_write(caller)?;
        let named = request.model.as_deref().unwrap_or(&self.rules.default_model);
        let (resolved, route) = match self.route(named).await? {
            Some((resolved, route)) => (resolved, Some(route)),
            None => (self.catalog.resolve(named)?, None),
        };
        self.catalog.check_offered(&resolved.spec, &request.input)?;
        let input = resolved.provider.validate(&resolved.spec.model, &request.input)?;
        let after =
            self.check_input_files(caller, &resolved.provider.input_files(&resolved.spec.model, &input)).await?;
        if let Some(prompt_id) = &request.prompt_id {
            self.check_prompt(caller, prompt_id).await?;
        }
        // Keys are per user: another user's key names another task.
        let idempotency_key = request.idempotency_key.map(|key| format!("{}:{key}", caller.user_id));
        if let Some(key) = &idempotency_key
            && let Some((existing, stored_hash)) = self.store.find_task_by_key(key).await?
        {
            // A repeat answers with its task even when the queue or a quota is full now.
            if stored_hash != request.request_hash {
                return Err(CoreError::Conflict {
                    code: "idempotency_key_reused",
                    message: "the Idempotency-Key was already used with a different request".into(),
                });
            }
            return Ok((existing, false));
        }
        self.check_queue_room(caller).await?;
        // The user's limits and the quotas are counted by the store, in the insert's
        // own write (a routed task's service was chosen for its quota left).
        let now = now_millis();
        let user_limits = self.user_limits(caller, now);
        let quota_limits = self.quota_limits(&resolved.spec.service, &resolved.spec.model, now);
        let new_task = NewTask {
            id: TaskId::new(),
            service: resolved.spec.service.clone(),
            model: resolved.spec.model.clone(),
            input,
            priority: request.priority,
            max_attempts: self.rules.max_attempts,
            idempotency_key,
            request_hash: request.request_hash,
            retry_of: None,
            owner: Some(caller.user_id.clone()),
            prompt_id: request.prompt_id,
            pool: self.pool_of(&resolved),
            route,
            after,
            place: request.place,
            trace_context: super::trace::current(),
            created_at: now,
            expires_at: Some(now + duration_millis(self.rules.pending_ttl)),
            limits: user_limits.into_iter().chain(quota_limits).collect(),
        };
        self.insert(new_task).await
    }

    /// Who runs a model's tasks: this server's workers (`""`), or remote workers
    /// pulling them (the model's `service/model`).
    pub fn pool_of(&self, resolved: &ResolvedModel) -> String {
        let key = resolved.spec.id();
        if resolved.provider.served_by_pull() || self.rules.pulled.contains(&key) { key } else { String::new() }
    }

    /// For a model named without a service that `[routing]` lists: the first of its
    /// services that offers it, is configured, whose circuit is not open and whose
    /// daily quota is not spent, with the ones passed over and why. `None` when the
    /// name is not routed, or when every service was passed over (the first then
    /// answers as it would unrouted: its own error, or a wait for its circuit).
    async fn route(&self, named: &str) -> Result<Option<(ResolvedModel, Route)>> {
        let model = named.trim().to_ascii_lowercase();
        if model.contains('/') {
            return Ok(None);
        }
        let model = self.catalog.canonical_key(&model);
        let Some(services) = self.rules.routing.get(&model) else { return Ok(None) };
        let mut skipped = Vec::new();
        for service in services {
            let reason = match self.catalog.resolve(&format!("{service}/{model}")) {
                Err(CoreError::ModelUnavailable { .. }) => "not_configured",
                Err(CoreError::InvalidInput { .. } | CoreError::NotFound { .. }) => "not_offered",
                Err(other) => return Err(other),
                Ok(resolved) => {
                    let circuit = self.circuits.view(service);
                    if circuit.state == "open" && circuit.retry_in_secs.unwrap_or(0) > 0 {
                        "circuit_open"
                    } else {
                        match self.check_quotas(service, &resolved.spec.model).await {
                            Err(CoreError::QuotaExceeded { .. }) => "quota_exceeded",
                            Err(other) => return Err(other),
                            Ok(()) => {
                                let route = Route { model, service: service.clone(), skipped };
                                return Ok(Some((resolved, route)));
                            }
                        }
                    }
                }
            };
            skipped.push(RouteSkip { service: service.clone(), reason: reason.to_owned() });
        }
        Ok(None)
    }

    /// A task's prompt must be one the caller may see; it is a body field, so a
    /// missing one is invalid input rather than "not found".
    async fn check_prompt(&self, caller: &Principal, id: &PromptId) -> Result<()> {
        let found = self.prompts.get_prompt(id).await?;
        if found.is_some_and(|prompt| caller.may_see(prompt.owner.as_ref())) {
            return Ok(());
        }
        Err(CoreError::InvalidInput {
            message: format!("prompt_id: no prompt {id}"),
            details: serde_json::json!({ "field": "prompt_id", "reason": "no such prompt" }),
        })
    }

    async fn insert(&self, new_task: NewTask) -> Result<(Task, bool)> {
        match self.store.create_task(new_task).await? {
            Created::New(task) => {
                self.admission.queued(task.owner.as_ref()).await;
                crate::meters::task_created(&task);
                self.events.publish(TaskEvent { task_id: task.id, status: task.status });
                Ok((task, true))
            }
            Created::Existing(task) => Ok((task, false)),
        }
    }

    async fn check_queue_room(&self, caller: &Principal) -> Result<()> {
        self.admission.check(self.store.as_ref(), &caller.user_id).await
    }

    /// Every upload, output or task the input names must exist, and every data URI
    /// must open (with [`TaskService::with_input_check`]; URLs are checked when the
    /// task runs). Returns the task the new one must wait for:
    /// one named that has not completed yet (at most one may be waited for).
    /// (Another user's file does not exist, as far as the caller can tell.)
    async fn check_input_files(&self, caller: &Principal, references: &[String]) -> Result<Option<TaskId>> {
        let mut after = None;
        for reference in references {
            let exists = match InputRef::parse(reference) {
                Ok(InputRef::Upload(id)) => visible(self.get_upload(caller, &id).await)?,
                Ok(InputRef::Output(id)) => visible(self.get_asset(caller, &id).await)?,
                Ok(InputRef::Task(id)) => match visible_task(self.get(caller, id).await)? {
                    None => false,
                    Some(parent) => {
                        if parent.status != TaskStatus::Completed {
                            if parent.status.is_terminal() {
                                return Err(CoreError::InvalidInput {
                                    message: format!(
                                        "input {reference}: that task {} and has no output",
                                        parent.status
                                    ),
                                    details: serde_json::json!({
                                        "field": "input", "reference": reference, "reason": "the task has no output",
                                    }),
                                });
                            }
                            if after.is_some_and(|first| first != id) {
                                return Err(CoreError::InvalidInput {
                                    message: "an input may wait for one unfinished task only".into(),
                                    details: serde_json::json!({
                                        "field": "input", "reference": reference,
                                        "reason": "a second unfinished task",
                                    }),
                                });
                            }
                            after = Some(id);
                        }
                        true
                    }
                },
                Ok(parsed @ InputRef::DataUri(_)) => {
                    self.check_data_uri(reference, &parsed).await?;
                    true
                }
                Ok(InputRef::Url(_)) => true,
                Err(reason) => {
                    return Err(CoreError::InvalidInput {
                        message: format!("input file {reference:?}: {reason}"),
                        details: serde_json::json!({ "field": "input", "reference": reference, "reason": reason }),
                    });
                }
            };
            if !exists {
                return Err(CoreError::InvalidInput {
                    message: format!("input file {reference} does not exist"),
                    details: serde_json::json!({ "field": "input", "reference": reference, "reason": "no such file" }),
                });
            }
        }
        Ok(after)
    }

    /// A data URI that does not open as its run would open it (not base64, or a file
    /// over the media limits) is the request's fault: a 422 naming the refusal.
    async fn check_data_uri(&self, reference: &str, parsed: &InputRef) -> Result<()> {
        let Some(inputs) = &self.inputs else { return Ok(()) };
        match inputs.open(parsed).await {
            Ok(_) => Ok(()),
            Err(error) if error.class == ErrorClass::ClientError => Err(CoreError::InvalidInput {
                details: serde_json::json!({
                    "field": "input",
                    "reference": crate::ports::short_reference(reference),
                    "reason": error.message,
                    "code": error.code,
                }),
                message: error.message,
            }),
            // Not the input's fault (no thread, say): the run opens it again.
            Err(error) => {
                tracing::warn!(error = %error.message, "could not check a data URI input at creation");
                Ok(())
            }
        }
    }

    /// The caller's own limits (its role's): tasks at once, tasks per day.
    fn user_limits(&self, caller: &Principal, now: Millis) -> Vec<CreateLimit> {
        let limits = self.rules.user_limits.for_role(caller.role);
        let mut out = Vec::new();
        if limits.max_concurrent_tasks > 0 {
            out.push(CreateLimit {
                count: LimitCount::Owner(OwnerCount::Active),
                limit: u64::from(limits.max_concurrent_tasks),
                scope: format!("user {}", caller.email),
                retry_after: Duration::from_secs(5),
            });
        }
        if limits.daily_tasks > 0 {
            out.push(CreateLimit {
                count: LimitCount::Owner(OwnerCount::CreatedSince(quota::day_start(now))),
                limit: limits.daily_tasks,
                scope: format!("user {}", caller.email),
                retry_after: quota::until_next_day(now),
            });
        }
        out
    }

    /// The daily quotas a task of `service`/`model` counts against.
    fn quota_limits(&self, service: &str, model: &str, now: Millis) -> Vec<CreateLimit> {
        self.rules
            .daily_quotas
            .iter()
            .filter_map(|rule| {
                let narrowed = rule.applies_to(service, model)?;
                Some(CreateLimit {
                    count: LimitCount::Created {
                        service: service.to_owned(),
                        model: narrowed.map(str::to_owned),
                        since: quota::day_start(now),
                    },
                    limit: rule.limit,
                    scope: rule.scope.clone(),
                    retry_after: quota::until_next_day(now),
                })
            })
            .collect()
    }

    /// Refuses a task whose service or model has spent its daily quota (routing
    /// passes such a service over; the store counts again at the insert).
    async fn check_quotas(&self, service: &str, model: &str) -> Result<()> {
        for limit in self.quota_limits(service, model, now_millis()) {
            let LimitCount::Created { service, model, since } = &limit.count else { continue };
            let used = self.store.count_created_since(service, model.as_deref(), *since).await?;
            if used >= limit.limit {
                return Err(limit.refusal(used));
            }
        }
        Ok(())
    }

    /// A task the caller may see: its own, or any for an admin. Another user's
    /// task is "not found", so that nothing leaks.
    pub async fn get(&self, caller: &Principal, id: TaskId) -> Result<Task> {
        self.store
            .get_task(id)
            .await?
            .filter(|task| caller.may_see(task.owner.as_ref()))
            .ok_or(CoreError::NotFound { what: "task" })
    }

    /// A task the caller may see, with its input copies keyed as
    /// [`TaskService::input_copies`] keys them (a status read: one statement for a
    /// task without copies).
    pub async fn get_with_copies(
        &self,
        caller: &Principal,
        id: TaskId,
    ) -> Result<(Task, std::collections::HashMap<TaskId, Vec<crate::ports::InputCopy>>)> {
        let (task, copies) = self
            .store
            .get_task_with_copies(id)
            .await?
            .filter(|(task, _)| caller.may_see(task.owner.as_ref()))
            .ok_or(CoreError::NotFound { what: "task" })?;
        let copies = if copies.is_empty() { Default::default() } else { [(task.id, copies)].into() };
        Ok((task, copies))
    }

    /// The caller's tasks (everyone's for an admin, unless it names an owner).
    pub async fn list(&self, caller: &Principal, filter: &TaskFilter) -> Result<TaskPage> {
        let mut filter = filter.clone();
        if !caller.is_admin() {
            filter.owner = Some(caller.user_id.clone());
        }
        self.store.list_tasks(&filter).await
    }

    pub async fn cancel(&self, caller: &Principal, id: TaskId) -> Result<Task> {
        let before = self.get(caller, id).await?;
        require_write(caller)?;
        let already_ended = before.status.is_terminal();
        let task = if already_ended {
            before
        } else {
            self.store.cancel_task(id, now_millis()).await?.ok_or(CoreError::NotFound { what: "task" })?
        };
        if already_ended || task.status != TaskStatus::Cancelled {
            return Err(CoreError::Conflict {
                code: "task_finished",
                message: format!("task {id} has already ended ({})", task.status),
            });
        }
        self.events.publish(TaskEvent { task_id: id, status: task.status });
        crate::meters::task_finished(&task, TaskStatus::Cancelled);
        if let (Some(external_id), Some(provider)) = (&task.external_id, self.catalog.provider(&task.service)) {
            // Best effort: the provider may not support cancelling; the task is
            // cancelled for us either way and its results will be discarded.
            if let Err(error) = provider.cancel(external_id).await {
                tracing::info!(task.id = %id, %error, "provider did not cancel the external task");
            }
        }
        Ok(task)
    }

    /// The provider-side copies tasks' input files went to their provider as, by
    /// task, each task's by position. For tasks the caller has read (through
    /// [`TaskService::get`] or [`TaskService::list`]).
    pub async fn input_copies(
        &self,
        tasks: &[&Task],
    ) -> Result<std::collections::HashMap<TaskId, Vec<crate::ports::InputCopy>>> {
        let ids: Vec<TaskId> = tasks.iter().map(|task| task.id).collect();
        let mut copies: std::collections::HashMap<TaskId, Vec<crate::ports::InputCopy>> = Default::default();
        if ids.is_empty() {
            return Ok(copies);
        }
        for (task, copy) in self.store.input_copies(&ids).await? {
            copies.entry(task).or_default().push(copy);
        }
        Ok(copies)
    }

    /// A new task with the same model and input, linked to the original.
    pub async fn retry(&self, caller: &Principal, id: TaskId) -> Result<Task> {
        let original = self.get(caller, id).await?;
        require_write(caller)?;
        if !original.status.is_terminal() {
            return Err(CoreError::Conflict {
                code: "task_not_finished",
                message: format!("task {id} is still {}; cancel it first or wait", original.status),
            });
        }
        // A routed task is routed again: the service it went to may be the one down.
        let rerouted = match &original.route {
            Some(route) => self.route(&route.model).await?,
            None => None,
        };
        let (resolved, route) = match rerouted {
            Some((resolved, route)) => (resolved, Some(route)),
            None => (self.catalog.resolve(&original.model_ref())?, original.route.clone()),
        };
        // The stored input was valid for its service; another one checks it anew.
        let input = if resolved.spec.service == original.service {
            original.input
        } else {
            self.catalog.check_offered(&resolved.spec, &original.input)?;
            resolved.provider.validate(&resolved.spec.model, &original.input)?
        };
        let after =
            self.check_input_files(caller, &resolved.provider.input_files(&resolved.spec.model, &input)).await?;
        self.check_queue_room(caller).await?;
        let now = now_millis();
        let quota_limits = self.quota_limits(&resolved.spec.service, &resolved.spec.model, now);
        let owner = original.owner.or_else(|| Some(caller.user_id.clone()));
        // The owner's limits are the caller's role's only when the caller owns it.
        let own_limits =
            if owner.as_ref() == Some(&caller.user_id) { self.user_limits(caller, now) } else { Vec::new() };
        let new_task = NewTask {
            id: TaskId::new(),
            service: resolved.spec.service.clone(),
            model: resolved.spec.model.clone(),
            input,
            priority: original.priority,
            max_attempts: self.rules.max_attempts,
            idempotency_key: None,
            request_hash: None,
            retry_of: Some(id),
            created_at: now,
            expires_at: Some(now + duration_millis(self.rules.pending_ttl)),
            owner,
            prompt_id: original.prompt_id,
            pool: self.pool_of(&resolved),
            route,
            after,
            place: original.place,
            trace_context: super::trace::current(),
            limits: own_limits.into_iter().chain(quota_limits).collect(),
        };
        Ok(self.insert(new_task).await?.0)
    }

    /// Deletes a task, its asset rows, and the blobs no other asset refers to.
    pub async fn delete(&self, caller: &Principal, id: TaskId) -> Result<()> {
        self.get(caller, id).await?;
        require_write(caller)?;
        let assets = self.store.delete_task(id).await?.ok_or(CoreError::NotFound { what: "task" })?;
        for asset in assets {
            self.delete_blobs_if_unreferenced(&asset.blob_key, asset.thumbnail_key.as_deref()).await;
        }
        Ok(())
    }

    /// A provider's callback: the provider reads it (and checks its signature), and
    /// each task it names that waits between polls is polled at once. Returns how
    /// many tasks were woken.
    pub async fn provider_callback(&self, service: &str, callback: &Callback<'_>) -> Result<usize> {
        let provider = self.catalog.provider(service).ok_or(CoreError::NotFound { what: "service" })?;
        let named = provider.callback(callback).map_err(|error| match error {
            CallbackError::Unsupported => CoreError::NotFound { what: "callback route" },
            CallbackError::Invalid { field, message } => {
                CoreError::InvalidInput { details: serde_json::json!({ "field": field, "reason": message }), message }
            }
            CallbackError::BadSignature(message) => CoreError::Unauthenticated { code: "invalid_signature", message },
        })?;
        let mut woken = 0;
        for CallbackTask { external_id, task_id } in &named {
            if self.store.poll_now(service, external_id, callback.received_at).await?.is_some() {
                woken += 1;
            } else if let Some(task_id) = task_id
                && self.store.attach_lost_submit(*task_id, service, external_id, callback.received_at).await?
            {
                // The callback names a job whose submit answer was lost: found.
                tracing::info!(task.id = %task_id, external.id = %external_id, "a callback found the job of a lost submit");
                self.events.publish(TaskEvent { task_id: *task_id, status: TaskStatus::Processing });
                woken += 1;
            }
        }
        if woken > 0 {
            self.events.wake_workers();
        }
        Ok(woken)
    }

    /// Attaches the provider's job id to a task whose submit lost its answer (an
    /// admin found the job at the provider): the task is polled for its result.
    /// Admins only; never submits.
    pub async fn attach_external_id(&self, caller: &Principal, id: TaskId, external_id: &str) -> Result<Task> {
        if !caller.is_admin() {
            return Err(CoreError::Forbidden { message: "only an admin attaches a provider's job id".into() });
        }
        let external_id = external_id.trim();
        if external_id.is_empty() || external_id.len() > 256 || external_id.chars().any(char::is_control) {
            return Err(CoreError::invalid("external_id", "must be the provider's job id (1 to 256 characters)"));
        }
        let task = self.get(caller, id).await?;
        if !self.store.attach_lost_submit(id, &task.service, external_id, now_millis()).await? {
            return Err(CoreError::Conflict {
                code: "not_a_lost_submit",
                message: "only a task whose submit lost its answer (failed submit_unknown, or waiting for the \
                          provider to name its job) takes a provider's job id"
                    .into(),
            });
        }
        self.events.publish(TaskEvent { task_id: id, status: TaskStatus::Processing });
        self.events.wake_workers();
        self.get(caller, id).await
    }

    /// Asks every service what it offers now (admins only).
    pub async fn refresh_catalog(&self, caller: &Principal) -> Result<crate::catalog::Refreshed> {
        if !caller.is_admin() {
            return Err(CoreError::Forbidden { message: "only an admin refreshes the model catalog".into() });
        }
        Ok(self.catalog.refresh().await)
    }

    /// Waits until the task ends or `timeout` passes, and returns it as it is then.
    pub async fn wait_for_end(&self, caller: &Principal, id: TaskId, timeout: Duration) -> Result<Task> {
        let mut events = self.events.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = self.get(caller, id).await?;
            if task.status.is_terminal() || tokio::time::Instant::now() >= deadline {
                return Ok(task);
            }
            // Wake on a notice for this task, or look again every second in case the
            // change happened in another process.
            let wait = async {
                if !EventBus::next_notice_for(&mut events, id).await {
                    std::future::pending::<()>().await;
                }
            };
            let _ =
                tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + Duration::from_secs(1)), wait).await;
        }
    }
}

/// Whether a lookup that hides other users' things found one (other errors pass).
fn visible<T>(found: Result<T>) -> Result<bool> {
    match found {
        Ok(_) => Ok(true),
        Err(CoreError::NotFound { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// A task the caller may see, or `None` when it does not exist for them.
fn visible_task(found: Result<Task>) -> Result<Option<Task>> {
    match found {
        Ok(task) => Ok(Some(task)),
        Err(CoreError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Viewers read; writing takes a member (or an admin).
pub(crate) fn require_write(caller: &Principal) -> Result<()> {
    if caller.can_write() {
        Ok(())
    } else {
        Err(CoreError::Forbidden { message: format!("a {} key only reads; this needs a member", caller.role) })
    }
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
