//! Assets: downloads (with `ETag`, `Cache-Control` and `Range`), thumbnails, the
//! gallery listing and tags. Served under `/api/v1/assets/…` and, for seed 004,
//! `/api/v1/images/…`.

mod download;
mod list;
mod share;
mod tags;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub(crate) use download::{Reader, serve_asset, serve_blob};
pub use download::{download_asset, download_thumbnail};
pub use list::{
    __path_list_assets, AssetListView, ListAssetsQuery as ListAssetsQueryAlias, list_assets as list_assets_handler,
};
pub use share::{SharedLinkView, shared_link};
pub use tags::TagRequest;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_assets))
        .routes(routes!(download::download_asset))
        .routes(routes!(download::download_thumbnail))
        .routes(routes!(tags::add_tag))
        .routes(routes!(tags::remove_tag))
        .routes(routes!(share::share_asset))
}

/// Routes anyone may call: a signed link is its own permission.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(share::shared_asset))
}

pub(crate) fn parse_asset_id(id: &str) -> Result<atelier_core::AssetId, crate::api::error::ApiError> {
    atelier_core::AssetId::parse(id).ok_or_else(|| crate::api::error::ApiError::not_found("image"))
}
