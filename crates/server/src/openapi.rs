//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::OpenApi;

use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::api::auth::{audit, keys, me, sessions, users};
use crate::api::prompts;
use crate::api::{assets, callbacks, compat, error, models, providers, qrcodes, system, tasks, uploads, views};

#[derive(OpenApi)]
#[openapi(
    info(title = "Atelier", description = "One task API for generative media: images, video, audio, 3D."),
    paths(
        tasks::create_task, tasks::list_tasks, tasks::get_task, tasks::cancel_task, tasks::retry_task,
        tasks::delete_task, tasks::task_events,
        assets::list_assets, assets::download_asset, assets::download_thumbnail, assets::add_tag, assets::remove_tag,
        uploads::create_upload, uploads::get_upload, uploads::download_upload, uploads::delete_upload,
        prompts::create_prompt, prompts::list_prompts, prompts::get_prompt, prompts::prompt_tree,
        prompts::update_prompt, prompts::delete_prompt,
        compat::generate, compat::get_task, compat::delete_task, compat::get_image, compat::get_image_thumbnail, compat::history, compat::delete_history_item,
        models::list_models, providers::list_providers, system::health, system::system_info, callbacks::provider_callback,
        sessions::sign_in, sessions::sign_in_with_link, sessions::current_session, sessions::sign_out, me::me, me::set_password, me::begin_totp,
        me::confirm_totp, me::disable_totp, keys::create_key, keys::list_keys, keys::revoke_key, users::list_users,
        users::create_user, users::update_user, audit::audit_log, qrcodes::create_qrcode,
    ),
    components(schemas(
        error::ErrorBody, uploads::UploadView,
        prompts::PromptFields, prompts::PromptView, prompts::PromptNodeView, prompts::PromptListView, prompts::CreatePromptRequest,
        prompts::UpdatePromptRequest, prompts::PromptType,
        sessions::SignInRequest, sessions::SessionView, sessions::SessionStateView, me::MeView, me::PasswordRequest, me::TotpEnrolmentView,
        me::CodeRequest, me::RecoveryCodesView, keys::KeyView, keys::CreatedKeyView, keys::CreateKeyRequest,
        keys::KeyListView, users::UserView, users::UserListView, users::CreateUserRequest, users::UpdateUserRequest,
        audit::AuditEntryView, audit::AuditListView, views::TaskView, views::TaskListView, views::ImageView, views::TaskErrorView,
        tasks::CreateTaskRequest, assets::TagRequest, assets::AssetListView,
        compat::GenerateRequest, compat::GenerateResponse,
        models::ModelView, models::ModelListView, providers::ProviderView, providers::ProviderListView, providers::LimitsView, providers::QuotaView, system::HealthView, system::SystemInfoView,
    )),
    tags(
        (name = "tasks", description = "Durable generation tasks"),
        (name = "assets", description = "Outputs, thumbnails and tags"),
        (name = "uploads", description = "Files sent as task inputs"),
        (name = "prompts", description = "Prompt trees (seed 003): branches, feedback, and the tasks made from each prompt"),
        (name = "seed 004", description = "The image generation API as seed 004 describes it"),
        (name = "models", description = "The model catalog"),
        (name = "system", description = "Health and information"),
        (name = "callbacks", description = "Providers' callbacks (they only hasten polling)"),
        (name = "accounts", description = "Sign-in, keys, two-factor, users, the audit log"),
        (name = "seed 000", description = "The QR code API as seed 000 describes it"),
    ),
    modifiers(&Security),
    security(("api_key" = []), ("session" = []))
)]
pub struct ApiDoc;

/// Every route needs a key or a session unless it says otherwise: the schemes,
/// and the 401 every protected route may answer.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("atl_…").build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::api::auth::SESSION_COOKIE))),
        );
        let unauthorized = utoipa::openapi::ResponseBuilder::new()
            .description("No valid key or session")
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = path == "/api/v1/health"
                || path.starts_with("/api/v1/callbacks/")
                || path.starts_with("/api/v1/sessions") && !path.ends_with("/current");
            if public {
                continue;
            }
            for operation in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                operation.responses.responses.entry("401".into()).or_insert_with(|| unauthorized.clone().into());
                operation.responses.responses.entry("403".into()).or_insert_with(unauthorized_forbidden);
            }
        }
    }
}

fn unauthorized_forbidden() -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    utoipa::openapi::ResponseBuilder::new()
        .description("Not allowed: a viewer key on a write, or a signed-in browser request without its CSRF token")
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}
