//! One model through several services, and how they differ: the parameters each
//! service takes for it. A parameter the chosen service lacks but another offers is
//! refused naming both, before the service's own validation says "unknown field".

use serde_json::Value;

use super::ModelSpec;
use crate::error::CoreError;

/// The top-level parameters a model's input schema names, in its order.
pub fn parameters(spec: &ModelSpec) -> Vec<String> {
    spec.input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map_or_else(Vec::new, |properties| properties.keys().cloned().collect())
}

fn takes(spec: &ModelSpec, parameter: &str) -> bool {
    spec.input_schema.get("properties").and_then(|properties| properties.get(parameter)).is_some()
}

/// One service's offer of a model, as the catalogue shows it beside another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub service: String,
    /// `service/model`.
    pub id: String,
    pub usable: bool,
    /// Parameters `spec` takes that this service lacks for the model.
    pub lacks: Vec<String>,
    /// Parameters this service takes that `spec` lacks.
    pub adds: Vec<String>,
}

/// Every service that offers `spec`'s model (`spec`'s own included), in catalogue
/// order, with what each lacks or adds beside `spec`.
pub fn offers(models: &[ModelSpec], spec: &ModelSpec) -> Vec<Offer> {
    let own = parameters(spec);
    models
        .iter()
        .filter(|other| other.model == spec.model)
        .map(|other| {
            let theirs = parameters(other);
            Offer {
                service: other.service.clone(),
                id: other.id(),
                usable: other.is_usable(),
                lacks: own.iter().filter(|parameter| !theirs.contains(parameter)).cloned().collect(),
                adds: theirs.iter().filter(|parameter| !own.contains(parameter)).cloned().collect(),
            }
        })
        .collect()
}

/// Refuses an input parameter that `spec`'s service lacks when another service
/// offers it for the same model, naming the service and where it is offered. Other
/// unknown parameters are left to the service's own validation.
pub fn check_offered(models: &[ModelSpec], spec: &ModelSpec, input: &Value) -> Result<(), CoreError> {
    let Some(input) = input.as_object() else { return Ok(()) };
    for parameter in input.keys().filter(|parameter| !takes(spec, parameter)) {
        let offered_by: Vec<String> = models
            .iter()
            .filter(|other| other.model == spec.model && other.service != spec.service && takes(other, parameter))
            .map(ModelSpec::id)
            .collect();
        if !offered_by.is_empty() {
            return Err(CoreError::InvalidInput {
                message: format!(
                    "{parameter:?} is not a parameter of {} through {} ({} offers it)",
                    spec.model,
                    spec.service,
                    offered_by.join(", ")
                ),
                details: serde_json::json!({
                    "field": parameter,
                    "reason": "not offered by this service",
                    "service": spec.service,
                    "model": spec.model,
                    "offered_by": offered_by,
                }),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Modality;
    use crate::testing::Scripted;
    use serde_json::json;

    fn spec(service: &str, properties: &[&str]) -> ModelSpec {
        let mut spec = Scripted::spec(service, "sora-2", Modality::Video);
        let properties: serde_json::Map<String, Value> =
            properties.iter().map(|name| ((*name).to_owned(), json!({ "type": "string" }))).collect();
        spec.input_schema = json!({ "type": "object", "properties": properties, "additionalProperties": false });
        spec
    }

    #[test]
    fn offers_say_what_each_service_lacks_and_adds() {
        let models = [spec("kie", &["prompt", "aspect_ratio"]), spec("openai", &["prompt", "size"])];
        let offers = offers(&models, &models[0]);
        assert_eq!(offers.len(), 2);
        assert_eq!((offers[0].lacks.len(), offers[0].adds.len()), (0, 0), "itself");
        assert_eq!(offers[1].id, "openai/sora-2");
        assert_eq!(
            (offers[1].lacks.as_slice(), offers[1].adds.as_slice()),
            (&["aspect_ratio".to_owned()][..], &["size".to_owned()][..])
        );
    }

    #[test]
    fn a_parameter_only_another_service_takes_is_refused_naming_both() {
        let models = [spec("kie", &["prompt", "aspect_ratio"]), spec("openai", &["prompt", "size"])];
        let Err(CoreError::InvalidInput { message, details }) =
            check_offered(&models, &models[1], &json!({ "prompt": "x", "aspect_ratio": "16:9" }))
        else {
            panic!("refused");
        };
        assert!(message.contains("through openai") && message.contains("kie/sora-2"), "{message}");
        assert_eq!(details["field"], "aspect_ratio");
        assert_eq!(details["offered_by"], json!(["kie/sora-2"]));
        assert!(check_offered(&models, &models[1], &json!({ "prompt": "x", "size": "720x1280" })).is_ok());
        assert!(check_offered(&models, &models[1], &json!({ "nonsense": 1 })).is_ok(), "left to the service");
    }
}
