//! Seed 004's API, exactly as that document shows it. Where its routes are the
//! same as native ones (`GET /tasks`, `/models`, `/health`, `/system/info`,
//! `/images/{id}`), the native handler serves both.

mod aliases;
mod generate;
mod history;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::app::AppState;

pub use aliases::{__path_delete_task, __path_get_image, __path_get_image_thumbnail, __path_get_task};
pub use generate::{__path_generate, GenerateRequest, GenerateResponse};
pub use history::{__path_delete_history_item, __path_history};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/generate", post(generate::generate))
        .route("/task/{id}", get(aliases::get_task).delete(aliases::delete_task))
        .route("/images/{id}", get(aliases::get_image))
        .route("/images/{id}/thumbnail", get(aliases::get_image_thumbnail))
        .route("/history", get(history::history))
        .route("/history/{id}", delete(history::delete_history_item))
}
