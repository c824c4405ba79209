//! The mock's knobs: one serde struct, set from CLI flags at start and merged at run time by
//! `POST /mock/config` (RFC 7396 JSON merge patch: only the fields present change, `null` resets
//! a field to its default).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// Everything the mock can be told to do. `0` or `null` turns a limit or fault off.
///
/// ```
/// use sluice_mock::MockConfig;
///
/// let config = MockConfig::default()
///     .merged(&serde_json::json!({"requests_per_minute": 3, "keys": {"sk-slow": {"latency_ms": 200}}}))
///     .unwrap();
/// assert_eq!(config.requests_per_minute, Some(3));
/// assert_eq!(config.keys["sk-slow"].latency_ms, Some(200));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockConfig {
    /// Inference requests must carry a key (`Authorization: Bearer KEY` on OpenAI routes,
    /// `x-api-key` on `/v1/messages`). When false, a request without one is served as key `""`.
    pub require_auth: bool,
    /// When non-empty, only these keys are accepted; any other gets a 401 (invalid key).
    pub allowed_keys: Vec<String>,
    /// Requests per key in any rolling 60 s window (`None`/0 = unlimited).
    pub requests_per_minute: Option<u64>,
    /// Prompt + completion tokens per key in any rolling 60 s window (`None`/0 = unlimited).
    pub tokens_per_minute: Option<u64>,
    /// Per-key overrides of the limits and faults above, by exact key value.
    pub keys: BTreeMap<String, KeyOverrides>,
    /// Delay before the response head (every admitted request, streaming or not).
    pub latency_ms: u64,
    /// Streams: delay from the response head to the first generated token.
    pub ttft_ms: u64,
    /// Streams: pace of the token events after the first (0 = as fast as possible).
    pub tokens_per_second: f64,
    /// Words in a text answer (one word = one completion token = one stream delta).
    pub output_tokens: u32,
    /// Cap on output words when the request sets no `max_tokens`.
    pub max_tokens_default: Option<u32>,
    /// Length of `/v1/embeddings` vectors when the request has no `dimensions`.
    pub embedding_dims: u32,
    /// Share of admitted inference requests answered with `error_status` instead (0..=1).
    /// Which requests fail is a fixed pseudo-random sequence, restarted by `POST /mock/reset`.
    pub error_rate: f64,
    /// Status of injected errors: 500, 503, 529 (Anthropic `overloaded_error`), 429, ...
    pub error_status: u16,
    /// Answer every authenticated inference request with this status (e.g. 429 "every key is
    /// limited", 503 "provider down").
    pub always_status: Option<u16>,
    /// `retry-after` seconds on injected 429/503/529 answers (`always_status`, `error_rate`).
    pub always_retry_after_s: u64,
    /// Streams: close the connection after this many SSE events, without `[DONE]` /
    /// `message_stop`.
    pub drop_stream_after_chunks: Option<u32>,
    /// What `GET /v1/models` lists (any model name is served regardless).
    pub models: Vec<String>,
}

/// Per-key overrides; an absent field inherits the global value, and `0` turns the limit or
/// fault off for this key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyOverrides {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub latency_ms: Option<u64>,
    pub error_rate: Option<f64>,
    pub error_status: Option<u16>,
    pub always_status: Option<u16>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            require_auth: true,
            allowed_keys: Vec::new(),
            requests_per_minute: None,
            tokens_per_minute: None,
            keys: BTreeMap::new(),
            latency_ms: 0,
            ttft_ms: 0,
            tokens_per_second: 0.0,
            output_tokens: 8,
            max_tokens_default: None,
            embedding_dims: 8,
            error_rate: 0.0,
            error_status: 500,
            always_status: None,
            always_retry_after_s: 1,
            drop_stream_after_chunks: None,
            models: [
                "gpt-4o-mini",
                "gpt-4o",
                "text-embedding-3-small",
                "claude-3-5-haiku-latest",
                "claude-sonnet-4-5",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// A config that cannot be applied; nothing of it was.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the config patch must be a JSON object, e.g. {{\"requests_per_minute\": 60}}")]
    NotAnObject,
    #[error("invalid mock config: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error("invalid mock config: `{field}` {problem}")]
    OutOfRange {
        field: String,
        problem: &'static str,
    },
}

impl MockConfig {
    /// This config with an RFC 7396 merge patch applied, validated.
    pub fn merged(&self, patch: &serde_json::Value) -> Result<MockConfig, ConfigError> {
        if !patch.is_object() {
            return Err(ConfigError::NotAnObject);
        }
        let mut value = serde_json::to_value(self)?;
        merge_patch(&mut value, patch);
        let config: MockConfig = serde_json::from_value(value)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |field: &str, problem: &'static str| ConfigError::OutOfRange {
            field: field.to_owned(),
            problem,
        };
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(range("error_rate", "must be between 0 and 1"));
        }
        if !self.tokens_per_second.is_finite() || self.tokens_per_second < 0.0 {
            return Err(range("tokens_per_second", "must be 0 or a positive number"));
        }
        if self.output_tokens == 0 {
            return Err(range("output_tokens", "must be at least 1"));
        }
        if !(1..=65_536).contains(&self.embedding_dims) {
            return Err(range("embedding_dims", "must be between 1 and 65536"));
        }
        if self.max_tokens_default == Some(0) {
            return Err(range("max_tokens_default", "must be at least 1"));
        }
        if !is_status(self.error_status) {
            return Err(range("error_status", "must be an HTTP status (100-599)"));
        }
        if self.always_status.is_some_and(|s| !is_status(s)) {
            return Err(range("always_status", "must be an HTTP status (100-599)"));
        }
        for (key, o) in &self.keys {
            let field = |name: &str| format!("keys.{key}.{name}");
            if o.error_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
                return Err(range(&field("error_rate"), "must be between 0 and 1"));
            }
            if o.error_status.is_some_and(|s| !is_status(s)) {
                return Err(range(
                    &field("error_status"),
                    "must be an HTTP status (100-599)",
                ));
            }
            if o.always_status.is_some_and(|s| s != 0 && !is_status(s)) {
                return Err(range(
                    &field("always_status"),
                    "must be an HTTP status (100-599), or 0 for none",
                ));
            }
        }
        Ok(())
    }

    /// The knobs that apply to one key: globals with that key's overrides on top.
    pub(crate) fn knobs(&self, key: &str) -> Knobs {
        let o = self.keys.get(key);
        let pick = |global: Option<u64>, over: Option<Option<u64>>| {
            over.flatten().or(global).filter(|&n| n > 0)
        };
        let per_token = if self.tokens_per_second > 0.0 {
            Duration::from_secs_f64(1.0 / self.tokens_per_second)
        } else {
            Duration::ZERO
        };
        Knobs {
            limits: Limits {
                requests: pick(self.requests_per_minute, o.map(|o| o.requests_per_minute)),
                tokens: pick(self.tokens_per_minute, o.map(|o| o.tokens_per_minute)),
            },
            latency: Duration::from_millis(o.and_then(|o| o.latency_ms).unwrap_or(self.latency_ms)),
            ttft: Duration::from_millis(self.ttft_ms),
            per_token,
            output_tokens: self.output_tokens,
            max_tokens_default: self.max_tokens_default,
            embedding_dims: self.embedding_dims,
            error_rate: o.and_then(|o| o.error_rate).unwrap_or(self.error_rate),
            error_status: o.and_then(|o| o.error_status).unwrap_or(self.error_status),
            always_status: match o.and_then(|o| o.always_status) {
                Some(0) => None,
                Some(s) => Some(s),
                None => self.always_status,
            },
            retry_after_s: self.always_retry_after_s,
            drop_after: self.drop_stream_after_chunks,
        }
    }
}

/// The resolved knobs for one request; copied out of the shared config so no guard is held
/// across the request's awaits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Knobs {
    pub limits: Limits,
    pub latency: Duration,
    pub ttft: Duration,
    pub per_token: Duration,
    pub output_tokens: u32,
    pub max_tokens_default: Option<u32>,
    pub embedding_dims: u32,
    pub error_rate: f64,
    pub error_status: u16,
    pub always_status: Option<u16>,
    pub retry_after_s: u64,
    pub drop_after: Option<u32>,
}

fn is_status(s: u16) -> bool {
    (100..=599).contains(&s)
}

/// RFC 7396: objects merge recursively, `null` removes, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    let serde_json::Value::Object(target) = target else {
        unreachable!("made an object above");
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            merge_patch(
                target
                    .entry(name.clone())
                    .or_insert(serde_json::Value::Null),
                value,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_changes_only_the_given_fields() {
        let base = MockConfig {
            latency_ms: 5,
            ..MockConfig::default()
        };
        let merged = base.merged(&json!({"requests_per_minute": 10})).unwrap();
        assert_eq!(merged.requests_per_minute, Some(10));
        assert_eq!(merged.latency_ms, 5);
    }

    #[test]
    fn null_in_patch_restores_the_default() {
        let base = MockConfig {
            always_status: Some(429),
            output_tokens: 3,
            ..MockConfig::default()
        };
        let merged = base
            .merged(&json!({"always_status": null, "output_tokens": null}))
            .unwrap();
        assert_eq!(merged.always_status, None);
        assert_eq!(merged.output_tokens, 8);
    }

    #[test]
    fn key_overrides_merge_per_key_and_null_removes_a_key() {
        let base = MockConfig::default()
            .merged(&json!({"keys": {"a": {"requests_per_minute": 1}, "b": {"latency_ms": 2}}}))
            .unwrap();
        let merged = base
            .merged(&json!({"keys": {"a": {"tokens_per_minute": 9}, "b": null}}))
            .unwrap();
        assert_eq!(merged.keys.len(), 1);
        assert_eq!(merged.keys["a"].requests_per_minute, Some(1));
        assert_eq!(merged.keys["a"].tokens_per_minute, Some(9));
    }

    #[test]
    fn unknown_fields_and_bad_ranges_are_rejected() {
        let base = MockConfig::default();
        assert!(base.merged(&json!({"requests_per_minit": 1})).is_err());
        assert!(base.merged(&json!({"error_rate": 1.5})).is_err());
        assert!(base.merged(&json!({"error_status": 42})).is_err());
        assert!(base.merged(&json!([1])).is_err());
    }

    #[test]
    fn key_overrides_win_and_zero_means_off() {
        let config = MockConfig::default()
            .merged(&json!({
                "requests_per_minute": 10, "always_status": 503,
                "keys": {"free": {"requests_per_minute": 0, "always_status": 0}, "slow": {"latency_ms": 7}}
            }))
            .unwrap();
        let free = config.knobs("free");
        assert_eq!(free.limits.requests, None);
        assert_eq!(free.always_status, None);
        let slow = config.knobs("slow");
        assert_eq!(slow.limits.requests, Some(10));
        assert_eq!(slow.latency, Duration::from_millis(7));
        assert_eq!(slow.always_status, Some(503));
    }

    #[test]
    fn zero_global_limit_is_unlimited() {
        let config = MockConfig {
            requests_per_minute: Some(0),
            ..MockConfig::default()
        };
        assert!(config.knobs("k").limits.is_unlimited());
    }
}
