use sluice_core::ConfigError;
use sluice_store::StoreError;
use thiserror::Error;

/// Why the control plane could not open or refresh.
#[derive(Debug, Error)]
pub enum ControlPlaneError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The seed config (used only for an empty store) is invalid; the field is named.
    #[error("the seed config is invalid: {0}")]
    InvalidSeed(#[source] ConfigError),
}
