//! Sans-IO domain of the Sluice LLM gateway.
//!
//! No sockets, no async runtime: wire types, configuration, routing, retry policy and failure
//! classes, all pure functions and state machines that take time as an input.

pub mod catalog;
pub mod config;
pub mod failure;
pub mod governance;
pub mod model_ref;
pub mod snapshot;
pub mod wire;

pub use config::{
    Config, ConfigError, KeyConfig, NetworkConfig, ProviderConfig, ProviderKind, ProviderPreset,
    Secret, preset_for,
};
pub use failure::FailureClass;
pub use model_ref::{ModelRef, ModelRefError};
pub use snapshot::{
    KeyEntry, ProviderEntry, ProviderLookupError, Snapshot, VersionedConfig, VirtualKeyEntry,
    hash_credential,
};

// Resilience: key selection, backoff, cooldowns, breakers, headroom, retry budget, fallback
// plans and the dispatch decision.
pub mod backoff;
pub mod breaker;
pub mod cooldown;
pub mod dispatch;
pub mod fallback;
pub mod headroom;
pub mod key_health;
pub mod retry_budget;
pub mod selection;

// Governance: limits and budgets (admit and settle), pricing, token estimation.
pub mod limits;
pub mod pricing;
pub mod tokens;
