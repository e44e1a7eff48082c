//! The emulators through HTTP, one module per provider, in one test binary (one
//! link instead of nine: the suite's build time is mostly linking).

mod a1111;
mod comfyui;
mod google;
mod kie;
mod kie_models;
mod openai;
mod sdcpp;
mod stability;
mod volcengine;
