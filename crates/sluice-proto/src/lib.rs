//! The gRPC contract between Sluice's planes (`proto/sluice/v1/`), and the control plane's side
//! of the config push ([`server::ConfigFeed`]) and of the usage report ([`usage::UsageReceiver`]).
//!
//! The config travels as the serde JSON of [`sluice_core::Config`] inside a versioned envelope
//! ([`v1::ConfigSnapshot`]): the typed Rust schema stays the single source of truth, and the
//! proto only versions the envelope. [`encode_snapshot`] and [`decode_snapshot`] are the two
//! ends of that conversion.

pub mod server;
pub mod usage;

use sluice_core::{Config, VersionedConfig};

/// Generated messages, clients and servers of package `sluice.v1`.
pub mod v1 {
    tonic::include_proto!("sluice.v1");
}

/// Why a received snapshot could not be read.
#[derive(Debug, thiserror::Error)]
#[error("config snapshot version {version} is not a valid Sluice config: {source}")]
pub struct SnapshotDecodeError {
    pub version: u64,
    #[source]
    pub source: serde_json::Error,
}

/// The wire form of a versioned config.
pub fn encode_snapshot(config: &VersionedConfig) -> v1::ConfigSnapshot {
    v1::ConfigSnapshot {
        version: config.version,
        // Serializing a `Config` cannot fail: every map has string keys and every float in it
        // is validated finite; an empty body would be rejected by the receiver anyway.
        config_json: serde_json::to_vec(&config.config).unwrap_or_default(),
    }
}

/// The versioned config inside a received snapshot.
pub fn decode_snapshot(
    snapshot: &v1::ConfigSnapshot,
) -> Result<VersionedConfig, SnapshotDecodeError> {
    let config: Config =
        serde_json::from_slice(&snapshot.config_json).map_err(|source| SnapshotDecodeError {
            version: snapshot.version,
            source,
        })?;
    Ok(VersionedConfig {
        version: snapshot.version,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_survives_the_envelope() {
        let config: Config = serde_json::from_str(
            r#"{"providers": {"openai": {"keys": [{"name": "k", "value": "sk-1"}]}}}"#,
        )
        .unwrap();
        let versioned = VersionedConfig { version: 7, config };
        let back = decode_snapshot(&encode_snapshot(&versioned)).unwrap();
        assert_eq!(back, versioned);
    }

    #[test]
    fn a_body_that_is_not_a_config_is_an_error_naming_the_version() {
        let bad = v1::ConfigSnapshot {
            version: 3,
            config_json: br#"{"providerz": {}}"#.to_vec(),
        };
        let e = decode_snapshot(&bad).unwrap_err();
        assert_eq!(e.version, 3);
        assert!(e.to_string().contains("providerz"), "{e}");
    }
}
