//! Seed 004's API, exactly as that document shows it. Where its routes are the
//! same as native ones (`GET /tasks`, `/models`, `/health`, `/system/info`,
//! `/images/{id}`), the native handler serves both.

mod aliases;
mod generate;
mod history;
mod stream;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub use generate::{GenerateRequest, GenerateResponse};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate::generate))
        .routes(routes!(stream::generate_stream))
        .routes(routes!(aliases::get_task, aliases::delete_task))
        .routes(routes!(aliases::get_image))
        .routes(routes!(aliases::get_image_thumbnail))
        .routes(routes!(history::history))
        .routes(routes!(history::delete_history_item))
}
