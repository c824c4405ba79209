//! Which provider serves which model, for routing bare model names through a virtual key's
//! `provider_configs`. A stand-in until the shipped price table (governance issue) becomes the
//! catalog: model families by name prefix for the big providers, the configured `models` list
//! for everyone else.

/// Model-name prefixes of the built-in providers whose model families are stable.
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "openai",
        &[
            "gpt-",
            "chatgpt-",
            "o1",
            "o3",
            "o4",
            "text-embedding-",
            "davinci",
            "babbage",
        ],
    ),
    ("anthropic", &["claude-"]),
];

/// Whether provider `name` (with its configured model list) serves `model`.
pub fn provider_serves(name: &str, configured_models: &[String], model: &str) -> bool {
    if configured_models.iter().any(|m| m == model) {
        return true;
    }
    FAMILIES
        .iter()
        .find(|(p, _)| *p == name)
        .is_some_and(|(_, prefixes)| prefixes.iter().any(|pre| model.starts_with(pre)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_route_by_prefix() {
        assert!(provider_serves("openai", &[], "gpt-4o-mini"));
        assert!(!provider_serves("openai", &[], "claude-3-5-haiku-latest"));
        assert!(provider_serves("anthropic", &[], "claude-3-5-haiku-latest"));
        assert!(!provider_serves("anthropic", &[], "gpt-4o-mini"));
    }

    #[test]
    fn configured_list_is_authoritative_for_others() {
        let models = vec!["llama-3.1-8b".to_string()];
        assert!(provider_serves("groq", &models, "llama-3.1-8b"));
        assert!(!provider_serves("groq", &[], "llama-3.1-8b"));
    }
}
