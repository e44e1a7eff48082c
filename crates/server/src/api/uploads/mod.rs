//! Uploads: files clients send to use as task inputs (an image to edit, a first
//! frame to animate). `POST /api/v1/uploads` takes a multipart form (`file`) or
//! the raw bytes with their `Content-Type`; tasks then name the file by its id
//! (`upl_…`), and providers that need it upload it to their own storage.

mod create;
mod read;

use atelier_core::UploadId;
use atelier_core::ports::ProviderUpload;
use atelier_core::task::Upload;
use axum::extract::DefaultBodyLimit;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiError;
use crate::api::places::LocationView;
use crate::api::views::InputCopyView;
use crate::app::AppState;
use atelier_core::location::Location;

/// An image's header vetted (`atelier_assets::inspect_image`: its pixels read
/// from the header against the budget, its frames counted, its Exif walked,
/// nothing after its end) on a blocking thread; the store decodes it in full when
/// it is saved. For every route that takes an image file.
pub async fn inspect_image(
    bytes: &axum::body::Bytes,
    limits: atelier_assets::MediaLimits,
) -> Result<atelier_assets::vet::ImageHeader, atelier_assets::VetError> {
    let bytes = bytes.clone();
    tokio::task::spawn_blocking(move || atelier_assets::inspect_image(&bytes, &limits))
        .await
        .unwrap_or_else(|_| Err(atelier_assets::VetError::Undecodable("the check did not finish".into())))
}

pub fn routes(max_upload_bytes: usize) -> OpenApiRouter<AppState> {
    // Uploads take larger bodies than the rest of the API.
    let (schemas, paths, create) = routes!(create::create_upload);
    OpenApiRouter::new()
        .routes((schemas, paths, create.layer(DefaultBodyLimit::max(max_upload_bytes))))
        .routes(routes!(read::get_upload, read::delete_upload))
        .routes(routes!(read::download_upload))
}

pub(crate) fn parse_upload_id(id: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(id).ok_or_else(|| ApiError::not_found("upload"))
}

/// An uploaded file.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    /// Name it in a task input (`images`, `image_urls`, …) by this id.
    pub id: String,
    pub name: String,
    pub mime: String,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sha256: String,
    pub url: String,
    /// ISO 8601.
    pub created_at: String,
    /// The copies providers hold of this file, made when a task sent it (Kie deletes
    /// its copies after 3 days; Atelier keeps the original and uploads it again when a
    /// copy is stale). Empty until a task sends the file to such a provider.
    pub provider_copies: Vec<InputCopyView>,
    /// Where the photo was taken, read from its Exif GPS when it was uploaded (a
    /// stored location, `source` `exif`, deleted with the upload); null when the
    /// file carried none. The stored file and its thumbnail carry no position.
    pub location: Option<LocationView>,
}

impl UploadView {
    /// The view with the provider copies of the file, as they stand at `now`.
    pub fn with_copies(mut self, copies: &[(String, ProviderUpload)], now: i64) -> Self {
        self.provider_copies =
            copies.iter().map(|(service, copy)| InputCopyView::new(service, &copy.url, copy.expires_at, now)).collect();
        self
    }

    /// The view with the location read from the file's Exif.
    pub fn with_location(mut self, location: Option<&Location>) -> Self {
        self.location = location.map(LocationView::from);
        self
    }
}

impl From<&Upload> for UploadView {
    fn from(upload: &Upload) -> Self {
        Self {
            id: upload.id.to_string(),
            name: upload.name.clone(),
            mime: upload.mime.clone(),
            bytes: upload.bytes,
            width: upload.width,
            height: upload.height,
            sha256: upload.sha256.clone(),
            url: format!("/api/v1/uploads/{}/content", upload.id),
            created_at: crate::api::views::timestamp(upload.created_at),
            provider_copies: Vec::new(),
            location: None,
        }
    }
}
