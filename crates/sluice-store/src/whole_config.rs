//! The whole config in one piece: loading it (what the control plane publishes) and importing a
//! seed file into an empty store.

use serde::{Deserialize, Serialize};
use sluice_core::Config;
use sluice_core::config::{DispatchConfig, LogsConfig, MockProviderSwitch, ServerConfig};
use sluice_core::pricing::PricingConfig;

use sqlx::types::Json;

use crate::error::{Result, StoreError};
use crate::tx::{Tx, Write, on_conn};

/// The process-wide sections of a config that the admin API does not manage: they come from the
/// seed and are stored so that every replica (and data plane) sees the same values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Settings {
    server: ServerConfig,
    mock: MockProviderSwitch,
    dispatch: DispatchConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    require_virtual_key: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_max_output_tokens: Option<u64>,
    pricing: PricingConfig,
    logs: LogsConfig,
}

impl<M> Tx<M> {
    /// Everything, as one [`Config`]: provider key values decrypted (`env.VAR` references left
    /// as they are, for the snapshot builder to resolve).
    pub async fn load_config(&mut self) -> Result<Config> {
        let doc: Option<Json<serde_json::Value>> = on_conn!(&mut self.conn, |c| {
            sqlx::query_scalar("SELECT doc FROM settings WHERE id = 1")
                .fetch_optional(c)
                .await?
        });
        let settings: Settings = match doc {
            Some(Json(v)) => {
                serde_json::from_value(v).map_err(|source| StoreError::CorruptDocument {
                    table: "settings",
                    id: "1".into(),
                    source,
                })?
            }
            None => Settings::default(),
        };
        let mut config = Config {
            server: settings.server,
            mock: settings.mock,
            dispatch: settings.dispatch,
            pricing: settings.pricing,
            logs: settings.logs,
            ..Config::default()
        };
        config.providers = self.providers().await?.into_iter().collect();
        let governance = &mut config.governance;
        governance.require_virtual_key = settings.require_virtual_key;
        governance.default_max_output_tokens = settings.default_max_output_tokens;
        governance.customers = self.customers().await?.into_iter().collect();
        governance.teams = self.teams().await?.into_iter().collect();
        governance.virtual_keys = self.virtual_keys().await?.into_iter().collect();
        Ok(config)
    }
}

impl Tx<Write> {
    /// Writes every part of `config` (parents before children). The caller validates it first.
    pub async fn import_config(&mut self, config: &Config) -> Result<()> {
        let settings = Settings {
            server: config.server.clone(),
            mock: config.mock.clone(),
            dispatch: config.dispatch.clone(),
            require_virtual_key: config.governance.require_virtual_key,
            default_max_output_tokens: config.governance.default_max_output_tokens,
            pricing: config.pricing.clone(),
            logs: config.logs.clone(),
        };
        on_conn!(&mut self.conn, |c| {
            sqlx::query(
                "INSERT INTO settings (id, doc) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
            )
            .bind(Json(&settings))
            .execute(c)
            .await?;
        });
        for (name, provider) in &config.providers {
            self.put_provider(name, provider).await?;
        }
        let governance = &config.governance;
        for (id, customer) in &governance.customers {
            self.put_customer(id, customer).await?;
        }
        for (id, team) in &governance.teams {
            self.put_team(id, team).await?;
        }
        for (id, vk) in &governance.virtual_keys {
            self.put_virtual_key(id, vk).await?;
        }
        Ok(())
    }
}
