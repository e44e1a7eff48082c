//! Query parameters the list routes share (`GET /api/v1/tasks`, `GET /api/v1/assets`,
//! seed 004's `GET /api/v1/history`): one parsing, and one error, for each.

use crate::api::error::{ApiError, ApiResult};
use atelier_core::catalog::Catalog;

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
}
