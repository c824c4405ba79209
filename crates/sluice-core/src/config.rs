//! The one typed configuration schema: file (TOML), `SLUICE_*` environment, and (later) the
//! control plane's store all produce a [`Config`]. [`Config::validate`] names the offending field.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The whole gateway configuration.
///
/// ```
/// let cfg: sluice_core::Config = serde_json::from_str(r#"{
///   "providers": {"openai": {"keys": [{"name": "k1", "value": "env.OPENAI_API_KEY"}]}}
/// }"#).unwrap();
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    /// Providers by name: a built-in (`openai`, `anthropic`, `groq`, ...) or a custom name with
    /// `base_provider_type` and `network_config.base_url`.
    pub providers: BTreeMap<String, ProviderConfig>,
    pub mock: MockProviderSwitch,
    pub dispatch: DispatchConfig,
    pub governance: crate::governance::GovernanceConfig,
    /// Price overrides and what to do with models that have no price.
    pub pricing: crate::pricing::PricingConfig,
    /// The request log: whether data planes ship one record per request, and how long the
    /// control plane keeps them.
    pub logs: LogsConfig,
}

/// `[logs]`: the request log (see docs/observability.md). Records are best-effort: a data plane
/// drops them (and counts it) rather than slow or fail a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Ship and store one record per request.
    pub enabled: bool,
    /// Records older than this many days are deleted by the control plane (1 to 3650).
    pub retention_days: u32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            enabled: true,
            retention_days: 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Largest accepted request body; a larger one is answered 413.
    pub max_body_bytes: usize,
    /// Whole-request deadline (all attempts, retries and fallbacks included), unless a provider's
    /// `network_config.timeout_ms` is shorter for one attempt.
    pub request_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout_ms: 600_000,
        }
    }
}

/// Whether the built-in mock provider `mock` is offered (`sluice serve` only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MockProviderSwitch {
    pub enabled: bool,
}

impl Default for MockProviderSwitch {
    fn default() -> Self {
        MockProviderSwitch { enabled: true }
    }
}

/// Process-wide dispatch policy (per-provider retry settings live in `network_config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Retries may be at most this fraction of requests (over a sliding window), so an outage
    /// does not become a retry storm.
    pub retry_budget_ratio: f64,
    /// Retries always allowed per second regardless of the ratio (so a quiet gateway can retry).
    pub retry_budget_min_per_sec: u32,
    /// Consecutive failures that open a key's (or provider's) circuit breaker.
    pub breaker_failure_threshold: u32,
    /// How long an open breaker stays open before a half-open probe.
    pub breaker_open_ms: u64,
    /// Cooldown for a 429 that carries no `retry-after` or reset header.
    pub default_cooldown_ms: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            retry_budget_ratio: 0.2,
            retry_budget_min_per_sec: 10,
            breaker_failure_threshold: 5,
            breaker_open_ms: 30_000,
            default_cooldown_ms: 1_000,
        }
    }
}

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI and every OpenAI-compatible upstream.
    Openai,
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// Required for a custom provider name; a built-in name implies it.
    pub base_provider_type: Option<ProviderKind>,
    pub keys: Vec<KeyConfig>,
    pub network_config: NetworkConfig,
    /// Models listed by `GET /v1/models` for this provider (informational; any model is routed).
    pub models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Shown in logs and `x-sluice-key`; never the value.
    pub name: String,
    /// The key itself, or `env.VAR_NAME` to read it from the environment at snapshot build.
    pub value: Secret,
    /// Relative share of traffic among the keys that can serve a model.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Models this key serves; empty means all.
    #[serde(default)]
    pub models: Vec<String>,
}

fn default_weight() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Overrides the provider's default base URL (`https://api.openai.com/v1`, ...).
    pub base_url: Option<String>,
    /// Deadline of one upstream attempt, headers and body.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Retries of one target (provider/model) after the first attempt, before failing over.
    pub max_retries: u32,
    #[serde(alias = "retry_backoff_initial")]
    pub retry_backoff_initial_ms: u64,
    #[serde(alias = "retry_backoff_max")]
    pub retry_backoff_max_ms: u64,
    /// Headers added to every upstream request of this provider.
    pub extra_headers: BTreeMap<String, String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            base_url: None,
            timeout_ms: 300_000,
            connect_timeout_ms: 10_000,
            max_retries: 2,
            retry_backoff_initial_ms: 250,
            retry_backoff_max_ms: 10_000,
            extra_headers: BTreeMap::new(),
        }
    }
}

/// A secret string: provider key values. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The raw value: only for building the upstream request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `Some("VAR")` for an `env.VAR` reference.
    pub fn env_reference(&self) -> Option<&str> {
        self.0.strip_prefix("env.")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.env_reference() {
            Some(var) => write!(f, "Secret(env.{var})"),
            None => f.write_str("Secret(***)"),
        }
    }
}

/// A configuration error naming the field at fault, e.g. `providers.openai.keys[1].weight`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A built-in provider: its wire format, default base URL and the environment variables the
/// official SDKs read for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderPreset {
    pub name: &'static str,
    pub kind: ProviderKind,
    pub base_url: &'static str,
    /// Env var holding the API key (`OPENAI_API_KEY`).
    pub api_key_env: &'static str,
    /// Env var overriding the base URL (`OPENAI_BASE_URL`).
    pub base_url_env: &'static str,
    /// Local servers (ollama, vllm) accept requests without a key.
    pub key_optional: bool,
}

/// Built-in providers. Anthropic's base URL has no `/v1`, as its SDK's `ANTHROPIC_BASE_URL`.
pub const PRESETS: &[ProviderPreset] = &[
    preset(
        "openai",
        ProviderKind::Openai,
        "https://api.openai.com/v1",
        "OPENAI",
        false,
    ),
    preset(
        "anthropic",
        ProviderKind::Anthropic,
        "https://api.anthropic.com",
        "ANTHROPIC",
        false,
    ),
    preset(
        "groq",
        ProviderKind::Openai,
        "https://api.groq.com/openai/v1",
        "GROQ",
        false,
    ),
    preset(
        "mistral",
        ProviderKind::Openai,
        "https://api.mistral.ai/v1",
        "MISTRAL",
        false,
    ),
    preset(
        "together",
        ProviderKind::Openai,
        "https://api.together.xyz/v1",
        "TOGETHER",
        false,
    ),
    preset(
        "deepseek",
        ProviderKind::Openai,
        "https://api.deepseek.com/v1",
        "DEEPSEEK",
        false,
    ),
    preset(
        "xai",
        ProviderKind::Openai,
        "https://api.x.ai/v1",
        "XAI",
        false,
    ),
    preset(
        "openrouter",
        ProviderKind::Openai,
        "https://openrouter.ai/api/v1",
        "OPENROUTER",
        false,
    ),
    preset(
        "ollama",
        ProviderKind::Openai,
        "http://localhost:11434/v1",
        "OLLAMA",
        true,
    ),
    preset(
        "vllm",
        ProviderKind::Openai,
        "http://localhost:8000/v1",
        "VLLM",
        true,
    ),
];

const fn preset(
    name: &'static str,
    kind: ProviderKind,
    base_url: &'static str,
    env_stem: &'static str,
    key_optional: bool,
) -> ProviderPreset {
    // Env names are spelled out below; `env_stem` only documents the pattern STEM_API_KEY.
    let _ = env_stem;
    ProviderPreset {
        name,
        kind,
        base_url,
        api_key_env: api_key_env(name),
        base_url_env: base_url_env(name),
        key_optional,
    }
}

const fn api_key_env(name: &str) -> &'static str {
    match name.as_bytes() {
        b"openai" => "OPENAI_API_KEY",
        b"anthropic" => "ANTHROPIC_API_KEY",
        b"groq" => "GROQ_API_KEY",
        b"mistral" => "MISTRAL_API_KEY",
        b"together" => "TOGETHER_API_KEY",
        b"deepseek" => "DEEPSEEK_API_KEY",
        b"xai" => "XAI_API_KEY",
        b"openrouter" => "OPENROUTER_API_KEY",
        b"ollama" => "OLLAMA_API_KEY",
        b"vllm" => "VLLM_API_KEY",
        _ => "",
    }
}

const fn base_url_env(name: &str) -> &'static str {
    match name.as_bytes() {
        b"openai" => "OPENAI_BASE_URL",
        b"anthropic" => "ANTHROPIC_BASE_URL",
        b"groq" => "GROQ_BASE_URL",
        b"mistral" => "MISTRAL_BASE_URL",
        b"together" => "TOGETHER_BASE_URL",
        b"deepseek" => "DEEPSEEK_BASE_URL",
        b"xai" => "XAI_BASE_URL",
        b"openrouter" => "OPENROUTER_BASE_URL",
        b"ollama" => "OLLAMA_BASE_URL",
        b"vllm" => "VLLM_BASE_URL",
        _ => "",
    }
}

/// The preset of a built-in provider name.
pub fn preset_for(name: &str) -> Option<&'static ProviderPreset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Config {
    /// Checks every field; the error names the first one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be greater than 0",
            ));
        }
        if self.server.request_timeout_ms == 0 {
            return Err(ConfigError::new(
                "server.request_timeout_ms",
                "must be greater than 0",
            ));
        }
        let d = &self.dispatch;
        if !(0.0..=1.0).contains(&d.retry_budget_ratio) || d.retry_budget_ratio.is_nan() {
            return Err(ConfigError::new(
                "dispatch.retry_budget_ratio",
                "must be between 0 and 1",
            ));
        }
        if d.breaker_failure_threshold == 0 {
            return Err(ConfigError::new(
                "dispatch.breaker_failure_threshold",
                "must be at least 1",
            ));
        }
        for (name, p) in &self.providers {
            p.validate(name)?;
        }
        self.pricing.validate()?;
        if !(1..=3650).contains(&self.logs.retention_days) {
            return Err(ConfigError::new(
                "logs.retention_days",
                "must be between 1 and 3650",
            ));
        }
        self.governance
            .validate(&|p| self.providers.contains_key(p) || preset_for(p).is_some())
    }

    /// The wire format of provider `name`, from its config or its preset.
    pub fn provider_kind(&self, name: &str) -> Option<ProviderKind> {
        self.providers
            .get(name)
            .and_then(|p| p.base_provider_type)
            .or_else(|| preset_for(name).map(|p| p.kind))
    }
}

impl ProviderConfig {
    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let at = |f: &str| format!("providers.{name}.{f}");
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
            return Err(ConfigError::new(
                format!("providers.{name:?}"),
                "provider names must be non-empty, without '/' or spaces",
            ));
        }
        let preset = preset_for(name);
        if preset.is_none() && self.base_provider_type.is_none() {
            return Err(ConfigError::new(
                at("base_provider_type"),
                format!(
                    "'{name}' is not a built-in provider; set base_provider_type (\"openai\" or \"anthropic\") and network_config.base_url"
                ),
            ));
        }
        if preset.is_none() && self.network_config.base_url.is_none() {
            return Err(ConfigError::new(
                at("network_config.base_url"),
                format!("custom provider '{name}' needs a base_url"),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, k) in self.keys.iter().enumerate() {
            let kf = |f: &str| at(&format!("keys[{i}].{f}"));
            if k.name.trim().is_empty() {
                return Err(ConfigError::new(kf("name"), "must not be empty"));
            }
            if !names.insert(k.name.as_str()) {
                return Err(ConfigError::new(
                    kf("name"),
                    format!("duplicate key name '{}'", k.name),
                ));
            }
            if !(k.weight.is_finite() && k.weight > 0.0) {
                return Err(ConfigError::new(
                    kf("weight"),
                    "must be a number greater than 0",
                ));
            }
            if k.value.expose().is_empty() {
                return Err(ConfigError::new(kf("value"), "must not be empty"));
            }
            if let Some(var) = k.value.env_reference()
                && var.is_empty()
            {
                return Err(ConfigError::new(kf("value"), "'env.' must name a variable"));
            }
        }
        self.network_config.validate(&at("network_config"))
    }
}

impl NetworkConfig {
    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if let Some(url) = &self.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                format!("{at}.base_url"),
                format!("'{url}' must start with http:// or https://"),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::new(
                format!("{at}.timeout_ms"),
                "must be greater than 0",
            ));
        }
        if self.connect_timeout_ms == 0 {
            return Err(ConfigError::new(
                format!("{at}.connect_timeout_ms"),
                "must be greater than 0",
            ));
        }
        if self.retry_backoff_initial_ms > self.retry_backoff_max_ms {
            return Err(ConfigError::new(
                format!("{at}.retry_backoff_initial_ms"),
                "must not exceed retry_backoff_max_ms",
            ));
        }
        for (h, v) in &self.extra_headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if h.is_empty() || !h.chars().all(token) {
                return Err(ConfigError::new(
                    format!("{at}.extra_headers.{h}"),
                    "is not a valid HTTP header name",
                ));
            }
            if v.chars().any(|c| c == '\r' || c == '\n') {
                return Err(ConfigError::new(
                    format!("{at}.extra_headers.{h}"),
                    "value must not contain line breaks",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn bifrost_backoff_spellings_are_aliases() {
        let c = parse(
            r#"{"providers":{"openai":{"network_config":{"retry_backoff_initial":5,"retry_backoff_max":50}}}}"#,
        );
        let n = &c.providers["openai"].network_config;
        assert_eq!(
            (n.retry_backoff_initial_ms, n.retry_backoff_max_ms),
            (5, 50)
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e =
            serde_json::from_str::<Config>(r#"{"providers":{"openai":{"keyz":[]}}}"#).unwrap_err();
        assert!(e.to_string().contains("keyz"), "{e}");
    }

    #[test]
    fn bad_weight_names_the_field() {
        let c = parse(r#"{"providers":{"openai":{"keys":[{"name":"a","value":"x","weight":0}]}}}"#);
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "providers.openai.keys[0].weight");
    }

    #[test]
    fn custom_provider_needs_type_and_base_url() {
        let c = parse(r#"{"providers":{"local":{"network_config":{"base_url":"http://x"}}}}"#);
        assert_eq!(
            c.validate().unwrap_err().field,
            "providers.local.base_provider_type"
        );
        let c = parse(r#"{"providers":{"local":{"base_provider_type":"openai"}}}"#);
        assert_eq!(
            c.validate().unwrap_err().field,
            "providers.local.network_config.base_url"
        );
    }

    #[test]
    fn secret_debug_never_shows_value() {
        assert_eq!(format!("{:?}", Secret::new("sk-123")), "Secret(***)");
        assert_eq!(format!("{:?}", Secret::new("env.K")), "Secret(env.K)");
    }

    #[test]
    fn every_preset_has_env_names() {
        for p in PRESETS {
            assert!(p.api_key_env.ends_with("_API_KEY"), "{}", p.name);
            assert!(p.base_url_env.ends_with("_BASE_URL"), "{}", p.name);
        }
    }
}
