//! Extractors whose rejections use the one error shape: malformed JSON is a 400,
//! a body of the wrong shape (unknown field, wrong type, out of range) a 422.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `Json` with our rejections.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            let reason = error.body_text();
            let field = field_of(&reason);
            ApiError::validation(
                format!("the request body does not fit: {}", short(&reason)),
                serde_json::json!({ "field": field, "reason": short(&reason) }),
            )
        }
        JsonRejection::JsonSyntaxError(error) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the request body is not valid JSON: {}", short(&error.body_text())),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(error) => bytes_rejection(error),
        other => ApiError::new(other.status(), "bad_request", other.body_text()),
    }
}

/// A body that could not be read: too large (413, `payload_too_large`), or cut off
/// or unreadable (400).
fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "payload_too_large", "the request body is larger than this route takes")
            .with_details(serde_json::json!({ "reason": rejection.body_text() }));
    }
    ApiError::new(status, "bad_request", rejection.body_text())
}

/// The request body as bytes, with our rejections.
pub struct AppBytes(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for AppBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        bytes::Bytes::from_request(request, state).await.map(Self).map_err(bytes_rejection)
    }
}

/// serde's messages read "…: unknown field `foo`, expected one of …" or
/// "…: invalid type … at line 1 column 5"; keep the part after the path.
fn short(reason: &str) -> String {
    reason.rsplit_once(": ").map_or(reason, |(_, tail)| tail).to_owned()
}

/// The field a serde message names, when it names one.
fn field_of(reason: &str) -> Option<String> {
    if let Some(rest) = reason.split("field `").nth(1) {
        return rest.split('`').next().map(str::to_owned);
    }
    // axum prefixes the path: "Failed to deserialize the JSON body into the target type: width: invalid …"
    let after_prefix = reason.split_once("target type: ").map_or(reason, |(_, tail)| tail);
    let (path, _) = after_prefix.split_once(": ")?;
    (!path.contains(' ')).then(|| path.to_owned())
}

/// `Query` with our rejections.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(error)) => Err(ApiError::validation(
                format!("invalid query: {}", short(&error.body_text())),
                serde_json::json!({ "reason": short(&error.body_text()) }),
            )),
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// `Path` with our rejections: a malformed id is simply not found.
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found("resource")),
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_of_serde_errors() {
        assert_eq!(field_of("Failed to deserialize: unknown field `foo`, expected one of `a`").as_deref(), Some("foo"));
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: width: invalid type: string \"x\", expected u32 at line 1 column 12").as_deref(),
            Some("width")
        );
    }
}
