//! Semantic checks of one entity through the core `validate()` methods (the single source of
//! truth for what a valid config is), with the references it needs read inside the request's
//! transaction. Errors are mapped back to the request body's field names.

use std::collections::HashSet;

use sluice_core::config::{Config, ConfigError, ProviderConfig, preset_for};
use sluice_core::governance::{CustomerConfig, GovernanceConfig, TeamConfig, VirtualKeyConfig};
use sluice_store::WriteTx;

use super::error::ApiError;

/// Checks virtual key `id` and that its team, customer and providers exist.
pub(crate) async fn check_virtual_key(
    tx: &mut WriteTx,
    id: &str,
    vk: &VirtualKeyConfig,
) -> Result<(), ApiError> {
    let mut gov = GovernanceConfig::default();
    if let Some(team_id) = &vk.team_id {
        add_team(tx, &mut gov, team_id).await?;
    }
    if let Some(customer_id) = &vk.customer_id {
        add_customer(tx, &mut gov, customer_id).await?;
    }
    gov.virtual_keys.insert(id.to_string(), vk.clone());
    let providers: HashSet<String> = tx.provider_names().await?.into_iter().collect();
    let known = |p: &str| providers.contains(p) || preset_for(p).is_some();
    gov.validate(&known)
        .map_err(|e| to_api(e, &format!("governance.virtual_keys.{id}.")))
}

/// Checks team `id` and that its customer exists.
pub(crate) async fn check_team(
    tx: &mut WriteTx,
    id: &str,
    team: &TeamConfig,
) -> Result<(), ApiError> {
    let mut gov = GovernanceConfig::default();
    if let Some(customer_id) = &team.customer_id {
        add_customer(tx, &mut gov, customer_id).await?;
    }
    gov.teams.insert(id.to_string(), team.clone());
    gov.validate(&|_| true)
        .map_err(|e| to_api(e, &format!("governance.teams.{id}.")))
}

pub(crate) fn check_customer(id: &str, customer: &CustomerConfig) -> Result<(), ApiError> {
    let mut gov = GovernanceConfig::default();
    gov.customers.insert(id.to_string(), customer.clone());
    gov.validate(&|_| true)
        .map_err(|e| to_api(e, &format!("governance.customers.{id}.")))
}

/// Checks provider `name` (name, type, keys, network config) as a config file would be.
pub(crate) fn check_provider(name: &str, provider: &ProviderConfig) -> Result<(), ApiError> {
    let mut config = Config::default();
    config.providers.insert(name.to_string(), provider.clone());
    config.validate().map_err(|e| {
        let prefix = format!("providers.{name}.");
        if e.field.starts_with(&prefix) {
            to_api(e, &prefix)
        } else {
            // The name itself (`providers."bad name"`).
            ApiError::invalid("provider", e.message)
        }
    })
}

/// Loads a referenced team (and its customer) into `gov`; a missing one is simply left out, so
/// that `validate` reports it as unknown under the referencing field.
async fn add_team(tx: &mut WriteTx, gov: &mut GovernanceConfig, id: &str) -> Result<(), ApiError> {
    if let Some(team) = tx.team(id).await? {
        if let Some(customer_id) = &team.customer_id {
            add_customer(tx, gov, customer_id).await?;
        }
        gov.teams.insert(id.to_string(), team);
    }
    Ok(())
}

async fn add_customer(
    tx: &mut WriteTx,
    gov: &mut GovernanceConfig,
    id: &str,
) -> Result<(), ApiError> {
    if let Some(customer) = tx.customer(id).await? {
        gov.customers.insert(id.to_string(), customer);
    }
    Ok(())
}

/// `governance.teams.eng.budget.max_limit` → param `budget.max_limit`.
fn to_api(e: ConfigError, prefix: &str) -> ApiError {
    let param = e.field.strip_prefix(prefix).unwrap_or(&e.field);
    ApiError::invalid(param, e.message)
}
