//! How provider key values appear in responses: never in full.
//!
//! A literal value shows at most its first 4 characters (only when it is long enough that they
//! reveal little) followed by `…(redacted)`; an `env.VAR` reference is shown as it is, since it
//! names a variable and is not the secret. Sending a redacted value back unchanged in a PUT keeps
//! the stored key, so a client may GET, edit and PUT a provider.

use sluice_core::{ProviderConfig, Secret};

use super::error::ApiError;

const SUFFIX: &str = "…(redacted)";
/// Values shorter than this show no prefix at all.
const MIN_LEN_FOR_PREFIX: usize = 16;

pub(crate) fn redact(value: &Secret) -> String {
    if value.env_reference().is_some() {
        return value.expose().to_string();
    }
    let v = value.expose();
    let prefix: String = if v.chars().count() >= MIN_LEN_FOR_PREFIX {
        v.chars().take(4).collect()
    } else {
        String::new()
    };
    format!("{prefix}{SUFFIX}")
}

/// `provider` with every key value redacted.
pub(crate) fn redacted(provider: &ProviderConfig) -> ProviderConfig {
    let mut out = provider.clone();
    for key in &mut out.keys {
        key.value = Secret::new(redact(&key.value));
    }
    out
}

/// Replaces values that are the redaction of the stored key of the same name by the stored
/// value; refuses any other redacted-looking value (it would store the placeholder as the key).
pub(crate) fn restore(
    provider: &mut ProviderConfig,
    stored: Option<&ProviderConfig>,
) -> Result<(), ApiError> {
    for (i, key) in provider.keys.iter_mut().enumerate() {
        if !key.value.expose().ends_with(SUFFIX) {
            continue;
        }
        let original = stored
            .and_then(|s| s.keys.iter().find(|k| k.name == key.name))
            .filter(|k| redact(&k.value) == key.value.expose());
        match original {
            Some(k) => key.value = k.value.clone(),
            None => {
                return Err(ApiError::invalid(
                    &format!("keys[{i}].value"),
                    "is a redacted placeholder that matches no stored key of this name; send the real key value",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_show_four_characters_short_ones_none_env_references_all() {
        assert_eq!(
            redact(&Secret::new("sk-proj-abcdefghijklmnop")),
            "sk-p…(redacted)"
        );
        assert_eq!(redact(&Secret::new("sk-1...")), "…(redacted)");
        assert_eq!(
            redact(&Secret::new("env.OPENAI_API_KEY")),
            "env.OPENAI_API_KEY"
        );
    }
}
