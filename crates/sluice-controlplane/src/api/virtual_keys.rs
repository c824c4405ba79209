//! `/api/governance/virtual-keys`: the credentials apps present, with their limits and routing.
//!
//! The body is a sluice-core `VirtualKeyConfig` without `value_hash`, plus optional `"value"`
//! (the credential; stored only as its SHA-256) and, for POST, optional `"id"`.
//! - PUT creates the key if new, else merges: top-level fields present replace the stored ones,
//!   absent ones are kept, `null` resets one to its default. Without `"value"`, a new key's
//!   credential is its id (`api_key="vk-prod"`); an existing key keeps its credential.
//! - PATCH merges the same way but only into an existing key (404 otherwise).
//! - POST creates; without `"value"` it generates the credential and returns it once, in
//!   `"value"`, never again.

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_core::governance::VirtualKeyConfig;
use sluice_core::hash_credential;
use sluice_store::WriteTx;

use super::body::{self, Fields};
use super::error::ApiError;
use super::ids::{check_id, new_credential, new_id};
use super::validation::check_virtual_key;
use super::{Shared, committed, deleted, reply, with_id};

pub(crate) async fn list(cp: Shared) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_read().await?;
    let keys = tx.virtual_keys().await?;
    tx.rollback().await?;
    let views: Vec<Value> = keys.iter().map(|(id, vk)| view(id, vk)).collect();
    Ok(reply(
        StatusCode::OK,
        json!({"count": views.len(), "virtual_keys": views}),
    ))
}

pub(crate) async fn get(cp: Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_read().await?;
    let vk = tx.virtual_key(&id).await?;
    tx.rollback().await?;
    let vk = vk.ok_or_else(|| not_found(&id))?;
    Ok(reply(StatusCode::OK, view(&id, &vk)))
}

pub(crate) async fn create(
    cp: Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut fields = body::object(body)?;
    let id = match body::take_string(&mut fields, "id")? {
        Some(id) => {
            check_id("id", &id)?;
            id
        }
        None => new_id(),
    };
    let given = take_value(&mut fields)?;
    let generated = given.is_none().then(new_credential);
    let credential = given.as_deref().or(generated.as_deref()).unwrap_or(&id);
    let mut tx = cp.store().begin_write().await?;
    if tx.virtual_key(&id).await?.is_some() {
        return Err(ApiError::conflict(
            Some("id"),
            format!(
                "virtual key '{id}' already exists; PUT or PATCH /api/governance/virtual-keys/{id} changes it"
            ),
        ));
    }
    let vk = merge_and_store(&mut tx, &id, None, fields, Some(credential)).await?;
    let version = tx.commit().await?;
    let mut answer = view(&id, &vk);
    if let (Some(value), Value::Object(m)) = (generated, &mut answer) {
        // The only time the credential leaves the control plane.
        m.insert("value".into(), Value::String(value));
    }
    Ok(committed(&cp, version, StatusCode::CREATED, answer).await)
}

pub(crate) async fn put(
    cp: Shared,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    upsert(cp, id, body, true).await
}

pub(crate) async fn patch(
    cp: Shared,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    upsert(cp, id, body, false).await
}

async fn upsert(
    cp: Shared,
    id: String,
    body: Result<Bytes, BytesRejection>,
    may_create: bool,
) -> Result<Response, ApiError> {
    check_id("id", &id)?;
    let mut fields = body::object(body)?;
    body::check_path_id(&mut fields, &id)?;
    let value = take_value(&mut fields)?;
    let mut tx = cp.store().begin_write().await?;
    let stored = tx.virtual_key(&id).await?;
    if stored.is_none() && !may_create {
        return Err(not_found(&id));
    }
    // A new key without a value authenticates with its id.
    let credential = value.as_deref().or(stored.is_none().then_some(id.as_str()));
    let created = stored.is_none();
    let vk = merge_and_store(&mut tx, &id, stored.as_ref(), fields, credential).await?;
    let version = tx.commit().await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(committed(&cp, version, status, view(&id, &vk)).await)
}

pub(crate) async fn delete(cp: Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_write().await?;
    if !tx.delete_virtual_key(&id).await? {
        return Err(not_found(&id));
    }
    let version = tx.commit().await?;
    Ok(committed(&cp, version, StatusCode::OK, deleted(&id)).await)
}

/// Applies `fields` over `stored`, sets the credential hash (a new `credential`, or the stored
/// one), checks the result and its references, and writes it, all inside `tx`.
async fn merge_and_store(
    tx: &mut WriteTx,
    id: &str,
    stored: Option<&VirtualKeyConfig>,
    fields: Fields,
    credential: Option<&str>,
) -> Result<VirtualKeyConfig, ApiError> {
    if fields.contains_key("value_hash") {
        return Err(ApiError::invalid(
            "value_hash",
            "is derived from the credential; send \"value\" instead",
        ));
    }
    let mut doc = body::overlay(stored, fields)?;
    if let Some(credential) = credential {
        doc.insert(
            "value_hash".into(),
            Value::String(hash_credential(credential)),
        );
    }
    let vk: VirtualKeyConfig = body::parse(doc)?;
    check_virtual_key(tx, id, &vk).await?;
    if let Some(other) = tx.virtual_key_id_by_hash(&vk.value_hash).await?
        && other != id
    {
        return Err(ApiError::conflict(
            Some("value"),
            "this credential already belongs to another virtual key; choose another value",
        ));
    }
    tx.put_virtual_key(id, &vk).await?;
    Ok(vk)
}

/// The optional credential in the body: a non-empty string.
fn take_value(fields: &mut Fields) -> Result<Option<String>, ApiError> {
    let value = body::take_string(fields, "value")?;
    if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
        return Err(ApiError::invalid("value", "must not be empty"));
    }
    Ok(value)
}

/// The key as answered: never its credential or the credential's hash.
fn view(id: &str, vk: &VirtualKeyConfig) -> Value {
    with_id(id, vk, &["value_hash"])
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no virtual key '{id}'"))
}
