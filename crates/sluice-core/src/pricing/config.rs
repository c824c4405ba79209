//! The `pricing` section of the config: price overrides and what to do about models without a
//! price.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// List prices of one model in USD per 1M tokens (the unit every provider's price page uses).
///
/// ```
/// let p: sluice_core::pricing::ModelPrice =
///     serde_json::from_str(r#"{"input": 0.15, "output": 0.60, "cached_input": 0.075}"#).unwrap();
/// assert_eq!(p.cached_input, Some(0.075));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Completion tokens (reasoning tokens included, as providers bill them).
    pub output: f64,
    /// Prompt tokens read from the provider's prompt cache; unset: the `input` price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Prompt tokens written to the prompt cache (Anthropic); unset: the `input` price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// The date (`YYYY-MM-DD`) these prices were published or checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_date: Option<String>,
}

/// What the gateway does with a model the price table does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownModelPolicy {
    /// Cost 0 (budgets do not see it), with a warning in the log and a metric.
    #[default]
    Zero,
    /// Refuse requests for it whenever a budget applies, so no spending escapes a budget.
    Refuse,
}

/// The `pricing` config section.
///
/// ```
/// let cfg: sluice_core::pricing::PricingConfig = serde_json::from_str(r#"{
///   "overrides": {"openai/gpt-4o": {"input": 2.0, "output": 8.0}, "ollama/*": {"input": 0, "output": 0}},
///   "unknown_model": "refuse"
/// }"#).unwrap();
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PricingConfig {
    /// Prices replacing or adding to the shipped table, keyed `provider/model` (one provider),
    /// `provider/*` (every model of a provider, e.g. a self-hosted one) or a bare `model` (any
    /// provider serving a model of that name).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, ModelPrice>,
    pub unknown_model: UnknownModelPolicy,
}

impl PricingConfig {
    /// Checks every override; the error names the field (`pricing.overrides.gpt-4o.input`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        super::PriceTable::from_config(self).map(|_| ())
    }
}

impl ModelPrice {
    /// Checks every price is a finite, non-negative number; `at` is this entry's field path.
    pub(crate) fn validate(&self, at: &str) -> Result<(), ConfigError> {
        let fields = [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
        ];
        for (name, value) in fields {
            if let Some(v) = value
                && crate::limits::usd_to_micros(v).is_none()
            {
                return Err(ConfigError::new(
                    format!("{at}.{name}"),
                    "must be a non-negative number of USD per 1M tokens",
                ));
            }
        }
        if self
            .effective_date
            .as_deref()
            .is_some_and(|d| !is_iso_date(d))
        {
            return Err(ConfigError::new(
                format!("{at}.effective_date"),
                "must be a date like 2025-08-01",
            ));
        }
        Ok(())
    }
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}
