//! Providers: one row per provider name. Key values are sealed (AES-256-GCM) on the way in and
//! opened on the way out, so callers only ever see plaintext `ProviderConfig`s and the database
//! only ever holds ciphertext (or `env.VAR` references, which are not secrets).

use sluice_core::{ProviderConfig, Secret};

use crate::error::{Result, StoreError};
use crate::tx::{Tx, Write};

const TABLE: &str = "providers";

impl<M> Tx<M> {
    pub async fn provider(&mut self, name: &str) -> Result<Option<ProviderConfig>> {
        let stored: Option<ProviderConfig> = self
            .doc(TABLE, "SELECT doc FROM providers WHERE name = $1", name)
            .await?;
        stored.map(|p| self.open_provider(name, p)).transpose()
    }

    /// Every provider, by name.
    pub async fn providers(&mut self) -> Result<Vec<(String, ProviderConfig)>> {
        let stored: Vec<(String, ProviderConfig)> = self
            .docs(TABLE, "SELECT name, doc FROM providers ORDER BY name")
            .await?;
        stored
            .into_iter()
            .map(|(name, p)| {
                let p = self.open_provider(&name, p)?;
                Ok((name, p))
            })
            .collect()
    }

    pub async fn provider_names(&mut self) -> Result<Vec<String>> {
        self.keys("SELECT name FROM providers ORDER BY name", &[])
            .await
    }

    fn open_provider(&self, name: &str, mut p: ProviderConfig) -> Result<ProviderConfig> {
        for (i, key) in p.keys.iter_mut().enumerate() {
            if key.value.env_reference().is_some() {
                continue;
            }
            let plain = self
                .encryption
                .open(key.value.expose(), &place(name, &key.name))
                .ok_or_else(|| StoreError::Decrypt {
                    field: format!("providers.{name}.keys[{i}].value"),
                })?;
            key.value = Secret::new(plain);
        }
        Ok(p)
    }
}

impl Tx<Write> {
    /// Creates or replaces provider `name`.
    pub async fn put_provider(&mut self, name: &str, config: &ProviderConfig) -> Result<()> {
        let mut sealed = config.clone();
        for key in &mut sealed.keys {
            if key.value.env_reference().is_none() {
                let place = place(name, &key.name);
                key.value = Secret::new(self.encryption.seal(key.value.expose(), &place)?);
            }
        }
        self.write_doc(
            "INSERT INTO providers (name, doc, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, updated_at_ms = excluded.updated_at_ms",
            name,
            &sealed,
            &[],
        )
        .await
    }

    /// Whether provider `name` existed.
    pub async fn delete_provider(&mut self, name: &str) -> Result<bool> {
        self.delete_row("DELETE FROM providers WHERE name = $1", name)
            .await
    }
}

/// The associated data of a key value: a ciphertext only opens in the place it was sealed for.
fn place(provider: &str, key: &str) -> String {
    format!("providers.{provider}.keys.{key}")
}
