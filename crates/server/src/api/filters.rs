//! Query parameters the list routes share (`GET /api/v1/tasks`, `GET /api/v1/assets`,
//! seed 004's `GET /api/v1/history`): one parsing, and one error, for each.

use crate::api::error::{ApiError, ApiResult};
use atelier_core::CoreError;
use atelier_core::catalog::Catalog;
use atelier_core::location::Near;
use atelier_places::Coordinates;

/// A 422 that names the parameter at fault.
pub(crate) fn invalid(field: &str, reason: &str) -> ApiError {
    ApiError::validation(format!("{field}: {reason}"), serde_json::json!({ "field": field, "reason": reason }))
}

/// `model`: `service/model`, or a bare model name (of any service), as
/// `(service, model)`, lowercased, the model named canonically (`kie/sora2` and
/// `SORA2` find `sora-2`'s tasks).
pub(crate) fn model_filter(catalog: &Catalog, model: Option<&str>) -> (Option<String>, Option<String>) {
    match model.map(|name| catalog.canonical_key(name)) {
        Some(name) => match name.split_once('/') {
            Some((service, model)) => (Some(service.to_owned()), Some(model.to_owned())),
            None => (None, Some(name)),
        },
        None => (None, None),
    }
}

/// `created_after` / `created_before`: an RFC 3339 time, as Unix milliseconds.
pub(crate) fn time_filter(field: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|time| time.timestamp_millis())
                .map_err(|_| invalid(field, "not an RFC 3339 time such as 2024-01-01T12:00:00Z"))
        })
        .transpose()
}

/// A number given as a query parameter: 422 naming `field` when it is missing or
/// is not a number (NaN and infinities parse, and the range checks refuse them).
pub(crate) fn number(field: &str, value: Option<&str>) -> ApiResult<f64> {
    let text = value.ok_or_else(|| invalid(field, "is required"))?;
    text.trim().parse::<f64>().map_err(|_| invalid(field, "not a number"))
}

/// `latitude` and `longitude` query parameters, checked.
pub(crate) fn coordinates(latitude: Option<&str>, longitude: Option<&str>) -> ApiResult<Coordinates> {
    let latitude = number("latitude", latitude)?;
    let longitude = number("longitude", longitude)?;
    Ok(Coordinates::new(latitude, longitude).map_err(CoreError::from)?)
}

/// `near=<lat>,<lon>` with `radius_km=<km>`: a radius filter, or none when
/// neither is given (one without the other is refused).
pub(crate) fn near_filter(near: Option<&str>, radius_km: Option<&str>) -> ApiResult<Option<Near>> {
    let Some(near) = near else {
        return match radius_km {
            Some(_) => Err(invalid("near", "is required with radius_km (near=<latitude>,<longitude>)")),
            None => Ok(None),
        };
    };
    let (latitude, longitude) =
        near.split_once(',').ok_or_else(|| invalid("near", "must be <latitude>,<longitude> in degrees"))?;
    let center = coordinates(Some(latitude), Some(longitude))?;
    let radius_km = number("radius_km", radius_km)?;
    Ok(Some(Near::new(center, radius_km).map_err(CoreError::from)?))
}

/// `limit`: 1 to 500, default 50.
pub(crate) fn page_limit(limit: Option<u32>) -> ApiResult<u32> {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 500"));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_service_slash_model_or_a_bare_name() {
        let catalog = Catalog::default();
        assert_eq!(
            model_filter(&catalog, Some("Local/Placeholder")),
            (Some("local".into()), Some("placeholder".into()))
        );
        assert_eq!(model_filter(&catalog, Some("placeholder")), (None, Some("placeholder".into())));
        assert_eq!(model_filter(&catalog, None), (None, None));
    }

    #[test]
    fn times_are_rfc_3339() {
        assert_eq!(time_filter("created_after", Some("1970-01-01T00:00:01Z")).ok(), Some(Some(1000)));
        assert_eq!(time_filter("created_after", Some("1970-01-01T01:00:01+01:00")).ok(), Some(Some(1000)));
        assert_eq!(time_filter("created_after", None).ok(), Some(None));
        assert!(time_filter("created_after", Some("yesterday")).is_err());
        assert!(page_limit(Some(0)).is_err() && page_limit(Some(501)).is_err());
        assert_eq!(page_limit(None).ok(), Some(50));
    }

    fn field_of(result: ApiResult<impl std::fmt::Debug>) -> String {
        let error = result.expect_err("an invalid value");
        assert_eq!(error.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        error.details.map(|details| details["field"].as_str().unwrap_or_default().to_owned()).unwrap_or_default()
    }

    #[test]
    fn places_in_queries_name_the_field_at_fault() {
        assert!(coordinates(Some("48.85"), Some("2.35")).is_ok());
        assert_eq!(field_of(coordinates(None, Some("2"))), "latitude");
        assert_eq!(field_of(coordinates(Some("NaN"), Some("2"))), "latitude");
        assert_eq!(field_of(coordinates(Some("1"), Some("181"))), "longitude");
        assert_eq!(field_of(coordinates(Some("1"), Some("east"))), "longitude");
        assert!(near_filter(None, None).ok().is_some_and(|near| near.is_none()));
        assert!(near_filter(Some("48.85,2.35"), Some("10")).ok().is_some_and(|near| near.is_some()));
        assert_eq!(field_of(near_filter(Some("48.85"), Some("10"))), "near");
        assert_eq!(field_of(near_filter(None, Some("10"))), "near");
        assert_eq!(field_of(near_filter(Some("48.85,2.35"), None)), "radius_km");
        assert_eq!(field_of(near_filter(Some("48.85,2.35"), Some("-1"))), "radius_km");
        assert_eq!(field_of(near_filter(Some("95,2.35"), Some("1"))), "latitude");
    }
}
