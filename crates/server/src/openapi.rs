//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::OpenApi;

use crate::api::{assets, callbacks, compat, error, models, providers, system, tasks, uploads, views};

#[derive(OpenApi)]
#[openapi(
    info(title = "Atelier", description = "One task API for generative media: images, video, audio, 3D."),
    paths(
        tasks::create_task, tasks::list_tasks, tasks::get_task, tasks::cancel_task, tasks::retry_task,
        tasks::delete_task, tasks::task_events,
        assets::list_assets, assets::download_asset, assets::download_thumbnail, assets::add_tag, assets::remove_tag,
        uploads::create_upload, uploads::get_upload, uploads::download_upload, uploads::delete_upload,
        compat::generate, compat::history, compat::delete_history_item,
        models::list_models, providers::list_providers, system::health, system::system_info, callbacks::kie_callback,
    ),
    components(schemas(
        error::ErrorBody, uploads::UploadView, views::TaskView, views::TaskListView, views::ImageView, views::TaskErrorView,
        tasks::CreateTaskRequest, assets::TagRequest, assets::AssetListView,
        compat::GenerateRequest, compat::GenerateResponse,
        models::ModelView, models::ModelListView, providers::ProviderView, providers::ProviderListView, providers::LimitsView, providers::QuotaView, system::HealthView, system::SystemInfoView,
    )),
    tags(
        (name = "tasks", description = "Durable generation tasks"),
        (name = "assets", description = "Outputs, thumbnails and tags"),
        (name = "uploads", description = "Files sent as task inputs"),
        (name = "seed 004", description = "The image generation API as seed 004 describes it"),
        (name = "models", description = "The model catalog"),
        (name = "system", description = "Health and information"),
        (name = "callbacks", description = "Providers' callbacks (they only hasten polling)"),
    )
)]
pub struct ApiDoc;
