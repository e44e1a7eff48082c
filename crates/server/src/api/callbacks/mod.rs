//! `/api/v1/callbacks/*`: providers' callbacks. A callback only makes Atelier poll
//! the task at once; the result always comes from the provider's query API, so a
//! callback is trusted with nothing. Signed callbacks are verified where the
//! provider signs them.

mod kie;

use axum::Router;
use axum::routing::post;

use crate::app::AppState;

pub use kie::__path_kie_callback;

pub fn routes() -> Router<AppState> {
    Router::new().route("/callbacks/kie", post(kie::kie_callback))
}
