//! The built-in mock provider `mock` of `sluice serve`: a `sluice mock` running inside the process,
//! offered as an OpenAI-compatible provider so a gateway with no provider key still answers.
//!
//! The provider is stored like any other (so virtual keys may reference it), but the mock's port
//! is new at every start. So the store keeps a placeholder base URL that cannot resolve, and
//! `sluice serve` points that placeholder at the running mock each time it builds a snapshot.
//! A `mock` provider with any other base URL is the user's own and is left alone.

use anyhow::{Context, Result};
use sluice_core::Config;
use sluice_core::config::{KeyConfig, ProviderConfig, ProviderKind, Secret};

/// The placeholder base URL of the built-in mock in the store (`.invalid` never resolves, so it
/// fails loudly if it ever reaches a process without the mock).
pub const PLACEHOLDER_BASE_URL: &str = "http://builtin-mock.sluice.invalid/v1";

const NAME: &str = "mock";

/// Adds the built-in mock (with the placeholder address) to a config that enables it and has
/// no provider of that name.
pub fn add_to(config: &mut Config) {
    if config.mock.enabled && !config.providers.contains_key(NAME) {
        config
            .providers
            .insert(NAME.into(), provider(PLACEHOLDER_BASE_URL));
    }
}

/// Whether `config` offers the built-in mock, so the process must run it.
pub fn wanted(config: &Config) -> bool {
    config.mock.enabled
        && config
            .providers
            .get(NAME)
            .is_some_and(|p| p.network_config.base_url.as_deref() == Some(PLACEHOLDER_BASE_URL))
}

/// Points the placeholder at the running mock (`base_url` without `/v1`).
pub fn point_at(config: &mut Config, base_url: &str) {
    if let Some(p) = config.providers.get_mut(NAME)
        && p.network_config.base_url.as_deref() == Some(PLACEHOLDER_BASE_URL)
    {
        p.network_config.base_url = Some(format!("{base_url}/v1"));
    }
}

/// Starts the mock on a free loopback port.
pub async fn start() -> Result<sluice_mock::MockServer> {
    let mock = sluice_mock::MockServer::start(
        "127.0.0.1:0".parse().expect("literal address"),
        sluice_mock::MockConfig::default(),
    )
    .await
    .context("could not start the built-in mock provider")?;
    tracing::info!(base_url = %mock.base_url(), "built-in mock provider 'mock' is on (mock.enabled = false turns it off)");
    Ok(mock)
}

fn provider(base_url: &str) -> ProviderConfig {
    let mut provider = ProviderConfig {
        base_provider_type: Some(ProviderKind::Openai),
        keys: vec![KeyConfig {
            name: "mock-key".into(),
            value: Secret::new("sk-sluice-mock"),
            weight: 1.0,
            models: Vec::new(),
        }],
        models: vec![
            "gpt-4o-mini".into(),
            "gpt-4o".into(),
            "text-embedding-3-small".into(),
        ],
        ..Default::default()
    };
    provider.network_config.base_url = Some(base_url.to_string());
    provider
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_is_added_then_pointed_at_the_running_mock() {
        let mut config = Config::default();
        add_to(&mut config);
        assert!(wanted(&config));
        config.validate().unwrap();
        point_at(&mut config, "http://127.0.0.1:4321");
        let url = config.providers[NAME].network_config.base_url.as_deref();
        assert_eq!(url, Some("http://127.0.0.1:4321/v1"));
    }

    #[test]
    fn a_users_own_mock_provider_is_left_alone() {
        let mut config = Config::default();
        let mut own = provider("http://10.0.0.9:9090/v1");
        own.keys.clear();
        config.providers.insert(NAME.into(), own.clone());
        add_to(&mut config);
        assert!(!wanted(&config));
        point_at(&mut config, "http://127.0.0.1:4321");
        assert_eq!(config.providers[NAME], own);
    }

    #[test]
    fn a_disabled_mock_is_not_added_nor_wanted() {
        let mut config = Config::default();
        config.mock.enabled = false;
        add_to(&mut config);
        assert!(config.providers.is_empty());
        config
            .providers
            .insert(NAME.into(), provider(PLACEHOLDER_BASE_URL));
        assert!(!wanted(&config));
    }
}
