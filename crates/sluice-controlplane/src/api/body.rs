//! Request bodies: parsed with serde_json ourselves (not axum's `Json`), so that every error is a
//! 400 in our error shape whose `param` is the path of the field at fault.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;

/// The top-level fields of a JSON object body.
pub(crate) type Fields = Map<String, Value>;

/// The body as a JSON object.
pub(crate) fn object(body: Result<Bytes, BytesRejection>) -> Result<Fields, ApiError> {
    let bytes = body.map_err(|e| ApiError::invalid_body(format!("cannot read the body: {e}")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(other) => Err(ApiError::invalid_body(format!(
            "the body must be a JSON object, not {}",
            kind_of(&other)
        ))),
        Err(e) => Err(ApiError::invalid_body(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// Removes field `name` (a string, or absent/null) from `fields`: for fields of the API that are
/// not part of the stored document (`id`, `value`, `provider`).
pub(crate) fn take_string(fields: &mut Fields, name: &str) -> Result<Option<String>, ApiError> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::invalid(
            name,
            format!("must be a string, not {}", kind_of(&other)),
        )),
    }
}

/// An `"id"` in a PUT/PATCH body is allowed only if it repeats the path's; removes it.
pub(crate) fn check_path_id(fields: &mut Fields, id: &str) -> Result<(), ApiError> {
    match take_string(fields, "id")? {
        Some(in_body) if in_body != id => Err(ApiError::invalid(
            "id",
            format!("'{in_body}' differs from the id in the path, '{id}'"),
        )),
        _ => Ok(()),
    }
}

/// `base` (the stored document) with every top-level field of `patch` applied: a present field
/// replaces the stored one, `null` clears it back to its default, an absent one is kept.
pub(crate) fn overlay<T: Serialize>(base: Option<&T>, patch: Fields) -> Result<Fields, ApiError> {
    let mut doc = match base.map(serde_json::to_value).transpose() {
        Ok(Some(Value::Object(m))) => m,
        Ok(_) => Map::new(),
        Err(e) => return Err(ApiError::invalid_body(format!("cannot merge: {e}"))),
    };
    for (k, v) in patch {
        if v.is_null() {
            doc.remove(&k);
        } else {
            doc.insert(k, v);
        }
    }
    Ok(doc)
}

/// Deserialises a document; a type error, unknown or missing field becomes a 400 naming it.
pub(crate) fn parse<T: DeserializeOwned>(doc: Fields) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Value::Object(doc)).map_err(|e| {
        let mut param = e.path().to_string();
        let message = e.inner().to_string();
        // serde reports missing (and some unknown) fields at the enclosing struct; name the
        // field itself.
        for prefix in ["unknown field `", "missing field `"] {
            if let Some(field) = message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
            {
                let named = param == field || param.ends_with(&format!(".{field}"));
                if param == "." {
                    param = field.to_string();
                } else if !named {
                    param = format!("{param}.{field}");
                }
            }
        }
        if param == "." {
            return ApiError::invalid_body(message);
        }
        ApiError::invalid(&param, message)
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::governance::TeamConfig;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn param_of(v: Value) -> Option<String> {
        let e = parse::<TeamConfig>(fields(v)).unwrap_err();
        e.param().map(str::to_string)
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        assert_eq!(
            param_of(serde_json::json!({"name": "t", "colour": "red"})).as_deref(),
            Some("colour")
        );
        assert_eq!(param_of(serde_json::json!({})).as_deref(), Some("name"));
        assert_eq!(
            param_of(serde_json::json!({"name": "t", "rate_limit": {"request_max_limit": -1}}))
                .as_deref(),
            Some("rate_limit.request_max_limit")
        );
        assert_eq!(
            param_of(
                serde_json::json!({"name": "t", "budget": {"max_limit": 1, "reset_duration": "1q"}})
            )
            .as_deref(),
            Some("budget.reset_duration")
        );
        assert_eq!(
            param_of(serde_json::json!({"name": "t", "rate_limit": {"oops": 1}})).as_deref(),
            Some("rate_limit.oops")
        );
    }

    #[test]
    fn overlay_replaces_present_fields_keeps_absent_ones_and_clears_nulls() {
        let base = serde_json::json!({"name": "a", "customer_id": "c", "budget": {"max_limit": 1.0, "reset_duration": "1M"}});
        let patch = fields(serde_json::json!({"name": "b", "customer_id": null}));
        let merged = overlay(Some(&base), patch).unwrap();
        assert_eq!(
            Value::Object(merged),
            serde_json::json!({"name": "b", "budget": {"max_limit": 1.0, "reset_duration": "1M"}})
        );
    }
}
