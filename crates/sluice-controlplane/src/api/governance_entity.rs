//! `/api/governance/teams` and `/api/governance/customers`: the hierarchy above virtual keys.
//! Both behave alike, so the handlers are written once over [`Parent`].
//!
//! - POST creates, with the body's optional `"id"` or a generated one (409 if it exists).
//! - PUT creates or merges; PATCH merges into an existing one (404 otherwise). Merging is as for
//!   virtual keys: present top-level fields replace, absent ones are kept, `null` clears.
//! - DELETE refuses (409) while anything still belongs to it.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sluice_core::governance::{CustomerConfig, TeamConfig};
use sluice_store::{StoreError, Tx, WriteTx};

use super::body::{self, Fields};
use super::error::ApiError;
use super::ids::{check_id, new_id};
use super::validation::{check_customer, check_team};
use super::{Shared, committed, deleted, reply, with_id};

type StoreResult<T> = Result<T, StoreError>;

/// A team or a customer: how to read, write, check and find the children of one.
pub(crate) trait Parent: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// `team`, `customer`: used in messages.
    const KIND: &'static str;
    /// The key of the list in a list answer.
    const PLURAL: &'static str;

    fn load<M: Send>(
        tx: &mut Tx<M>,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<Self>>> + Send;
    fn load_all<M: Send>(
        tx: &mut Tx<M>,
    ) -> impl Future<Output = StoreResult<Vec<(String, Self)>>> + Send;
    fn store(
        tx: &mut WriteTx,
        id: &str,
        value: &Self,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn remove(tx: &mut WriteTx, id: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// What still belongs to `id`, described for the 409 message; empty when it may go.
    fn children(tx: &mut WriteTx, id: &str) -> impl Future<Output = StoreResult<String>> + Send;
    /// Checks the value and its references.
    fn check(
        tx: &mut WriteTx,
        id: &str,
        value: &Self,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

impl Parent for TeamConfig {
    const KIND: &'static str = "team";
    const PLURAL: &'static str = "teams";

    async fn load<M: Send>(tx: &mut Tx<M>, id: &str) -> StoreResult<Option<Self>> {
        tx.team(id).await
    }
    async fn load_all<M: Send>(tx: &mut Tx<M>) -> StoreResult<Vec<(String, Self)>> {
        tx.teams().await
    }
    async fn store(tx: &mut WriteTx, id: &str, value: &Self) -> StoreResult<()> {
        tx.put_team(id, value).await
    }
    async fn remove(tx: &mut WriteTx, id: &str) -> StoreResult<bool> {
        tx.delete_team(id).await
    }
    async fn children(tx: &mut WriteTx, id: &str) -> StoreResult<String> {
        let keys = tx.virtual_keys_of_team(id).await?;
        Ok(describe("virtual keys", &keys))
    }
    async fn check(tx: &mut WriteTx, id: &str, value: &Self) -> Result<(), ApiError> {
        check_team(tx, id, value).await
    }
}

impl Parent for CustomerConfig {
    const KIND: &'static str = "customer";
    const PLURAL: &'static str = "customers";

    async fn load<M: Send>(tx: &mut Tx<M>, id: &str) -> StoreResult<Option<Self>> {
        tx.customer(id).await
    }
    async fn load_all<M: Send>(tx: &mut Tx<M>) -> StoreResult<Vec<(String, Self)>> {
        tx.customers().await
    }
    async fn store(tx: &mut WriteTx, id: &str, value: &Self) -> StoreResult<()> {
        tx.put_customer(id, value).await
    }
    async fn remove(tx: &mut WriteTx, id: &str) -> StoreResult<bool> {
        tx.delete_customer(id).await
    }
    async fn children(tx: &mut WriteTx, id: &str) -> StoreResult<String> {
        let teams = tx.teams_of_customer(id).await?;
        let keys = tx.virtual_keys_of_customer(id).await?;
        let parts: Vec<String> = [describe("teams", &teams), describe("virtual keys", &keys)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        Ok(parts.join(" and "))
    }
    async fn check(_tx: &mut WriteTx, id: &str, value: &Self) -> Result<(), ApiError> {
        check_customer(id, value)
    }
}

fn describe(what: &str, ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!("{what} {ids:?}")
    }
}

pub(crate) async fn list<E: Parent>(cp: Shared) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_read().await?;
    let all = E::load_all(&mut tx).await?;
    tx.rollback().await?;
    let views: Vec<Value> = all.iter().map(|(id, e)| with_id(id, e, &[])).collect();
    let mut answer = json!({"count": views.len()});
    if let Value::Object(m) = &mut answer {
        m.insert(E::PLURAL.into(), Value::Array(views));
    }
    Ok(reply(StatusCode::OK, answer))
}

pub(crate) async fn get<E: Parent>(
    cp: Shared,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_read().await?;
    let found = E::load(&mut tx, &id).await?;
    tx.rollback().await?;
    let found = found.ok_or_else(|| not_found::<E>(&id))?;
    Ok(reply(StatusCode::OK, with_id(&id, &found, &[])))
}

pub(crate) async fn create<E: Parent>(
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
    let mut tx = cp.store().begin_write().await?;
    if E::load(&mut tx, &id).await?.is_some() {
        return Err(ApiError::conflict(
            Some("id"),
            format!("{} '{id}' already exists", E::KIND),
        ));
    }
    let value = merge_and_store::<E>(&mut tx, &id, None, fields).await?;
    let version = tx.commit().await?;
    let answer = with_id(&id, &value, &[]);
    Ok(committed(&cp, version, StatusCode::CREATED, answer).await)
}

pub(crate) async fn put<E: Parent>(
    cp: Shared,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    upsert::<E>(cp, id, body, true).await
}

pub(crate) async fn patch<E: Parent>(
    cp: Shared,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    upsert::<E>(cp, id, body, false).await
}

async fn upsert<E: Parent>(
    cp: Shared,
    id: String,
    body: Result<Bytes, BytesRejection>,
    may_create: bool,
) -> Result<Response, ApiError> {
    check_id("id", &id)?;
    let mut fields = body::object(body)?;
    body::check_path_id(&mut fields, &id)?;
    let mut tx = cp.store().begin_write().await?;
    let stored = E::load(&mut tx, &id).await?;
    if stored.is_none() && !may_create {
        return Err(not_found::<E>(&id));
    }
    let status = if stored.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let value = merge_and_store::<E>(&mut tx, &id, stored.as_ref(), fields).await?;
    let version = tx.commit().await?;
    Ok(committed(&cp, version, status, with_id(&id, &value, &[])).await)
}

pub(crate) async fn delete<E: Parent>(
    cp: Shared,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut tx = cp.store().begin_write().await?;
    if E::load(&mut tx, &id).await?.is_none() {
        return Err(not_found::<E>(&id));
    }
    let children = E::children(&mut tx, &id).await?;
    if !children.is_empty() {
        return Err(ApiError::conflict(
            None,
            format!(
                "{} '{id}' still has {children}; delete or move them first",
                E::KIND
            ),
        ));
    }
    E::remove(&mut tx, &id).await?;
    let version = tx.commit().await?;
    Ok(committed(&cp, version, StatusCode::OK, deleted(&id)).await)
}

async fn merge_and_store<E: Parent>(
    tx: &mut WriteTx,
    id: &str,
    stored: Option<&E>,
    fields: Fields,
) -> Result<E, ApiError> {
    let value: E = body::parse(body::overlay(stored, fields)?)?;
    E::check(tx, id, &value).await?;
    E::store(tx, id, &value).await?;
    Ok(value)
}

fn not_found<E: Parent>(id: &str) -> ApiError {
    ApiError::not_found(format!("no {} '{id}'", E::KIND))
}
