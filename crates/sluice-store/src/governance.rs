//! Virtual keys, teams and customers. Documents are the sluice-core governance types; the
//! `team_id`/`customer_id` columns copy the document's references so the database can enforce
//! them (foreign keys) and find children without reading every document.
//!
//! The API layer checks references and children inside the same transaction first and answers
//! with a message naming the field; the foreign keys only back that up.

use sluice_core::governance::{CustomerConfig, TeamConfig, VirtualKeyConfig};

use crate::error::Result;
use crate::tx::{Tx, Write};

impl<M> Tx<M> {
    pub async fn virtual_key(&mut self, id: &str) -> Result<Option<VirtualKeyConfig>> {
        self.doc(
            "virtual_keys",
            "SELECT doc FROM virtual_keys WHERE id = $1",
            id,
        )
        .await
    }

    /// Every virtual key, by id.
    pub async fn virtual_keys(&mut self) -> Result<Vec<(String, VirtualKeyConfig)>> {
        self.docs(
            "virtual_keys",
            "SELECT id, doc FROM virtual_keys ORDER BY id",
        )
        .await
    }

    /// The id of the virtual key whose credential hashes to `value_hash` (hex, any case).
    pub async fn virtual_key_id_by_hash(&mut self, value_hash: &str) -> Result<Option<String>> {
        let hash = value_hash.to_ascii_lowercase();
        let ids = self
            .keys(
                "SELECT id FROM virtual_keys WHERE value_hash = $1",
                &[&hash],
            )
            .await?;
        Ok(ids.into_iter().next())
    }

    pub async fn team(&mut self, id: &str) -> Result<Option<TeamConfig>> {
        self.doc("teams", "SELECT doc FROM teams WHERE id = $1", id)
            .await
    }

    /// Every team, by id.
    pub async fn teams(&mut self) -> Result<Vec<(String, TeamConfig)>> {
        self.docs("teams", "SELECT id, doc FROM teams ORDER BY id")
            .await
    }

    pub async fn customer(&mut self, id: &str) -> Result<Option<CustomerConfig>> {
        self.doc("customers", "SELECT doc FROM customers WHERE id = $1", id)
            .await
    }

    /// Every customer, by id.
    pub async fn customers(&mut self) -> Result<Vec<(String, CustomerConfig)>> {
        self.docs("customers", "SELECT id, doc FROM customers ORDER BY id")
            .await
    }

    /// Ids of the virtual keys that belong to team `team_id`.
    pub async fn virtual_keys_of_team(&mut self, team_id: &str) -> Result<Vec<String>> {
        self.keys(
            "SELECT id FROM virtual_keys WHERE team_id = $1 ORDER BY id",
            &[team_id],
        )
        .await
    }

    /// Ids of the virtual keys that belong directly to customer `customer_id`.
    pub async fn virtual_keys_of_customer(&mut self, customer_id: &str) -> Result<Vec<String>> {
        self.keys(
            "SELECT id FROM virtual_keys WHERE customer_id = $1 ORDER BY id",
            &[customer_id],
        )
        .await
    }

    /// Ids of the teams of customer `customer_id`.
    pub async fn teams_of_customer(&mut self, customer_id: &str) -> Result<Vec<String>> {
        self.keys(
            "SELECT id FROM teams WHERE customer_id = $1 ORDER BY id",
            &[customer_id],
        )
        .await
    }
}

impl Tx<Write> {
    /// Creates or replaces virtual key `id`. Its team and customer must exist.
    pub async fn put_virtual_key(&mut self, id: &str, vk: &VirtualKeyConfig) -> Result<()> {
        let hash = vk.value_hash.to_ascii_lowercase();
        self.write_doc(
            "INSERT INTO virtual_keys (id, doc, updated_at_ms, value_hash, team_id, customer_id) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at_ms = excluded.updated_at_ms, \
             value_hash = excluded.value_hash, team_id = excluded.team_id, customer_id = excluded.customer_id",
            id,
            vk,
            &[
                Some(&hash),
                vk.team_id.as_deref(),
                vk.customer_id.as_deref(),
            ],
        )
        .await
    }

    /// Whether virtual key `id` existed.
    pub async fn delete_virtual_key(&mut self, id: &str) -> Result<bool> {
        self.delete_row("DELETE FROM virtual_keys WHERE id = $1", id)
            .await
    }

    /// Creates or replaces team `id`. Its customer must exist.
    pub async fn put_team(&mut self, id: &str, team: &TeamConfig) -> Result<()> {
        self.write_doc(
            "INSERT INTO teams (id, doc, updated_at_ms, customer_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at_ms = excluded.updated_at_ms, \
             customer_id = excluded.customer_id",
            id,
            team,
            &[team.customer_id.as_deref()],
        )
        .await
    }

    /// Whether team `id` existed. Fails with a constraint error while keys still belong to it.
    pub async fn delete_team(&mut self, id: &str) -> Result<bool> {
        self.delete_row("DELETE FROM teams WHERE id = $1", id).await
    }

    /// Creates or replaces customer `id`.
    pub async fn put_customer(&mut self, id: &str, customer: &CustomerConfig) -> Result<()> {
        self.write_doc(
            "INSERT INTO customers (id, doc, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at_ms = excluded.updated_at_ms",
            id,
            customer,
            &[],
        )
        .await
    }

    /// Whether customer `id` existed. Fails with a constraint error while teams or keys still
    /// belong to it.
    pub async fn delete_customer(&mut self, id: &str) -> Result<bool> {
        self.delete_row("DELETE FROM customers WHERE id = $1", id)
            .await
    }
}
