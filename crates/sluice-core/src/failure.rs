//! Failure classes: what an upstream outcome means for retry, cooldown and failover.
//!
//! The provider adapters map status codes and error bodies to a class; the dispatch policy acts on
//! the class only, so the same decisions hold for every provider.

use serde::Serialize;

/// What kind of failure an upstream attempt ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Connect errors, timeouts, 500/502/503/504/529: retry the same target with backoff.
    Transient,
    /// 429, or a provider's "rate limit"/"overloaded" error body: cool the key down, use another.
    RateLimited,
    /// 401/403: the key is bad; take it out of rotation and move on without waiting.
    Credential,
    /// 402 or `insufficient_quota`: the key has no money left; out of rotation, move on.
    Quota,
    /// 400/404/413/422: the caller's request is wrong; answer at once, no retry, no failover.
    Caller,
}

impl FailureClass {
    /// The class an HTTP status alone implies (adapters refine it from the body).
    pub fn from_status(status: u16) -> Option<FailureClass> {
        Some(match status {
            429 => FailureClass::RateLimited,
            401 | 403 => FailureClass::Credential,
            402 => FailureClass::Quota,
            400 | 404 | 405 | 409 | 413 | 415 | 422 => FailureClass::Caller,
            408 | 500..=599 => FailureClass::Transient,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Transient => "transient",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::Credential => "credential",
            FailureClass::Quota => "quota",
            FailureClass::Caller => "caller",
        }
    }
}
