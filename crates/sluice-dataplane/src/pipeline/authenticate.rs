//! Stage 2, authenticate: find the caller's virtual key in the snapshot by the hash of the
//! presented credential. No database, no network.
//!
//! Runs before the body is read, so a refused caller costs nothing more. Unknown credential →
//! 401 when virtual keys are required; inactive key → 403. When they are not required, a
//! request without a known key is served anonymously (SDKs always send *some* `api_key`).

use std::sync::Arc;

use http::HeaderMap;
use sluice_core::VirtualKeyEntry;

use crate::error::GatewayError;
use crate::runtime::Runtime;

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    VirtualKey(Arc<VirtualKeyEntry>),
}

impl Principal {
    pub fn virtual_key(&self) -> Option<&VirtualKeyEntry> {
        match self {
            Principal::VirtualKey(vk) => Some(vk),
            Principal::Anonymous => None,
        }
    }
}

/// The credential from `Authorization: Bearer`, `x-api-key` or `x-sluice-vk`, in that order.
fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(token) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(token.trim());
        }
    }
    for name in ["x-api-key", "x-sluice-vk"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return Some(v.trim());
        }
    }
    None
}

pub fn authenticate(rt: &Runtime, headers: &HeaderMap) -> Result<Principal, GatewayError> {
    let snapshot = &rt.snapshot;
    let presented = credential(headers).filter(|c| !c.is_empty());
    match presented.and_then(|c| snapshot.virtual_key(c)) {
        Some(vk) if !vk.config.is_active => Err(GatewayError::Forbidden {
            message: format!("virtual key '{}' is not active", vk.id),
            code: "virtual_key_inactive",
        }),
        Some(vk) => Ok(Principal::VirtualKey(vk.clone())),
        None if !snapshot.require_virtual_key => Ok(Principal::Anonymous),
        None => Err(GatewayError::Unauthorized {
            message: if presented.is_some() {
                "the presented credential is not a known virtual key".into()
            } else {
                "a virtual key is required: send it as 'Authorization: Bearer <key>', 'x-api-key' or 'x-sluice-vk'".into()
            },
        }),
    }
}
