//! What a request costs: a price table shipped as data (`pricing/prices.json`, list prices per
//! 1M tokens with an effective date), overridable in config, and exact integer cost arithmetic.
//!
//! Prices are converted once to micro-USD per 1M tokens (`u64`), so a cost is
//!
//! ```text
//! cost_micros = ⌈(uncached_input × input + cached × cached_input + cache_write × cache_write
//!                 + completion × output) / 1 000 000⌉
//! ```
//!
//! computed in `u128` (no overflow, no float). Rounding up once per request means a request is
//! never under-charged and is over-charged by less than 1 micro-USD ($1 per million requests).
//!
//! The table doubles as the model catalog: [`PriceTable::serves`] says whether a provider's own
//! entries (or its `provider/*` entry) list a model — how a virtual key routes a bare model name.

mod config;

pub use config::{ModelPrice, PricingConfig, UnknownModelPolicy};

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::limits::{MicroUsd, usd_to_micros};
use crate::wire::Usage;

const TOKENS_PER_PRICE_UNIT: u128 = 1_000_000;

/// One model's prices in micro-USD per 1M tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub input: u64,
    pub output: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    /// `YYYY-MM-DD` the prices are as of.
    pub effective_date: Option<String>,
}

impl Price {
    /// From USD per 1M tokens; `None` if any price is negative or not a number.
    pub fn from_usd(p: &ModelPrice) -> Option<Price> {
        let micros = |usd: f64| usd_to_micros(usd).and_then(|m| u64::try_from(m).ok());
        let input = micros(p.input)?;
        Some(Price {
            input,
            output: micros(p.output)?,
            cached_input: p.cached_input.map_or(Some(input), micros)?,
            cache_write: p.cache_write.map_or(Some(input), micros)?,
            effective_date: p.effective_date.clone(),
        })
    }

    /// The cost of `usage` in micro-USD, rounded up. `prompt_tokens` includes cached and
    /// cache-write tokens (the canonical [`Usage`] of every adapter).
    ///
    /// ```
    /// use sluice_core::pricing::PriceTable;
    /// use sluice_core::wire::Usage;
    /// let price = PriceTable::builtin().price("openai", "gpt-4o-mini").unwrap();
    /// // 1000 × $0.15 + 500 × $0.60 per 1M tokens.
    /// assert_eq!(price.cost_micros(&Usage::new(1_000, 500)), 450);
    /// ```
    pub fn cost_micros(&self, usage: &Usage) -> MicroUsd {
        let cached = usage.cached_tokens();
        let cache_write = usage
            .prompt_tokens_details
            .map_or(0, |d| d.cache_creation_tokens);
        let uncached = usage
            .prompt_tokens
            .saturating_sub(cached)
            .saturating_sub(cache_write);
        let term = |tokens: u64, price: u64| u128::from(tokens) * u128::from(price);
        let numerator = term(uncached, self.input)
            + term(cached, self.cached_input)
            + term(cache_write, self.cache_write)
            + term(usage.completion_tokens, self.output);
        i64::try_from(numerator.div_ceil(TOKENS_PER_PRICE_UNIT)).unwrap_or(i64::MAX)
    }
}

/// Prices by provider and model. Cheap to share behind an `Arc`; build it with the snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    overrides: Layer,
    builtin: Layer,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Layer {
    /// provider → model → price; model `*` prices every model of the provider.
    providers: HashMap<String, HashMap<String, Price>>,
    /// Bare model names, for any provider serving a model of that name.
    bare: HashMap<String, Price>,
}

/// The shape of `prices.json` (its `note` is for human readers).
#[derive(Deserialize)]
struct PriceFile {
    effective_date: String,
    providers: BTreeMap<String, BTreeMap<String, ModelPrice>>,
}

impl PriceTable {
    /// The table shipped with this build (parsed once).
    pub fn builtin() -> &'static PriceTable {
        static BUILTIN: OnceLock<PriceTable> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let file: PriceFile = serde_json::from_str(include_str!("pricing/prices.json"))
                .expect("pricing/prices.json is checked by the builtin_table_is_valid test");
            let mut layer = Layer::default();
            for (provider, models) in &file.providers {
                for (model, p) in models {
                    let mut p = p.clone();
                    p.effective_date.get_or_insert(file.effective_date.clone());
                    if let Some(price) = Price::from_usd(&p) {
                        layer.insert_provider(provider, model, price);
                    }
                }
            }
            layer.index_bare_names();
            PriceTable {
                overrides: Layer::default(),
                builtin: layer,
            }
        })
    }

    /// The shipped table with the `pricing` config's overrides.
    pub fn from_config(config: &PricingConfig) -> Result<PriceTable, ConfigError> {
        PriceTable::builtin().with_overrides(&config.overrides)
    }

    /// This table with `overrides` (keys `provider/model`, `provider/*` or a bare `model`) taking
    /// precedence over its prices. Errors name the field at fault.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, ModelPrice>,
    ) -> Result<PriceTable, ConfigError> {
        let mut table = self.clone();
        for (key, p) in overrides {
            let at = format!("pricing.overrides.{key}");
            p.validate(&at)?;
            let price = Price::from_usd(p)
                .ok_or_else(|| ConfigError::new(&at, "prices must be non-negative numbers"))?;
            match key.split_once('/') {
                Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
                    table.overrides.insert_provider(provider, model, price);
                }
                None if !key.is_empty() => {
                    if let Some(base) = key.strip_suffix("-latest") {
                        let bare = &mut table.overrides.bare;
                        bare.entry(base.to_string())
                            .or_insert_with(|| price.clone());
                    }
                    table.overrides.bare.insert(key.clone(), price);
                }
                _ => {
                    return Err(ConfigError::new(
                        at,
                        "use provider/model, provider/* or a model name",
                    ));
                }
            }
        }
        Ok(table)
    }

    /// The price of `model` served by `provider`: the provider's own entry (dated snapshots such
    /// as `gpt-4o-2024-08-06` and `-latest` aliases fall back to the base name), its `*` entry,
    /// then a bare-name price; overrides before the shipped table. `None`: unknown.
    pub fn price(&self, provider: &str, model: &str) -> Option<&Price> {
        let found = self
            .overrides
            .find(provider, model)
            .or_else(|| self.builtin.find(provider, model));
        // Routers such as OpenRouter name models `openai/gpt-4o`.
        found.or_else(|| {
            let (owner, name) = model.split_once('/')?;
            self.overrides
                .find_own(owner, name)
                .or_else(|| self.builtin.find_own(owner, name))
        })
    }

    /// The cost in micro-USD of `usage` on `provider`/`model`; `None` if the model has no price
    /// (the caller applies [`UnknownModelPolicy`]).
    pub fn cost_micros(&self, provider: &str, model: &str, usage: &Usage) -> Option<MicroUsd> {
        self.price(provider, model).map(|p| p.cost_micros(usage))
    }

    /// Whether `provider` serves `model` according to the table: its own entries or its `*`
    /// entry, never a bare-name price.
    pub fn serves(&self, provider: &str, model: &str) -> bool {
        self.overrides.find_own(provider, model).is_some()
            || self.builtin.find_own(provider, model).is_some()
    }

    /// The models the table lists for `provider`, sorted (for `GET /v1/models`).
    pub fn models(&self, provider: &str) -> Vec<&str> {
        let mut out: Vec<&str> = [&self.overrides, &self.builtin]
            .iter()
            .filter_map(|l| l.providers.get(provider))
            .flat_map(|m| m.keys().map(String::as_str))
            .filter(|m| *m != "*")
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl Layer {
    /// Prices `provider/model`; a `-latest` alias also prices its base name (which dated
    /// snapshots normalize to) unless that has its own entry.
    fn insert_provider(&mut self, provider: &str, model: &str, price: Price) {
        let models = self.providers.entry(provider.to_string()).or_default();
        if let Some(base) = model.strip_suffix("-latest") {
            models
                .entry(base.to_string())
                .or_insert_with(|| price.clone());
        }
        models.insert(model.to_string(), price);
    }

    /// Indexes every provider's models under their bare names (the first provider by name
    /// wins a clash).
    fn index_bare_names(&mut self) {
        let mut providers: Vec<&String> = self.providers.keys().collect();
        providers.sort();
        let mut bare = HashMap::new();
        for provider in providers {
            for (model, price) in &self.providers[provider] {
                if model != "*" {
                    bare.entry(model.clone()).or_insert_with(|| price.clone());
                }
            }
        }
        self.bare = bare;
    }

    /// The provider's own entry for `model` (exact, then normalized), then its `*` entry.
    fn find_own(&self, provider: &str, model: &str) -> Option<&Price> {
        let models = self.providers.get(provider)?;
        models
            .get(model)
            .or_else(|| models.get(normalize(model)))
            .or_else(|| models.get("*"))
    }

    fn find(&self, provider: &str, model: &str) -> Option<&Price> {
        self.find_own(provider, model).or_else(|| {
            self.bare
                .get(model)
                .or_else(|| self.bare.get(normalize(model)))
        })
    }
}

/// A model name without its `-latest` alias or snapshot date (`-2024-08-06`, `-20241022`).
///
/// ```
/// use sluice_core::pricing::normalize;
/// assert_eq!(normalize("gpt-4o-2024-08-06"), "gpt-4o");
/// assert_eq!(normalize("claude-3-5-haiku-20241022"), "claude-3-5-haiku");
/// assert_eq!(normalize("claude-3-5-haiku-latest"), "claude-3-5-haiku");
/// assert_eq!(normalize("gpt-4.1-mini"), "gpt-4.1-mini");
/// ```
pub fn normalize(model: &str) -> &str {
    if let Some(base) = model.strip_suffix("-latest") {
        return base;
    }
    let is_date = |s: &str, dashed: bool| {
        let b = s.as_bytes();
        b.iter().enumerate().all(|(i, c)| match (dashed, i) {
            (true, 4 | 7) => *c == b'-',
            _ => c.is_ascii_digit(),
        })
    };
    for (len, dashed) in [(10, true), (8, false)] {
        if let Some(split) = model.len().checked_sub(len + 1)
            && model.is_char_boundary(split)
        {
            let (base, suffix) = model.split_at(split);
            if let Some(date) = suffix.strip_prefix('-')
                && !base.is_empty()
                && is_date(date, dashed)
            {
                return base;
            }
        }
    }
    model
}

#[cfg(test)]
mod tests;
