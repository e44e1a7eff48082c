//! In-memory adapters for tests of the core (and of other crates, with the
//! `testing` feature): a store implementing every task-side port, an asset store,
//! and a provider whose answers a test scripts. They keep the contracts the real
//! adapters keep (lease-checked writes, claims in priority order) closely enough for
//! unit tests of the worker and the services; the storage suite checks the real
//! backends against the same contracts.

mod memory_accounts;
mod memory_assets;
mod memory_store;
mod memory_webhooks;
mod scripted;
mod tools;

pub use memory_accounts::MemoryAccounts;
pub use memory_assets::MemoryAssets;
pub use memory_store::MemoryStore;
pub use memory_webhooks::MemoryWebhooks;
pub use scripted::{Answer, Scripted, tiny_png as scripted_output};
pub use tools::{ffprobe, sox_stat, tool_missing, tool_present};
