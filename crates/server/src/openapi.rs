//! The OpenAPI 3.1 document: its info, tags and security schemes here; its paths and
//! schemas come from the routes themselves (`router::api_routes`), registered once.

use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Atelier", description = "One task API for generative media: images, video, audio, 3D."),
    tags(
        (name = "tasks", description = "Durable generation tasks"),
        (name = "assets", description = "Outputs, thumbnails and tags"),
        (name = "uploads", description = "Files sent as task inputs"),
        (name = "pipelines", description = "Pipeline runs (seed 001): a story becomes a manga storyboard phase by phase, with feedback between phases and a version tree"),
        (name = "prompts", description = "Prompt trees (seed 003): branches, feedback, and the tasks made from each prompt"),
        (name = "places", description = "Locations (seed 000): your stored places, and an offline gazetteer (GeoNames, geonames.org, CC BY 4.0) from coordinates to the nearest town and from names to coordinates"),
        (name = "seed 004", description = "The image generation API as seed 004 describes it"),
        (name = "models", description = "The model catalog"),
        (name = "system", description = "Health and information"),
        (name = "callbacks", description = "Providers' callbacks (they only hasten polling)"),
        (name = "accounts", description = "Sign-in, keys, two-factor, users, the audit log"),
        (name = "seed 000", description = "The QR code API as seed 000 describes it"),
    ),
    modifiers(&Security, &PhaseSchemas),
    security(("api_key" = []), ("session" = []))
)]
pub struct ApiDoc;

/// Every route needs a key or a session unless it says otherwise: the schemes.
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
    }
}

/// Each manga phase's result as a named schema (`MangaConcept`, `MangaCharacters`,
/// `MangaPlot`, `MangaPages`, `MangaArt`, `MangaLettering`, `MangaReport`,
/// `MangaBook`, and `MangaDocument` for them all): what a version's
/// `document` holds, so that a client can edit it precisely.
struct PhaseSchemas;

impl Modify for PhaseSchemas {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use atelier_core::pipeline::manga::{self, schema};
        let pipeline = manga::pipeline();
        let named = [
            ("MangaConcept", schema::concept()),
            ("MangaCharacters", schema::characters()),
            ("MangaPlot", schema::plot()),
            ("MangaPages", schema::pages()),
            ("MangaArt", schema::art()),
            ("MangaLettering", schema::lettering()),
            ("MangaReport", schema::report()),
            ("MangaBook", schema::book()),
            ("MangaDocument", manga::document_schema(&pipeline, pipeline.last())),
        ];
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, value) in named {
            match serde_json::from_value::<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>(value) {
                Ok(schema) => {
                    components.schemas.insert(name.to_owned(), schema);
                }
                Err(error) => tracing::error!(schema = name, %error, "a phase schema does not read as OpenAPI"),
            }
        }
    }
}

/// Adds the 401 and 403 answers every protected operation may give (a public one
/// says `security(())` in its annotation). Runs once the routes have added their paths.
pub fn protect(openapi: &mut utoipa::openapi::OpenApi) {
    let unauthorized = utoipa::openapi::ResponseBuilder::new()
        .description("No valid key or session")
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in openapi.paths.paths.values_mut() {
        for operation in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
        {
            // A public route says so in its annotation: `security(())`.
            let public = operation
                .security
                .as_ref()
                .is_some_and(|requirements| requirements.iter().any(|r| *r == SecurityRequirement::default()));
            if public {
                continue;
            }
            operation.responses.responses.entry("401".into()).or_insert_with(|| unauthorized.clone().into());
            operation.responses.responses.entry("403".into()).or_insert_with(unauthorized_forbidden);
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

#[cfg(test)]
mod tests {
    #[test]
    fn phase_schemas_read_as_openapi() {
        use atelier_core::pipeline::manga::schema;
        for (name, value) in [
            ("concept", schema::concept()),
            ("characters", schema::characters()),
            ("plot", schema::plot()),
            ("pages", schema::pages()),
        ] {
            let read = serde_json::from_value::<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>(value);
            assert!(read.is_ok(), "{name}: {:?}", read.err());
        }
    }
}
