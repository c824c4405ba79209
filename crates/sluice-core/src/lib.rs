//! Sans-IO domain of the Sluice LLM gateway.
//!
//! No sockets, no async runtime: wire types, configuration, routing, retry policy and failure
//! classes, all pure functions and state machines that take time as an input.

pub mod config;
pub mod failure;
pub mod model_ref;
pub mod wire;

pub use config::{
    Config, ConfigError, KeyConfig, NetworkConfig, ProviderConfig, ProviderKind, ProviderPreset,
    Secret, preset_for,
};
pub use failure::FailureClass;
pub use model_ref::{ModelRef, ModelRefError};
