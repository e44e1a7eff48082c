//! The worker: runs the queued prompts one at a time, lowest number first,
//! node by node, as ComfyUI's `PromptExecutor` does, and records each in the
//! history.
//!
//! A prompt's messages (confirmed in `execution.py` and `main.py`; their
//! `timestamp` in ms): `execution_start` `{prompt_id}`, `execution_cached`
//! `{nodes, prompt_id}`, then per node `executing` `{node, display_node,
//! prompt_id}`, per sampling step `progress` `{value, max, prompt_id, node}`,
//! per output node `executed` `{node, display_node, output:{images:[…]},
//! prompt_id}`; then `execution_success` `{prompt_id}`, or `execution_error`
//! `{prompt_id, node_id, node_type, executed, exception_message,
//! exception_type, traceback, current_inputs, current_outputs}`, or
//! `execution_interrupted` `{prompt_id, node_id, node_type, executed}`. The
//! history entry is written next, then `status` goes to every client and
//! `executing` `{node: null, prompt_id}` to the prompt's client: a client that
//! sees it finds the history there. The `execution_*` messages also go into
//! the history's `status.messages` as `[name, data]`; they and `executing` /
//! `executed` go over the WebSocket only to the prompt's `client_id` (none
//! without one), `progress` to it or, without one, to everyone, and
//! `execution_interrupted` to everyone when there is no client.
//! `status.status_str` is `success` with `completed: true`, or `error` with
//! `completed: false` (an interrupt too). An exception's message is
//! `"<message>\n<tips>"` (the tips only for running out of memory).
//!
//! Each node: its links resolved, then its work: `KSampler` samples `steps`
//! steps of `step_ms` (from its `latent_image`'s size and batch); the size
//! follows the latent (`EmptyLatentImage`: width and height floored to
//! multiples of 8), the pixels (`VAEEncode` floors them to multiples of 8,
//! `VAEDecode` multiplies by 8) and the scale nodes (`ImageScale`,
//! `ImageScaleBy`, `LatentUpscale`, `LatentUpscaleBy` as ComfyUI rounds them,
//! `ImageUpscaleWithModel` by the model's factor); `LoadImage` reads its
//! file's size; `SaveImage` saves a PNG per image of the batch (drawn with
//! `crate::render` from the sampler's seed, the image's index and a digest of
//! everything upstream) and `PreviewImage` the same into temp.
//!
//! Unconfirmed, the emulator's choices: nothing is cached (`execution_cached`
//! lists no nodes, every node runs each time); the order (outputs with the
//! fewest nodes to run first, each one's links depth first in the class's
//! input order); which node a task fault strikes (see `faults.rs`); the
//! exceptions' messages and tracebacks; an image past 4096×4096 pixels or a
//! batch past 64 megapixels runs out of memory at the node making it; the
//! `current_inputs` of linked values (placeholders for Python's `str()` of
//! tensors and models).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use rand::Rng;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::files::{self, Folder, annotated};
use super::nodes::{self, Class};
use super::python::{self, Exception};
use super::queue::Queued;
use super::validate::{by_id, class_of};
use super::{ComfyUiState, Inner};
use crate::faults::Fault;
use crate::render::render_png;

/// How often a stalled node (`never_finish`) looks up.
const STALL_TICK: Duration = Duration::from_millis(20);
/// The most pixels one image may have before the emulator's GPU runs out of memory.
const MAX_IMAGE_PIXELS: u64 = 4096 * 4096;
/// The most pixels a batch may have.
const MAX_BATCH_PIXELS: u64 = 64 * 1024 * 1024;
/// ComfyUI's `MAXIMUM_HISTORY_SIZE`.
const MAXIMUM_HISTORY_SIZE: usize = 10000;

/// What CUDA says when it runs out of memory (the `oom` fault, an image too large).
pub(super) const OUT_OF_MEMORY: &str = "CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity \
     of 23.64 GiB of which 1.06 GiB is free. Of the allocated memory 20.12 GiB is allocated by PyTorch, and 1.31 GiB \
     is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting \
     PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for Memory \
     Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)";

/// ComfyUI's tips after an out-of-memory error.
const OOM_TIPS: &str = "This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before \
     you might have accidentally set the batch_size to a large number.";

/// The `torch.OutOfMemoryError` ComfyUI reports.
fn out_of_memory() -> Exception {
    Exception::new("torch.OutOfMemoryError", OUT_OF_MEMORY)
}

/// What a node that fails (`generation_failed`) raises.
fn failure(class: &Class) -> Exception {
    if class.name == "KSampler" {
        Exception::new("RuntimeError", "mat1 and mat2 shapes cannot be multiplied (154x2048 and 768x320)")
    } else {
        Exception::new(
            "RuntimeError",
            "CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be asynchronously \
             reported at some other API call, so the stacktrace below might be incorrect.\nFor debugging consider \
             passing CUDA_LAUNCH_BLOCKING=1",
        )
    }
}

/// Resolves when the server restarts (the epoch moves on).
pub(super) async fn restarted(epoch: &mut watch::Receiver<u64>) {
    if epoch.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A value flowing along a link.
#[derive(Debug, Clone)]
enum Data {
    Model,
    Clip,
    Vae,
    Conditioning,
    /// Its size in latent units (an eighth of the pixels).
    Latent(Pixels),
    Image(Pixels),
    Mask,
    /// Its factor.
    UpscaleModel(u32),
}

impl Data {
    /// How `current_inputs` writes it (Python's `str()`, for tensors and models shortened).
    fn formatted(&self) -> Value {
        json!(match self {
            Data::Model => "<comfy.model_patcher.ModelPatcher object at 0x7f3c8c2d1a90>",
            Data::Clip => "<comfy.sd.CLIP object at 0x7f3c8c2d1b50>",
            Data::Vae => "<comfy.sd.VAE object at 0x7f3c8c2d1c10>",
            Data::Conditioning => "[[tensor(...), {'pooled_output': tensor(...)}]]",
            Data::Latent(_) => "{'samples': tensor(...)}",
            Data::Image(_) | Data::Mask => "tensor(...)",
            Data::UpscaleModel(_) => "<spandrel.ImageModelDescriptor object at 0x7f3c8c2d1cd0>",
        })
    }
}

/// A batch of latents or images: size, count, the sampler's seed and a digest
/// of how they were made.
#[derive(Debug, Clone, Copy)]
struct Pixels {
    width: u32,
    height: u32,
    batch: u32,
    seed: u64,
    digest: [u8; 32],
}

impl Pixels {
    /// An image this large runs the GPU out of memory.
    fn fits(&self) -> Result<(), Exception> {
        let one = u64::from(self.width) * u64::from(self.height);
        if one > MAX_IMAGE_PIXELS || one * u64::from(self.batch) > MAX_BATCH_PIXELS {
            return Err(out_of_memory());
        }
        Ok(())
    }
}

/// What a node produced.
struct Produced {
    outputs: Vec<Data>,
    digest: [u8; 32],
}

/// Why a prompt stopped before its end.
enum Stop {
    /// The server restarted: nothing to record.
    Lost,
    Interrupted,
    /// An exception, with the node's `current_inputs`.
    Failed(Exception, Value),
}

/// The worker, for as long as the emulator lives.
pub(super) async fn worker(state: Arc<ComfyUiState>) {
    loop {
        let Some(running) = state.start_next() else {
            state.queued.notified().await;
            continue;
        };
        let epoch = state.epoch.subscribe();
        let client = running.queued.client_id();
        let execution = Execution {
            state: state.clone(),
            run: running.run,
            queued: running.queued,
            client,
            messages: Vec::new(),
            epoch,
            produced: HashMap::new(),
            executed: Vec::new(),
        };
        if !execution.current() {
            continue;
        }
        execution.execute().await;
    }
}

/// The order the nodes run in: the output with the fewest nodes left to run
/// first, each one's links depth first in its class's input order.
fn execution_order(prompt: &Map<String, Value>, outputs: &[String]) -> Vec<String> {
    fn links_of(prompt: &Map<String, Value>, id: &str) -> Vec<String> {
        let Some(node) = prompt.get(id) else { return Vec::new() };
        let Some(class) = class_of(node) else { return Vec::new() };
        class
            .inputs
            .iter()
            .filter_map(|input| node.get("inputs")?.get(input.name)?.as_array()?.first()?.as_str().map(str::to_owned))
            .collect()
    }
    fn visit(prompt: &Map<String, Value>, id: &str, done: &mut HashSet<String>, order: &mut Vec<String>) {
        if !done.insert(id.to_owned()) {
            return;
        }
        for from in links_of(prompt, id) {
            visit(prompt, &from, done, order);
        }
        order.push(id.to_owned());
    }
    fn to_run(prompt: &Map<String, Value>, id: &str, done: &HashSet<String>) -> usize {
        let mut seen = HashSet::new();
        let mut stack = vec![id.to_owned()];
        while let Some(id) = stack.pop() {
            if done.contains(&id) || !seen.insert(id.clone()) {
                continue;
            }
            stack.extend(links_of(prompt, &id));
        }
        seen.len()
    }
    let mut done = HashSet::new();
    let mut order = Vec::new();
    let mut remaining = outputs.to_vec();
    while !remaining.is_empty() {
        let counts: Vec<usize> = remaining.iter().map(|o| to_run(prompt, o, &done)).collect();
        let best = (0..remaining.len())
            .min_by(|&a, &b| counts[a].cmp(&counts[b]).then_with(|| by_id(&remaining[a], &remaining[b])))
            .unwrap_or(0);
        let output = remaining.remove(best);
        visit(prompt, &output, &mut done, &mut order);
    }
    order
}

/// The node a task fault strikes: the first `KSampler`, else the first
/// `ImageUpscaleWithModel`, else the first output node.
fn fault_node(prompt: &Map<String, Value>, order: &[String]) -> usize {
    let class_at = |i: usize| prompt.get(&order[i]).and_then(class_of);
    let first = |pick: &dyn Fn(&Class) -> bool| (0..order.len()).find(|&i| class_at(i).is_some_and(pick));
    first(&|c| c.name == "KSampler")
        .or_else(|| first(&|c| c.name == "ImageUpscaleWithModel"))
        .or_else(|| first(&|c| c.output_node))
        .unwrap_or(0)
}

/// The Python function a class runs (for tracebacks).
fn function_of(class: &Class) -> &'static str {
    match class.name {
        "KSampler" => "sample",
        "CheckpointLoaderSimple" => "load_checkpoint",
        "CLIPTextEncode" | "VAEEncode" => "encode",
        "VAEDecode" => "decode",
        "EmptyLatentImage" => "generate",
        "LoadImage" => "load_image",
        "SaveImage" | "PreviewImage" => "save_images",
        "UpscaleModelLoader" => "load_model",
        _ => "upscale",
    }
}

/// A traceback through `class`'s function, as `traceback.format_tb` writes one.
fn traceback(class: &Class) -> Value {
    let module = class.name.starts_with("UpscaleModelLoader") || class.name == "ImageUpscaleWithModel";
    let file = if module { "/ComfyUI/comfy_extras/nodes_upscale_model.py" } else { "/ComfyUI/nodes.py" };
    json!([
        "  File \"/ComfyUI/execution.py\", line 496, in execute\n    output_data, output_ui, has_subgraph, \
         has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, \
         execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
        "  File \"/ComfyUI/execution.py\", line 315, in get_output_data\n    return_values = await \
         _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, \
         execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n",
        "  File \"/ComfyUI/execution.py\", line 289, in _async_map_node_over_list\n    await process_inputs(input_dict, i)\n",
        format!("  File \"{file}\", line 1525, in {}\n", function_of(class)),
    ])
}

/// Python's `round()` (to even on ties), at least `min`.
fn round(x: f64, min: u32) -> u32 {
    let rounded = x.round_ties_even();
    if rounded.is_finite() && rounded > f64::from(min) { rounded.min(f64::from(u32::MAX)) as u32 } else { min }
}

/// One prompt executing.
struct Execution {
    state: Arc<ComfyUiState>,
    run: u64,
    queued: Queued,
    client: Option<String>,
    /// `status.messages`: `[name, data]`.
    messages: Vec<Value>,
    epoch: watch::Receiver<u64>,
    produced: HashMap<String, Produced>,
    executed: Vec<String>,
}

impl Execution {
    /// Whether this is still the prompt running (a restart loses it).
    fn current(&self) -> bool {
        self.state.inner().running.as_ref().is_some_and(|r| r.run == self.run)
    }

    fn alive(&self) -> Result<(), Stop> {
        if self.current() { Ok(()) } else { Err(Stop::Lost) }
    }

    fn interrupt_requested(&self) -> bool {
        self.state.inner().interrupt
    }

    /// The task fault the prompt carries now (a history poll may mark it while it runs).
    fn fault(&self) -> Option<Fault> {
        let inner = self.state.inner();
        inner.running.as_ref().filter(|r| r.run == self.run).and_then(|r| r.queued.fault.clone())
    }

    /// `add_message`: into the history's messages, and to the client (or
    /// everyone, when `broadcast` and there is no client).
    fn add_message(&mut self, event: &str, mut data: Value, broadcast: bool) {
        data["timestamp"] = json!(chrono::Utc::now().timestamp_millis());
        self.messages.push(json!([event, data]));
        if self.current() && (self.client.is_some() || broadcast) {
            self.state.sockets().send(self.client.as_deref(), event, &data);
        }
    }

    /// A message to the prompt's client, if it has one.
    fn send(&self, event: &str, data: &Value) {
        if let Some(client) = &self.client
            && self.current()
        {
            self.state.sockets().send(Some(client), event, data);
        }
    }

    async fn execute(mut self) {
        let prompt_id = self.queued.prompt_id.clone();
        self.add_message("execution_start", json!({ "prompt_id": prompt_id }), false);
        self.add_message("execution_cached", json!({ "nodes": [], "prompt_id": prompt_id }), false);
        let order = execution_order(&self.queued.prompt, &self.queued.outputs);
        let fault_at = fault_node(&self.queued.prompt, &order);
        let mut outputs = Map::new();
        let mut meta = Map::new();
        let mut stopped = None;
        for (i, id) in order.iter().enumerate() {
            match self.node(id, i >= fault_at).await {
                Ok(ui) => {
                    self.executed.push(id.clone());
                    if let Some(ui) = ui {
                        outputs.insert(id.clone(), ui);
                        meta.insert(
                            id.clone(),
                            json!({ "node_id": id, "display_node": id, "parent_node": null, "real_node_id": id }),
                        );
                    }
                }
                Err(stop) => {
                    stopped = Some((id.clone(), stop));
                    break;
                }
            }
        }
        let node_type = |id: &str| self.queued.prompt.get(id).and_then(|n| n.get("class_type")).cloned();
        let outcome = match stopped {
            None => {
                self.add_message("execution_success", json!({ "prompt_id": prompt_id }), false);
                "success"
            }
            Some((_, Stop::Lost)) => return,
            Some((id, Stop::Interrupted)) => {
                let data = json!({
                    "prompt_id": prompt_id,
                    "node_id": id,
                    "node_type": node_type(&id),
                    "executed": self.executed,
                });
                self.add_message("execution_interrupted", data, true);
                "interrupted"
            }
            Some((id, Stop::Failed(ex, current_inputs))) => {
                let tips = if ex.kind == "torch.OutOfMemoryError" { OOM_TIPS } else { "" };
                let class = self.queued.prompt.get(&id).and_then(class_of);
                let data = json!({
                    "prompt_id": prompt_id,
                    "node_id": id,
                    "node_type": node_type(&id),
                    "executed": self.executed,
                    "exception_message": format!("{}\n{tips}", ex.message),
                    "exception_type": ex.kind,
                    "traceback": class.map(traceback).unwrap_or_else(|| json!([])),
                    "current_inputs": current_inputs,
                    "current_outputs": [],
                });
                self.add_message("execution_error", data, false);
                "error"
            }
        };
        let success = outcome == "success";
        let status = json!({
            "status_str": if success { "success" } else { "error" },
            "completed": success,
            "messages": self.messages,
        });
        let entry = json!({ "prompt": self.queued.item(), "outputs": outputs, "status": status, "meta": meta });
        if !self.state.finish(self.run, &prompt_id, entry, outcome) {
            return;
        }
        tracing::debug!(prompt_id = %prompt_id, outcome, "comfyui emulator: prompt done");
        self.state.queue_updated();
        if let Some(client) = &self.client {
            self.state.sockets().send(Some(client), "executing", &json!({ "node": null, "prompt_id": prompt_id }));
        }
    }

    /// Waits `delay` (a yield when 0); `Lost` on a restart. An interrupt cuts the wait short.
    async fn wait(&mut self, delay: Duration) -> Result<(), Stop> {
        let state = self.state.clone();
        let interrupted = state.interrupted.notified();
        if delay.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = interrupted => {}
                () = restarted(&mut self.epoch) => return Err(Stop::Lost),
            }
        }
        self.alive()
    }

    /// Stays put until an interrupt (or a restart).
    async fn stall(&mut self) -> Result<(), Stop> {
        loop {
            self.wait(STALL_TICK).await?;
            if self.interrupt_requested() {
                return Err(Stop::Interrupted);
            }
        }
    }

    /// Samples `steps` steps, a `progress` message each; the task faults strike here.
    async fn sample(&mut self, id: &str, steps: u32, at_fault: bool, inputs: &Value) -> Result<(), Stop> {
        let delay = Duration::from_millis(self.state.config.step_ms);
        let restart_at = steps.div_ceil(2).max(1);
        for step in 1..=steps {
            self.wait(delay).await?;
            if self.interrupt_requested() {
                return Err(Stop::Interrupted);
            }
            let progress = json!({ "value": step, "max": steps, "prompt_id": self.queued.prompt_id, "node": id });
            if self.current() {
                self.state.sockets().send(self.client.as_deref(), "progress", &progress);
            }
            if !at_fault {
                continue;
            }
            match self.fault() {
                Some(Fault::Oom) => return Err(Stop::Failed(out_of_memory(), inputs.clone())),
                Some(Fault::Restart) if step >= restart_at => {
                    self.state.restart();
                    return Err(Stop::Lost);
                }
                Some(Fault::NeverFinish) if step == steps => self.stall().await?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs node `id`: its `executing` message, its work, and for an output
    /// node its saved images (the `ui` it answers).
    async fn node(&mut self, id: &str, at_fault: bool) -> Result<Option<Value>, Stop> {
        self.alive()?;
        let node = self.queued.prompt.get(id).cloned().unwrap_or(Value::Null);
        let Some(class) = class_of(&node) else {
            return Err(Stop::Failed(Exception::new("KeyError", python::repr_str(id)), json!({})));
        };
        if let Some(running) = self.state.inner().running.as_mut().filter(|r| r.run == self.run) {
            running.last_node = Some(id.to_owned());
        }
        self.send("executing", &json!({ "node": id, "display_node": id, "prompt_id": self.queued.prompt_id }));
        if self.interrupt_requested() {
            return Err(Stop::Interrupted);
        }

        // The inputs: widget values, and what the links carry.
        let mut widgets: HashMap<&'static str, Value> = HashMap::new();
        let mut links: HashMap<&'static str, Data> = HashMap::new();
        let mut current_inputs = Map::new();
        let mut hasher = Sha256::new();
        hasher.update(class.name.as_bytes());
        for input in class.inputs {
            let Some(mut value) = node.get("inputs").and_then(|i| i.get(input.name)) else { continue };
            if let Some(wrapped) = value.get("__value__") {
                value = wrapped;
            }
            hasher.update(input.name.as_bytes());
            if let Some(link) = value.as_array() {
                let from = link.first().and_then(Value::as_str).unwrap_or_default();
                let Some(produced) = self.produced.get(from) else { continue };
                let count = produced.outputs.len() as i64;
                let index = link.get(1).and_then(Value::as_i64).unwrap_or(0);
                let index = if index < 0 { index + count } else { index };
                let Some(data) = usize::try_from(index).ok().and_then(|i| produced.outputs.get(i)) else { continue };
                hasher.update(produced.digest);
                hasher.update(index.to_le_bytes());
                current_inputs.insert(input.name.to_owned(), json!([data.formatted()]));
                links.insert(input.name, data.clone());
            } else {
                hasher.update(value.to_string().as_bytes());
                current_inputs.insert(input.name.to_owned(), json!([value]));
                widgets.insert(input.name, value.clone());
            }
        }
        let digest: [u8; 32] = hasher.finalize().into();
        let current_inputs = Value::Object(current_inputs);
        let failed = |ex: Exception| Stop::Failed(ex, current_inputs.clone());

        if at_fault {
            match self.fault() {
                Some(Fault::Oom) => return Err(failed(out_of_memory())),
                Some(Fault::Restart) if class.name != "KSampler" => {
                    self.state.restart();
                    return Err(Stop::Lost);
                }
                _ => {}
            }
        }
        let outputs = match class.name {
            "KSampler" => {
                let latent = pixels(&links, "latent_image").ok_or_else(|| failed(missing("latent_image")))?;
                let steps = u32::try_from(int(&widgets, "steps")).unwrap_or(1);
                let seed = u64::try_from(int(&widgets, "seed")).unwrap_or(0);
                self.sample(id, steps, at_fault, &current_inputs).await?;
                vec![Data::Latent(Pixels { seed, digest, ..latent })]
            }
            _ => self.compute(class, &widgets, &links, digest).map_err(failed)?,
        };
        if at_fault {
            match self.fault() {
                Some(Fault::GenerationFailed) => return Err(failed(failure(class))),
                Some(Fault::Oom) => return Err(failed(out_of_memory())),
                Some(Fault::NeverFinish) => self.stall().await?,
                Some(Fault::Restart) => {
                    self.state.restart();
                    return Err(Stop::Lost);
                }
                _ => {}
            }
        }
        let ui = if class.output_node {
            let images = pixels(&links, "images").ok_or_else(|| failed(missing("images")))?;
            let prefix = match class.name {
                "SaveImage" => text(&widgets, "filename_prefix"),
                _ => {
                    const LETTERS: &[u8] = b"abcdefghijklmnopqrstupvxyz";
                    let mut rng = self.state.rng();
                    let suffix: String =
                        (0..5).map(|_| char::from(LETTERS[rng.random_range(0..LETTERS.len())])).collect();
                    format!("ComfyUI_temp_{suffix}")
                }
            };
            let folder = if class.name == "SaveImage" { Folder::Output } else { Folder::Temp };
            Some(self.save(images, folder, &prefix).await.map_err(|stop| match stop {
                Stop::Failed(ex, _) => failed(ex),
                other => other,
            })?)
        } else {
            None
        };
        self.produced.insert(id.to_owned(), Produced { outputs, digest });
        if let Some(ui) = &ui {
            self.send(
                "executed",
                &json!({ "node": id, "display_node": id, "output": ui, "prompt_id": self.queued.prompt_id }),
            );
        }
        Ok(ui)
    }

    /// The work of every class but `KSampler` and the saving.
    fn compute(
        &self,
        class: &Class,
        widgets: &HashMap<&'static str, Value>,
        links: &HashMap<&'static str, Data>,
        digest: [u8; 32],
    ) -> Result<Vec<Data>, Exception> {
        let as_u32 = |name: &str| u32::try_from(int(widgets, name)).unwrap_or(0);
        Ok(match class.name {
            "CheckpointLoaderSimple" => {
                let checkpoint = text(widgets, "ckpt_name");
                *self.state.inner().stats.by_checkpoint.entry(checkpoint).or_default() += 1;
                vec![Data::Model, Data::Clip, Data::Vae]
            }
            "CLIPTextEncode" => vec![Data::Conditioning],
            "EmptyLatentImage" => {
                let latent = Pixels {
                    width: as_u32("width") / 8,
                    height: as_u32("height") / 8,
                    batch: as_u32("batch_size").max(1),
                    seed: 0,
                    digest,
                };
                vec![Data::Latent(latent)]
            }
            "VAEDecode" => {
                let latent = pixels(links, "samples").ok_or_else(|| missing("samples"))?;
                let image = Pixels { width: latent.width * 8, height: latent.height * 8, digest, ..latent };
                image.fits()?;
                vec![Data::Image(image)]
            }
            "VAEEncode" => {
                let image = pixels(links, "pixels").ok_or_else(|| missing("pixels"))?;
                vec![Data::Latent(Pixels {
                    width: (image.width / 8).max(1),
                    height: (image.height / 8).max(1),
                    digest,
                    ..image
                })]
            }
            "LoadImage" => {
                let image = self.load_image(&text(widgets, "image"), digest)?;
                vec![Data::Image(image), Data::Mask]
            }
            "ImageScale" | "LatentUpscale" => {
                let latent = class.name == "LatentUpscale";
                let from = pixels(links, if latent { "samples" } else { "image" }).ok_or_else(|| missing("image"))?;
                let (width, height) = (int(widgets, "width"), int(widgets, "height"));
                let (w, h) = (f64::from(from.width), f64::from(from.height));
                let (width, height) = if width == 0 && height == 0 {
                    (from.width, from.height)
                } else if latent {
                    // LatentUpscale works in pixels (at least 64), then divides by 8.
                    let (pw, ph) = if width == 0 {
                        let ph = u32::try_from(height.max(64)).unwrap_or(64);
                        (round(w * f64::from(ph) / h, 64), ph)
                    } else if height == 0 {
                        let pw = u32::try_from(width.max(64)).unwrap_or(64);
                        (pw, round(h * f64::from(pw) / w, 64))
                    } else {
                        (u32::try_from(width.max(64)).unwrap_or(64), u32::try_from(height.max(64)).unwrap_or(64))
                    };
                    (pw / 8, ph / 8)
                } else if width == 0 {
                    let height = u32::try_from(height).unwrap_or(1);
                    (round(w * f64::from(height) / h, 1), height)
                } else if height == 0 {
                    let width = u32::try_from(width).unwrap_or(1);
                    (width, round(h * f64::from(width) / w, 1))
                } else {
                    (u32::try_from(width).unwrap_or(1), u32::try_from(height).unwrap_or(1))
                };
                let scaled = Pixels { width, height, digest, ..from };
                if latent {
                    vec![Data::Latent(scaled)]
                } else {
                    scaled.fits()?;
                    vec![Data::Image(scaled)]
                }
            }
            "ImageScaleBy" | "LatentUpscaleBy" => {
                let latent = class.name == "LatentUpscaleBy";
                let from = pixels(links, if latent { "samples" } else { "image" }).ok_or_else(|| missing("image"))?;
                let scale = widgets.get("scale_by").and_then(|v| python::to_float(v).ok()).unwrap_or(1.0);
                let scaled = Pixels {
                    width: round(f64::from(from.width) * scale, 1),
                    height: round(f64::from(from.height) * scale, 1),
                    digest,
                    ..from
                };
                if latent {
                    vec![Data::Latent(scaled)]
                } else {
                    scaled.fits()?;
                    vec![Data::Image(scaled)]
                }
            }
            "UpscaleModelLoader" => vec![Data::UpscaleModel(nodes::upscale_factor(&text(widgets, "model_name")))],
            "ImageUpscaleWithModel" => {
                let factor = match links.get("upscale_model") {
                    Some(Data::UpscaleModel(factor)) => *factor,
                    _ => return Err(missing("upscale_model")),
                };
                let from = pixels(links, "image").ok_or_else(|| missing("image"))?;
                let scaled = Pixels {
                    width: from.width.saturating_mul(factor),
                    height: from.height.saturating_mul(factor),
                    digest,
                    ..from
                };
                scaled.fits()?;
                vec![Data::Image(scaled)]
            }
            // The output nodes return nothing; their images are saved after.
            _ => Vec::new(),
        })
    }

    /// `LoadImage`: the file's size, or what PIL raises.
    fn load_image(&self, value: &str, digest: [u8; 32]) -> Result<Pixels, Exception> {
        let path = |folder: Folder, subfolder: &str, name: &str| {
            let sub = if subfolder.is_empty() { String::new() } else { format!("{subfolder}/") };
            format!("/ComfyUI/{}/{sub}{name}", folder.name())
        };
        let Some((folder, subfolder, name)) = annotated(value) else {
            return Err(Exception::new("FileNotFoundError", format!("[Errno 2] No such file or directory: '{value}'")));
        };
        let stored = self.state.inner().files.get(folder, &subfolder, &name).cloned();
        let Some(stored) = stored else {
            return Err(Exception::new(
                "FileNotFoundError",
                format!("[Errno 2] No such file or directory: '{}'", path(folder, &subfolder, &name)),
            ));
        };
        let image = crate::input_image::from_bytes(&stored.bytes).map_err(|_| {
            Exception::new(
                "PIL.UnidentifiedImageError",
                format!("cannot identify image file '{}'", path(folder, &subfolder, &name)),
            )
        })?;
        let mut hasher = Sha256::new();
        hasher.update(digest);
        hasher.update(image.digest);
        let loaded =
            Pixels { width: image.width, height: image.height, batch: 1, seed: 0, digest: hasher.finalize().into() };
        loaded.fits()?;
        Ok(loaded)
    }

    /// Draws and saves a batch (`SaveImage.save_images`): the `ui` output.
    async fn save(&mut self, images: Pixels, folder: Folder, prefix: &str) -> Result<Value, Stop> {
        let failed = |ex: Exception| Stop::Failed(ex, json!({}));
        let (subfolder, stem) = files::save_path(prefix, images.width, images.height).map_err(failed)?;
        let drawn = tokio::task::spawn_blocking(move || {
            (0..images.batch)
                .map(|i| render_png(images.width, images.height, images.seed, "comfyui", &images.digest, i))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        let pngs = match drawn {
            Ok(Ok(pngs)) => pngs,
            Ok(Err(e)) => return Err(failed(Exception::new("OSError", format!("cannot write PNG: {e}")))),
            Err(e) => return Err(failed(Exception::new("RuntimeError", format!("the image renderer stopped: {e}")))),
        };
        self.alive()?;
        let mut inner = self.state.inner();
        // One counter for the batch, one up per image.
        let first = inner.files.next_counter(folder, &subfolder, &stem);
        let mut results = Vec::with_capacity(pngs.len());
        for (counter, (i, png)) in (first..).zip(pngs.into_iter().enumerate()) {
            let name = format!("{}_{counter:05}_.png", stem.replace("%batch_num%", &i.to_string()));
            inner.files.put(folder, &subfolder, &name, Bytes::from(png));
            results.push(json!({ "filename": name, "subfolder": subfolder, "type": folder.name() }));
        }
        inner.stats.images_generated += results.len() as u64;
        Ok(json!({ "images": results }))
    }
}

/// A widget's value as Python's `int()` reads it (validated before).
fn int(widgets: &HashMap<&'static str, Value>, name: &str) -> i128 {
    widgets.get(name).and_then(|v| python::to_int(v).ok()).unwrap_or(0)
}

/// A widget's value as Python's `str()` writes it.
fn text(widgets: &HashMap<&'static str, Value>, name: &str) -> String {
    widgets.get(name).map(python::str_of).unwrap_or_default()
}

/// The latents or images a link carries.
fn pixels(links: &HashMap<&'static str, Data>, name: &str) -> Option<Pixels> {
    match links.get(name)? {
        Data::Latent(p) | Data::Image(p) => Some(*p),
        _ => None,
    }
}

/// What a node whose link carries nothing raises (`'NoneType' object is not subscriptable`).
fn missing(name: &str) -> Exception {
    Exception::new("TypeError", format!("'NoneType' object is not subscriptable ({name})"))
}

impl ComfyUiState {
    /// Records a finished prompt in the history, if it is still the one
    /// running (a restart loses it): whether it was.
    fn finish(&self, run: u64, prompt_id: &str, entry: Value, outcome: &'static str) -> bool {
        let mut inner = self.inner();
        if inner.running.take_if(|r| r.run == run).is_none() {
            return false;
        }
        record(&mut inner, prompt_id, entry);
        inner.states.insert(prompt_id.to_owned(), outcome);
        inner.stats.running = 0;
        match outcome {
            "success" => inner.stats.prompts_completed += 1,
            "interrupted" => inner.stats.prompts_interrupted += 1,
            _ => inner.stats.prompts_failed += 1,
        }
        true
    }
}

/// `history[prompt_id] = entry`, dropping the oldest past the limit.
fn record(inner: &mut Inner, prompt_id: &str, entry: Value) {
    if let Some(slot) = inner.history.iter_mut().find(|(id, _)| id == prompt_id) {
        slot.1 = entry;
        return;
    }
    if inner.history.len() > MAXIMUM_HISTORY_SIZE {
        inner.history.remove(0);
    }
    inner.history.push((prompt_id.to_owned(), entry));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow() -> Map<String, Value> {
        json!({
            "3": { "class_type": "KSampler", "inputs": {
                "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]
            } },
            "4": { "class_type": "CheckpointLoaderSimple", "inputs": {} },
            "5": { "class_type": "EmptyLatentImage", "inputs": {} },
            "6": { "class_type": "CLIPTextEncode", "inputs": { "clip": ["4", 1] } },
            "7": { "class_type": "CLIPTextEncode", "inputs": { "clip": ["4", 1] } },
            "8": { "class_type": "VAEDecode", "inputs": { "samples": ["3", 0], "vae": ["4", 2] } },
            "9": { "class_type": "SaveImage", "inputs": { "images": ["8", 0] } },
            "10": { "class_type": "PreviewImage", "inputs": { "images": ["5", 0] } }
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn nodes_run_links_first_and_the_shortest_output_first() {
        let prompt = workflow();
        assert_eq!(execution_order(&prompt, &["9".into()]), ["4", "6", "7", "5", "3", "8", "9"]);
        assert_eq!(execution_order(&prompt, &["9".into(), "10".into()]), ["5", "10", "4", "6", "7", "3", "8", "9"]);
        let order = execution_order(&prompt, &["9".into()]);
        assert_eq!(order[fault_node(&prompt, &order)], "3");
    }

    #[test]
    fn rounding_is_pythons() {
        assert_eq!(round(2.5, 1), 2);
        assert_eq!(round(3.5, 1), 4);
        assert_eq!(round(0.2, 1), 1);
        assert_eq!(round(100.0, 64), 100);
    }
}
