//! The Atelier server: HTTP transport, configuration, wiring, and the
//! command-line client. The binary (`main.rs`) only parses arguments and calls
//! [`cli::run`]; tests build the same [`app::App`] in-process.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod embedding;
pub mod fetch;
pub mod http;
pub mod inputs;
pub mod links;
pub mod metrics;
pub mod openapi;
pub mod raster;
pub mod router;
pub mod studio;
pub mod telemetry;
