//! HTTP tests through a `TestApp`: the real application on a loopback port, driven
//! with a real HTTP client.

#![allow(clippy::unwrap_used)]

mod accounts;
mod assets;
mod auth;
mod backpressure;
mod comfyui;
mod errors;
mod events;
mod framework;
mod full_disk;
mod google;
mod helpers;
mod hostile_files;
mod kie;
mod kie_models;
mod manga_book;
mod metrics;
mod model_names;
mod models;
mod openai;
mod openai_compat;
mod pipelines;
mod places;
mod prompts;
mod pull_workers;
mod relief;
mod routing;
mod s3_storage;
mod sdapi;
mod seed004;
mod speech;
mod stability;
mod studio;
mod tasks;
mod text_models;
mod three_d;
mod volcengine;
mod webhooks;
mod websockets;
mod worker;
