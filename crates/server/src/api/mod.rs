//! The HTTP API under `/api/v1`: native task routes, seed 004's routes, assets,
//! models and system routes. Handlers are thin: extract, call one core function,
//! map the answer.

pub mod assets;
pub mod auth;
pub mod callbacks;
pub mod compat;
pub mod dead_letter;
pub mod error;
pub mod extract;
pub(crate) mod filters;
pub mod models;
pub mod openai;
pub mod pipelines;
pub mod places;
pub mod prompts;
pub mod providers;
pub mod qrcodes;
pub mod socket;
pub mod system;
pub mod tasks;
pub mod three_d;
pub mod uploads;
pub mod views;
pub mod webhooks;
pub mod workers;
pub mod ws;
