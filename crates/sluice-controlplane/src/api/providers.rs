//! `/api/providers`: providers with their keys and network config.
//!
//! The body is a provider config (sluice-core `ProviderConfig`: `keys`, `network_config`,
//! `base_provider_type`, `models`) plus `"provider": NAME`. POST creates (409 if the name
//! exists); PUT creates or replaces the whole provider (absent fields take their defaults);
//! responses carry redacted key values (see `redact.rs`).

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_core::ProviderConfig;
use sluice_core::config::preset_for;

use super::body::{self, Fields};
use super::error::ApiError;
use super::redact::{redacted, restore};
use super::validation::check_provider;
use super::{Shared, committed, deleted, reply};

pub(crate) async fn list(cp: Shared) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_read().await?;
    let providers = tx.providers().await?;
    tx.rollback().await?;
    let views: Vec<Value> = providers.iter().map(|(n, p)| view(n, p)).collect();
    Ok(reply(
        StatusCode::OK,
        json!({"count": views.len(), "providers": views}),
    ))
}

pub(crate) async fn get(cp: Shared, Path(name): Path<String>) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_read().await?;
    let provider = tx.provider(&name).await?;
    tx.rollback().await?;
    let provider = provider.ok_or_else(|| not_found(&name))?;
    Ok(reply(StatusCode::OK, view(&name, &provider)))
}

pub(crate) async fn create(
    cp: Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut fields = body::object(body)?;
    let name = body::take_string(&mut fields, "provider")?
        .ok_or_else(|| ApiError::invalid("provider", "is required (the provider's name)"))?;
    let mut provider = parse(fields)?;
    restore(&mut provider, None)?;
    check_provider(&name, &provider)?;
    let mut tx = cp.store().begin_write().await?;
    if tx.provider_names().await?.contains(&name) {
        return Err(ApiError::conflict(
            Some("provider"),
            format!("provider '{name}' already exists; PUT /api/providers/{name} replaces it"),
        ));
    }
    tx.put_provider(&name, &provider).await?;
    let version = tx.commit().await?;
    Ok(committed(&cp, version, StatusCode::CREATED, view(&name, &provider)).await)
}

pub(crate) async fn put(
    cp: Shared,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut fields = body::object(body)?;
    if let Some(in_body) = body::take_string(&mut fields, "provider")?
        && in_body != name
    {
        return Err(ApiError::invalid(
            "provider",
            format!("'{in_body}' differs from the name in the path, '{name}'"),
        ));
    }
    let mut provider = parse(fields)?;
    let mut tx = cp.store().begin_write().await?;
    let stored = tx.provider(&name).await?;
    restore(&mut provider, stored.as_ref())?;
    check_provider(&name, &provider)?;
    tx.put_provider(&name, &provider).await?;
    let version = tx.commit().await?;
    let status = if stored.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(committed(&cp, version, status, view(&name, &provider)).await)
}

pub(crate) async fn delete(cp: Shared, Path(name): Path<String>) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_write().await?;
    if !tx.provider_names().await?.contains(&name) {
        return Err(not_found(&name));
    }
    // A built-in name stays routable without its stored config (zero-config env keys), so only
    // a custom provider must not disappear from under the virtual keys that route to it.
    if preset_for(&name).is_none() {
        let users: Vec<String> = tx
            .virtual_keys()
            .await?
            .into_iter()
            .filter(|(_, vk)| vk.provider_configs.iter().any(|pc| pc.provider == name))
            .map(|(id, _)| id)
            .collect();
        if !users.is_empty() {
            return Err(ApiError::conflict(
                None,
                format!(
                    "provider '{name}' is used by the provider_configs of virtual keys {users:?}; remove it there first"
                ),
            ));
        }
    }
    tx.delete_provider(&name).await?;
    let version = tx.commit().await?;
    Ok(committed(&cp, version, StatusCode::OK, deleted(&name)).await)
}

fn parse(fields: Fields) -> Result<ProviderConfig, ApiError> {
    body::parse(fields)
}

/// The provider as answered: its name under `provider`, key values redacted.
fn view(name: &str, provider: &ProviderConfig) -> Value {
    let mut v = serde_json::to_value(redacted(provider)).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("provider".into(), Value::String(name.to_string()));
    }
    v
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("no provider '{name}'"))
}
