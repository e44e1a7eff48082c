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
            if !public {
                operation.responses.responses.entry("401".into()).or_insert_with(|| unauthorized.clone().into());
                operation.responses.responses.entry("403".into()).or_insert_with(unauthorized_forbidden);
            }
            describe_responses(&mut operation.responses);
        }
    }
}

/// OpenAPI requires a description on every response: one an annotation left out
/// is the status's own meaning ("Not found", "Too many requests"...). A file's
/// bytes (an image, `application/octet-stream`) are a binary string, so that
/// client generators hand them over as bytes.
fn describe_responses(responses: &mut utoipa::openapi::Responses) {
    for (status, response) in &mut responses.responses {
        let utoipa::openapi::RefOr::T(response) = response else { continue };
        if response.description.is_empty() {
            response.description = default_description(status).to_owned();
        }
        for (media_type, content) in &mut response.content {
            let utoipa::openapi::RefOr::T(content) = content else { continue };
            if content.schema.is_none() && !media_type.contains("json") && !media_type.starts_with("text/") {
                content.schema = Some(binary().into());
            }
        }
    }
}

/// A file in a request body (a multipart part, or the whole body): its bytes, a
/// binary string in the document.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FilePart(#[allow(dead_code)] Vec<u8>);

/// `{"type": "string", "format": "binary"}`: a file's bytes.
pub fn binary() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Binary)))
        .build()
}

fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: the work goes on in the background",
        "204" => "Done; no body",
        "400" => "Malformed request",
        "401" => "No valid key or session",
        "403" => "Not allowed",
        "404" => "Not found (or not yours)",
        "405" => "Method not allowed",
        "409" => "Conflict with the current state",
        "410" => "Gone",
        "413" => "Body too large",
        "415" => "Unsupported content type",
        "416" => "Range not satisfiable",
        "422" => "Invalid input (details name the field)",
        "429" => "Too many requests or over a quota; see Retry-After",
        "500" => "Internal error",
        "502" => "The provider failed",
        "503" => "Not available now; see Retry-After",
        "504" => "Timed out",
        _ => "See the error body",
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
    /// What openapi-spec-validator (CI, `scripts/api-conformance`) would refuse,
    /// checked here first: a response without a description, a parameter said to be
    /// in the path that the path does not name, an operation id used twice.
    #[test]
    fn the_document_describes_every_response_and_places_every_parameter() {
        let document = serde_json::to_value(crate::router::openapi()).expect("the document as JSON");
        let mut operation_ids = std::collections::BTreeSet::new();
        let mut operations = 0;
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                operations += 1;
                let id = operation["operationId"].as_str().unwrap_or_default();
                assert!(operation_ids.insert(id.to_owned()), "{method} {path}: operationId {id} is used twice");
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    let description = response["description"].as_str().unwrap_or_default();
                    assert!(!description.is_empty(), "{method} {path} {status}: no description");
                }
                for parameter in operation["parameters"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    let name = parameter["name"].as_str().unwrap_or_default();
                    let in_path = path.contains(&format!("{{{name}}}"));
                    assert_eq!(parameter["in"] == "path", in_path, "{method} {path}: parameter {parameter}");
                }
            }
        }
        assert!(operations > 100, "{operations} operations");
    }

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
