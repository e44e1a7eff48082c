//! Engines behind the provider port: the built-in offline engines of the `local`
//! service, each implementing [`atelier_core::ports::Provider`] through
//! [`LocalProvider`], and the remote services, one folder each (`kie`, `openai`
//! with Azure, `google`, `volcengine`, `sdapi` for AUTOMATIC1111 and
//! stable-diffusion.cpp), on the shared `kit`.
//!
//! * `placeholder`: a deterministic, seed-driven abstract composition with the prompt
//!   written on it and a clear "PLACEHOLDER" label. Not AI.
//! * `qr`: a QR code (PNG or SVG).
//! * `instant`: benchmark-only, an 8x8 PNG at once (optionally after a delay), which
//!   can record every execution for crash tests.
//!
//! Every engine finishes inside `submit` (`Submitted::Finished`); CPU-bound rendering
//! runs on tokio's blocking pool. Outputs are byte-for-byte deterministic for a given
//! normalised input (on a given machine: the placeholder's text depends on the fonts
//! installed).
//!
//! Fonts are discovered at run time (system fonts plus the colon-separated
//! directories in `ATELIER_FONT_DIRS`); [`font_report`] summarises them.

pub mod comfyui;
pub mod config;
pub mod google;
pub mod kie;
pub mod kit;
pub mod llm;
pub mod local;
pub mod openai;
pub mod registry;
pub mod sdapi;
pub mod stability;
pub mod trellis;
pub mod volcengine;

pub use config::{EnginesConfig, InstantConfig, LimitsConfig, ProvidersConfig};
pub use local::text::{FontReport, font_report};
pub use local::{INSTANT_EXECUTION_LOG_ENV, LocalConfig, LocalProvider, SERVICE};
pub use registry::{model_table, services};
