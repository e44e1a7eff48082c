//! In-tree emulators of remote providers' HTTP protocols.
//!
//! Each emulator speaks a provider's wire protocol as written down in
//! `docs/providers/` (kie.md, openai.md) and the providers' protocol notes, so
//! adapters and end-to-end tests can run offline, deterministically, and with
//! injected faults. `kie`: Kie.ai's common envelope and auth, the market jobs
//! API (Imagen 4, Sora 2), Veo 3, Midjourney, the file-upload API, credits and
//! result files. `openai`: OpenAI's and Azure OpenAI's images, edits, speech,
//! videos and chat completions APIs (text, JSON mode, structured outputs).
//! `volcengine`: VolcEngine's visual API (Jimeng 4.0 and 3.x, the general 3.0
//! and 2.x text-to-image models), its V4 request signatures, the synchronous
//! `CVProcess` and the `CVSync2Async` submit/poll flow. `google`: Google's
//! Gemini API (`v1beta`): Imagen's `:predict`, Veo's
//! `:predictLongRunning` with its operations and video downloads, and Gemini's
//! `:generateContent` (image output, edits, and text, JSON-schema answers too).
//! Three self-hosted Stable Diffusion servers: `a1111`, the AUTOMATIC1111 (and
//! Forge) WebUI's `sdapi/v1` (txt2img, img2img, progress, interrupt,
//! checkpoints and options, its one-at-a-time queue and optional Basic auth);
//! `sdcpp`, stable-diffusion.cpp's `sd-server` (its OpenAI-compatible images,
//! its WebUI-compatible `sdapi`, and its native async `/sdcpp/v1` jobs);
//! `comfyui`, ComfyUI's server (workflows in API format through `/prompt`,
//! checked and run node by node from its queue, `/history`, `/view`,
//! `/upload/image`, `/object_info`, interrupts, and its WebSocket's progress).
//! `stability`: Stability AI's REST v2beta Stable Image generate (`ultra`,
//! `core`, `sd3`; multipart in, image bytes or base64 JSON out).
//! `trellis_worker`: the other way round, a client: a TRELLIS GPU worker that
//! pulls tasks from an Atelier server (its pull protocol), answers with real
//! meshes, and crashes, hangs, goes quiet or fails on demand.
//!
//! What every emulator shares: `faults` (the fault vocabulary, triggers, plans,
//! the `X-Emulator-Fault` header and the middleware that injects them), `serve`
//! (the accept loop, with the per-connection kill the `reset` and `restart`
//! faults need, and HTTP upgrades for ComfyUI's WebSocket), `render` (the
//! seeded result images, PNG, JPEG or WebP), `input_image` (images sent as
//! base64, data URLs or files, read) and `schema` (the minimal JSON a schema
//! admits, for the text models' JSON answers). An emulator brings
//! its endpoints, its error shapes and its routes.

pub mod a1111;
pub mod comfyui;
pub mod faults;
pub mod google;
mod input_image;
pub mod kie;
pub mod openai;
mod render;
mod schema;
pub mod sdcpp;
mod serve;
pub mod stability;
pub mod trellis_worker;
pub mod volcengine;

pub use kie::{
    Endpoint, FAULT_HEADER, Fault, FaultPlan, FaultRule, KieEmulator, KieEmulatorConfig, MarketModel, Trigger,
    model_cost, parse_fault, parse_fault_rule, webhook_signature,
};
