//! The REST admin API under `/api` (see docs/admin-api.md). Every handler that changes the config
//! runs in one store transaction, commits (bumping the version), then publishes the new config
//! before answering, so a client that gets a 2xx can rely on the change being live in-process.

mod body;
mod error;
mod governance_entity;
mod ids;
mod logs;
mod providers;
mod redact;
mod usage;
mod validation;
mod virtual_keys;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::Value;
use sluice_core::governance::{CustomerConfig, TeamConfig};

use crate::ControlPlane;
use crate::auth::{AdminAuth, require_admin};
pub(crate) use error::ApiError;
use governance_entity as entity;

/// Response header carrying the config version a write committed.
pub const CONFIG_VERSION_HEADER: &str = "x-sluice-config-version";

pub(crate) type Shared = axum::extract::State<Arc<ControlPlane>>;

pub(crate) fn router(cp: Arc<ControlPlane>, auth: AdminAuth) -> Router {
    let vk = "/api/governance/virtual-keys";
    Router::new()
        .route(
            "/api/providers",
            get(providers::list).post(providers::create),
        )
        .route(
            "/api/providers/{provider}",
            get(providers::get)
                .put(providers::put)
                .delete(providers::delete),
        )
        .route(vk, get(virtual_keys::list).post(virtual_keys::create))
        .route(
            &format!("{vk}/{{id}}"),
            get(virtual_keys::get)
                .put(virtual_keys::put)
                .patch(virtual_keys::patch)
                .delete(virtual_keys::delete),
        )
        .route(&format!("{vk}/{{id}}/usage"), get(usage::get))
        .route(
            "/api/governance/teams",
            get(entity::list::<TeamConfig>).post(entity::create::<TeamConfig>),
        )
        .route(
            "/api/governance/teams/{id}",
            get(entity::get::<TeamConfig>)
                .put(entity::put::<TeamConfig>)
                .patch(entity::patch::<TeamConfig>)
                .delete(entity::delete::<TeamConfig>),
        )
        .route(
            "/api/governance/customers",
            get(entity::list::<CustomerConfig>).post(entity::create::<CustomerConfig>),
        )
        .route(
            "/api/governance/customers/{id}",
            get(entity::get::<CustomerConfig>)
                .put(entity::put::<CustomerConfig>)
                .patch(entity::patch::<CustomerConfig>)
                .delete(entity::delete::<CustomerConfig>),
        )
        .route("/api/logs", get(logs::list))
        .route("/api/logs/stats", get(logs::stats))
        // A route, not a fallback: the binary merges this router with its own, and a JSON 404
        // for unknown /api paths must still sit behind admin auth.
        .route("/api/{*rest}", any(unknown_route))
        .route_layer(axum::middleware::from_fn_with_state(auth, require_admin))
        .with_state(cp)
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no admin API route {}", uri.path()))
}

/// A JSON answer.
pub(crate) fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The answer to a committed write: publishes `version` first, then answers with its number.
pub(crate) async fn committed(
    cp: &ControlPlane,
    version: u64,
    status: StatusCode,
    body: Value,
) -> Response {
    cp.publish_committed(version).await;
    let mut response = reply(status, body);
    response
        .headers_mut()
        .insert(CONFIG_VERSION_HEADER, HeaderValue::from(version));
    response
}

/// `{"id": id, ...doc}` with `hidden` fields removed.
pub(crate) fn with_id<T: serde::Serialize>(id: &str, doc: &T, hidden: &[&str]) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        for h in hidden {
            m.remove(*h);
        }
        m.insert("id".into(), Value::String(id.to_string()));
    }
    v
}

/// `{"deleted": true, "id": id}`.
pub(crate) fn deleted(id: &str) -> Value {
    serde_json::json!({"id": id, "deleted": true})
}
