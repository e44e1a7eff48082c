//! Assets: downloads (with `ETag`, `Cache-Control` and `Range`), thumbnails, the
//! gallery listing and tags. Served under `/api/v1/assets/…` and, for seed 004,
//! `/api/v1/images/…`.

mod download;
mod list;
mod tags;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::app::AppState;

pub(crate) use download::serve_blob;
pub use download::{__path_download_asset, __path_download_thumbnail, download_asset, download_thumbnail};
pub use list::{
    __path_list_assets, AssetListView, ListAssetsQuery as ListAssetsQueryAlias, list_assets as list_assets_handler,
};
pub use tags::{__path_add_tag, __path_remove_tag, TagRequest};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets", get(list::list_assets))
        .route("/assets/{id}", get(download::download_asset))
        .route("/assets/{id}/thumbnail", get(download::download_thumbnail))
        .route("/assets/{id}/tags", post(tags::add_tag))
        .route("/assets/{id}/tags/{tag}", delete(tags::remove_tag))
}

pub(crate) fn parse_asset_id(id: &str) -> Result<atelier_core::AssetId, crate::api::error::ApiError> {
    atelier_core::AssetId::parse(id).ok_or_else(|| crate::api::error::ApiError::not_found("image"))
}
