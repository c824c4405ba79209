//! The immutable, lookup-ready form of a [`Config`]: presets applied, `env.VAR` references and
//! zero-config environment keys resolved, keys indexed. Built once per config change; the data
//! plane swaps it in atomically and reads it without locks.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{
    Config, ConfigError, DispatchConfig, NetworkConfig, PRESETS, ProviderKind, ServerConfig,
    preset_for,
};
use crate::governance::{DEFAULT_MAX_OUTPUT_TOKENS, GovernanceConfig, VirtualKeyConfig};
use crate::limits::{LimitSpec, Scope};
use crate::pricing::{PriceTable, UnknownModelPolicy};

/// A resolved configuration, ready for the hot path.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Monotonic version: a data plane ignores a snapshot older than the one it serves.
    pub version: u64,
    pub server: ServerConfig,
    pub dispatch: DispatchConfig,
    providers: HashMap<String, Arc<ProviderEntry>>,
    /// Built-in providers that have no key: their name → the env var that would enable them.
    keyless_presets: HashMap<&'static str, &'static str>,
    /// Virtual keys by the SHA-256 (hex) of their credential.
    virtual_keys: HashMap<String, Arc<VirtualKeyEntry>>,
    /// Whether a request without a (known) virtual key is refused.
    pub require_virtual_key: bool,
    /// Output tokens reserved for requests without `max_tokens`.
    pub default_max_output_tokens: u64,
    /// The shipped price table with the config's overrides.
    pub prices: Arc<PriceTable>,
    /// What a model without a price costs.
    pub unknown_model: UnknownModelPolicy,
    /// Whether one request-log record per request is shipped (`[logs] enabled`).
    pub request_log: bool,
    team_customers: HashMap<String, String>,
}

/// A virtual key as authentication, routing and admission see it.
#[derive(Debug, Clone)]
pub struct VirtualKeyEntry {
    pub id: String,
    pub config: VirtualKeyConfig,
    /// Every limit that applies to a request with this key, built once per snapshot: the key's
    /// own, its team's, its customer's (through the team or directly).
    pub charges: Vec<(Scope, LimitSpec)>,
    /// Per provider config (by provider name): its own limits.
    pub provider_limits: HashMap<String, (Scope, LimitSpec)>,
}

/// SHA-256 (lowercase hex) of a virtual key credential: how credentials are stored and looked up.
pub fn hash_credential(credential: &str) -> String {
    let digest = Sha256::digest(credential.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

/// One provider as the dispatch stage sees it.
#[derive(Debug, Clone)]
pub struct ProviderEntry {
    pub name: String,
    pub kind: ProviderKind,
    /// Without trailing slash.
    pub base_url: String,
    pub network: NetworkConfig,
    pub keys: Vec<KeyEntry>,
    pub models: Vec<String>,
}

/// A provider key with its value resolved.
#[derive(Clone)]
pub struct KeyEntry {
    pub name: String,
    /// `None` for keyless local servers (ollama, vllm) configured without a key.
    pub value: Option<String>,
    pub weight: f64,
    /// Empty: serves every model.
    pub models: Vec<String>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("name", &self.name)
            .field("weight", &self.weight)
            .field("models", &self.models)
            .finish_non_exhaustive()
    }
}

impl KeyEntry {
    pub fn serves(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }
}

/// Why a provider name cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderLookupError {
    /// A built-in provider with no key: set this environment variable.
    MissingKey {
        provider: String,
        env_var: &'static str,
    },
    Unknown {
        provider: String,
    },
}

impl Snapshot {
    /// Builds a snapshot. `env` reads environment variables (injected so tests need no process
    /// environment). Errors name the config field (`providers.openai.keys[0].value`).
    pub fn build(
        config: &Config,
        env: &dyn Fn(&str) -> Option<String>,
        version: u64,
    ) -> Result<Snapshot, ConfigError> {
        config.validate()?;
        let mut providers = HashMap::new();
        for (name, pc) in &config.providers {
            let preset = preset_for(name);
            let kind = pc
                .base_provider_type
                .or(preset.map(|p| p.kind))
                .ok_or_else(|| {
                    ConfigError::new(
                        format!("providers.{name}.base_provider_type"),
                        "required for a custom provider",
                    )
                })?;
            let base_url = pc
                .network_config
                .base_url
                .clone()
                .or_else(|| preset.and_then(|p| env(p.base_url_env)))
                .or_else(|| preset.map(|p| p.base_url.to_string()))
                .unwrap_or_default();
            let mut keys = Vec::with_capacity(pc.keys.len());
            for (i, k) in pc.keys.iter().enumerate() {
                let value = match k.value.env_reference() {
                    Some(var) => Some(env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                        ConfigError::new(
                            format!("providers.{name}.keys[{i}].value"),
                            format!("environment variable {var} is not set"),
                        )
                    })?),
                    None => Some(k.value.expose().to_string()),
                };
                keys.push(KeyEntry {
                    name: k.name.clone(),
                    value,
                    weight: k.weight,
                    models: k.models.clone(),
                });
            }
            if keys.is_empty() {
                if let Some(key) = preset
                    .and_then(|p| env(p.api_key_env))
                    .filter(|v| !v.is_empty())
                {
                    keys.push(env_key(key));
                } else if preset.is_some_and(|p| p.key_optional) || preset.is_none() {
                    // Local servers and custom upstreams may take requests without a key.
                    keys.push(KeyEntry {
                        name: "default".into(),
                        value: None,
                        weight: 1.0,
                        models: Vec::new(),
                    });
                }
            }
            if keys.is_empty() {
                continue;
            }
            providers.insert(
                name.clone(),
                Arc::new(ProviderEntry {
                    name: name.clone(),
                    kind,
                    base_url: base_url.trim_end_matches('/').to_string(),
                    network: pc.network_config.clone(),
                    keys,
                    models: pc.models.clone(),
                }),
            );
        }
        let mut keyless_presets = HashMap::new();
        for p in PRESETS {
            if providers.contains_key(p.name) {
                continue;
            }
            match env(p.api_key_env).filter(|v| !v.is_empty()) {
                Some(key) => {
                    let base_url = env(p.base_url_env).unwrap_or_else(|| p.base_url.to_string());
                    providers.insert(
                        p.name.to_string(),
                        Arc::new(ProviderEntry {
                            name: p.name.to_string(),
                            kind: p.kind,
                            base_url: base_url.trim_end_matches('/').to_string(),
                            network: NetworkConfig::default(),
                            keys: vec![env_key(key)],
                            models: Vec::new(),
                        }),
                    );
                }
                None => {
                    keyless_presets.insert(p.name, p.api_key_env);
                }
            }
        }
        let gov = &config.governance;
        let mut virtual_keys = HashMap::with_capacity(gov.virtual_keys.len());
        for (id, vk) in &gov.virtual_keys {
            let entry = virtual_key_entry(gov, id, vk)?;
            virtual_keys.insert(vk.value_hash.to_ascii_lowercase(), Arc::new(entry));
        }
        let prices = Arc::new(PriceTable::from_config(&config.pricing)?);
        let require_virtual_key = gov.require_virtual_key.unwrap_or(!virtual_keys.is_empty());
        Ok(Snapshot {
            version,
            server: config.server.clone(),
            dispatch: config.dispatch.clone(),
            providers,
            keyless_presets,
            virtual_keys,
            require_virtual_key,
            default_max_output_tokens: gov
                .default_max_output_tokens
                .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS),
            prices,
            unknown_model: config.pricing.unknown_model,
            request_log: config.logs.enabled,
            team_customers: gov
                .teams
                .iter()
                .filter_map(|(id, t)| Some((id.clone(), t.customer_id.clone()?)))
                .collect(),
        })
    }

    /// The provider called `name`, or why it cannot serve.
    pub fn provider(&self, name: &str) -> Result<&Arc<ProviderEntry>, ProviderLookupError> {
        if let Some(p) = self.providers.get(name) {
            return Ok(p);
        }
        match self.keyless_presets.get(name) {
            Some(env_var) => Err(ProviderLookupError::MissingKey {
                provider: name.to_string(),
                env_var,
            }),
            None => Err(ProviderLookupError::Unknown {
                provider: name.to_string(),
            }),
        }
    }

    /// The virtual key whose credential is `credential`.
    pub fn virtual_key(&self, credential: &str) -> Option<&Arc<VirtualKeyEntry>> {
        if self.virtual_keys.is_empty() {
            return None;
        }
        self.virtual_keys.get(&hash_credential(credential))
    }

    /// Every virtual key (in no particular order).
    pub fn virtual_keys(&self) -> impl Iterator<Item = &Arc<VirtualKeyEntry>> {
        self.virtual_keys.values()
    }

    /// The customer a team belongs to.
    pub fn team_customer(&self, team_id: &str) -> Option<&str> {
        self.team_customers.get(team_id).map(String::as_str)
    }

    /// All providers that can serve, sorted by name.
    pub fn providers(&self) -> Vec<&Arc<ProviderEntry>> {
        let mut v: Vec<_> = self.providers.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The providers whose configured model list names `model` (for bare model names).
    pub fn providers_listing(&self, model: &str) -> Vec<&Arc<ProviderEntry>> {
        let mut v: Vec<_> = self
            .providers
            .values()
            .filter(|p| p.models.iter().any(|m| m == model))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

/// The limits of a virtual key and of everything above it, resolved once per snapshot.
fn virtual_key_entry(
    gov: &GovernanceConfig,
    id: &str,
    vk: &VirtualKeyConfig,
) -> Result<VirtualKeyEntry, ConfigError> {
    let spec = |at: &str, rl, b| {
        LimitSpec::from_config(rl, b).map_err(|e| ConfigError::new(at, e.to_string()))
    };
    let at = format!("governance.virtual_keys.{id}");
    let mut charges = vec![(
        Scope::virtual_key(id),
        spec(&at, vk.rate_limit.as_ref(), vk.budget.as_ref())?,
    )];
    let mut customer_id = vk.customer_id.as_deref();
    if let Some(team_id) = vk.team_id.as_deref()
        && let Some(team) = gov.teams.get(team_id)
    {
        let at = format!("governance.teams.{team_id}");
        charges.push((
            Scope::team(team_id),
            spec(&at, team.rate_limit.as_ref(), team.budget.as_ref())?,
        ));
        customer_id = customer_id.or(team.customer_id.as_deref());
    }
    if let Some(cid) = customer_id
        && let Some(customer) = gov.customers.get(cid)
    {
        let at = format!("governance.customers.{cid}");
        charges.push((
            Scope::customer(cid),
            spec(&at, customer.rate_limit.as_ref(), customer.budget.as_ref())?,
        ));
    }
    let mut provider_limits = HashMap::new();
    for (i, pc) in vk.provider_configs.iter().enumerate() {
        let at = format!("{at}.provider_configs[{i}]");
        provider_limits.insert(
            pc.provider.clone(),
            (
                Scope::provider_config(id, &pc.provider),
                spec(&at, pc.rate_limit.as_ref(), pc.budget.as_ref())?,
            ),
        );
    }
    Ok(VirtualKeyEntry {
        id: id.to_string(),
        config: vk.clone(),
        charges,
        provider_limits,
    })
}

fn env_key(value: String) -> KeyEntry {
    KeyEntry {
        name: "env".into(),
        value: Some(value),
        weight: 1.0,
        models: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn openai_api_key_alone_makes_a_working_provider() {
        let s = Snapshot::build(
            &Config::default(),
            &env_of(&[("OPENAI_API_KEY", "sk-x")]),
            1,
        )
        .unwrap();
        let p = s.provider("openai").unwrap();
        assert_eq!(p.base_url, "https://api.openai.com/v1");
        assert_eq!(p.keys[0].value.as_deref(), Some("sk-x"));
    }

    #[test]
    fn base_url_env_is_honoured_like_the_sdks() {
        let s = Snapshot::build(
            &Config::default(),
            &env_of(&[
                ("ANTHROPIC_API_KEY", "k"),
                ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/"),
            ]),
            1,
        )
        .unwrap();
        assert_eq!(
            s.provider("anthropic").unwrap().base_url,
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn keyless_builtin_names_its_env_var() {
        let s = Snapshot::build(&Config::default(), &env_of(&[]), 1).unwrap();
        assert_eq!(
            s.provider("openai").unwrap_err(),
            ProviderLookupError::MissingKey {
                provider: "openai".into(),
                env_var: "OPENAI_API_KEY"
            }
        );
        assert!(matches!(
            s.provider("nope").unwrap_err(),
            ProviderLookupError::Unknown { .. }
        ));
    }

    #[test]
    fn missing_env_reference_names_the_key_field() {
        let cfg: Config = serde_json::from_str(
            r#"{"providers":{"openai":{"keys":[{"name":"a","value":"env.NOPE_KEY"}]}}}"#,
        )
        .unwrap();
        let e = Snapshot::build(&cfg, &env_of(&[]), 1).unwrap_err();
        assert_eq!(e.field, "providers.openai.keys[0].value");
        assert!(e.message.contains("NOPE_KEY"));
    }

    #[test]
    fn credential_hash_is_sha256_hex() {
        assert_eq!(
            hash_credential(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn virtual_keys_are_found_by_credential_and_make_keys_required() {
        let mut cfg = Config::default();
        cfg.governance.virtual_keys.insert(
            "vk-prod".into(),
            serde_json::from_value(serde_json::json!({"value_hash": hash_credential("vk-prod")}))
                .unwrap(),
        );
        let s = Snapshot::build(&cfg, &env_of(&[]), 1).unwrap();
        assert!(s.require_virtual_key);
        assert_eq!(s.virtual_key("vk-prod").unwrap().id, "vk-prod");
        assert!(s.virtual_key("vk-other").is_none());
    }

    #[test]
    fn custom_provider_without_keys_is_keyless() {
        let cfg: Config = serde_json::from_str(
            r#"{"providers":{"local":{"base_provider_type":"openai","network_config":{"base_url":"http://h/v1"}}}}"#,
        )
        .unwrap();
        let s = Snapshot::build(&cfg, &env_of(&[]), 1).unwrap();
        assert_eq!(s.provider("local").unwrap().keys[0].value, None);
    }
}

/// A config with the control plane's version number: what the control plane publishes after
/// each committed change and streams to data planes, which build a [`Snapshot`] from it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VersionedConfig {
    pub version: u64,
    pub config: Config,
}
