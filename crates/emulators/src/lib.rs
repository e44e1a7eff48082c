//! In-tree emulators of remote providers' HTTP protocols.
//!
//! Each emulator speaks a provider's wire protocol as written down in
//! `shared/providers/protocols.md`, so adapters and end-to-end tests can run
//! offline, deterministically, and with injected faults. `kie`: Kie.ai's common
//! envelope and auth, the market jobs API (Imagen 4, Sora 2), Veo 3, Midjourney,
//! the file-upload API, credits and result files. `openai`: OpenAI's and Azure
//! OpenAI's images, edits, speech and videos APIs.

pub mod kie;
pub mod openai;

pub use kie::{
    Endpoint, FAULT_HEADER, Fault, FaultPlan, FaultRule, KieEmulator, KieEmulatorConfig, MarketModel, Trigger,
    model_cost, parse_fault, parse_fault_rule, webhook_signature,
};
