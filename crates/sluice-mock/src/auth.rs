//! Who is calling: the key from `Authorization: Bearer KEY` (OpenAI routes) or `x-api-key`
//! (Anthropic, which also insists on `anthropic-version`). The key is the identity for limits
//! and stats.

use http::HeaderMap;

use crate::config::MockConfig;
use crate::error::ApiError;
use crate::headers::Wire;
use crate::reply::key_label;

/// The caller's key, or `""` when auth is off and none was sent.
pub(crate) fn identify<'h>(
    wire: Wire,
    headers: &'h HeaderMap,
    config: &MockConfig,
) -> Result<&'h str, ApiError> {
    let key = match wire {
        Wire::OpenAi => bearer(headers),
        Wire::Anthropic => header(headers, "x-api-key"),
    };
    let key = match key {
        Some(key) => key,
        None if config.require_auth => return Err(ApiError::MissingKey),
        None => "",
    };
    if !key.is_empty()
        && !config.allowed_keys.is_empty()
        && !config.allowed_keys.iter().any(|k| k == key)
    {
        return Err(ApiError::InvalidKey(format!("{}****", key_label(key))));
    }
    // Checked after the key, as the real API does: an unauthenticated caller learns nothing.
    if wire == Wire::Anthropic && header(headers, "anthropic-version").is_none() {
        return Err(ApiError::MissingVersion);
    }
    Ok(key)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = header(headers, "authorization")?;
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn openai_key_comes_from_the_bearer_token() {
        let h = headers(&[("authorization", "Bearer sk-one")]);
        let config = MockConfig::default();
        assert_eq!(identify(Wire::OpenAi, &h, &config).unwrap(), "sk-one");
        let h = headers(&[("authorization", "Basic abc")]);
        assert!(matches!(
            identify(Wire::OpenAi, &h, &config),
            Err(ApiError::MissingKey)
        ));
    }

    #[test]
    fn anthropic_needs_a_key_and_a_version() {
        let config = MockConfig::default();
        let h = headers(&[("anthropic-version", "2023-06-01")]);
        assert!(matches!(
            identify(Wire::Anthropic, &h, &config),
            Err(ApiError::MissingKey)
        ));
        let h = headers(&[("x-api-key", "sk-ant")]);
        assert!(matches!(
            identify(Wire::Anthropic, &h, &config),
            Err(ApiError::MissingVersion)
        ));
        let h = headers(&[("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")]);
        assert_eq!(identify(Wire::Anthropic, &h, &config).unwrap(), "sk-ant");
    }

    #[test]
    fn without_required_auth_a_missing_key_is_the_empty_identity() {
        let config = MockConfig {
            require_auth: false,
            ..MockConfig::default()
        };
        assert_eq!(
            identify(Wire::OpenAi, &HeaderMap::new(), &config).unwrap(),
            ""
        );
    }

    #[test]
    fn keys_outside_the_allow_list_are_invalid() {
        let config = MockConfig {
            allowed_keys: vec!["sk-good".into()],
            ..MockConfig::default()
        };
        let h = headers(&[("authorization", "Bearer sk-good")]);
        assert!(identify(Wire::OpenAi, &h, &config).is_ok());
        let h = headers(&[("authorization", "Bearer sk-bad-key-value")]);
        let Err(ApiError::InvalidKey(shown)) = identify(Wire::OpenAi, &h, &config) else {
            panic!("expected an invalid key");
        };
        assert_eq!(shown, "sk-bad-k****");
    }
}
