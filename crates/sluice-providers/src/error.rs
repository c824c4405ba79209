//! Typed errors of encoding, decoding and upstream failures.

use sluice_core::FailureClass;
use sluice_core::ProviderKind;
use thiserror::Error;

use crate::RateLimitInfo;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("{provider} does not support {operation}")]
    Unsupported {
        provider: &'static str,
        operation: &'static str,
    },
    /// The request cannot be expressed for this provider; `param` names the field.
    #[error("{message}")]
    Invalid {
        param: Option<String>,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("upstream answered with an invalid body: {0}")]
    Invalid(String),
}

/// A failed upstream attempt, classified.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{} returned {status:?}: {message}", provider.as_str())]
pub struct UpstreamError {
    pub provider: ProviderKind,
    /// HTTP status; `None` for an error inside a stream that had already answered 200.
    pub status: Option<u16>,
    pub class: FailureClass,
    /// The upstream's own message, or a description of what went wrong.
    pub message: String,
    /// The upstream's error type (`rate_limit_error`, `invalid_request_error`, ...).
    pub error_type: Option<String>,
    /// The upstream's error code (`rate_limit_exceeded`, `insufficient_quota`, ...).
    pub code: Option<String>,
    pub param: Option<String>,
    pub rate_limit: RateLimitInfo,
}

/// See [`crate::classify_error`].
pub fn classify(
    kind: ProviderKind,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    now_unix_secs: u64,
) -> UpstreamError {
    let _ = (kind, status, headers, body, now_unix_secs);
    todo!(
        "classify by status, then refine from the body (rate limit / overloaded / insufficient_quota)"
    )
}
