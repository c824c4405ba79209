//! Admin authentication: `SLUICE_ADMIN_TOKEN` as `Authorization: Bearer <token>` on every `/api`
//! route; without a token, the admin API may only be reachable from this machine.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::api::ApiError;

/// The environment variable holding the admin token.
pub const ADMIN_TOKEN_ENV: &str = "SLUICE_ADMIN_TOKEN";

/// `SLUICE_ADMIN_TOKEN`, or `None` when unset or blank (a blank token would protect nothing).
pub fn admin_token_from_env() -> Option<String> {
    std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
}

/// How the admin API is protected on a given listen address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminExposure {
    /// A token is required on every request.
    TokenProtected,
    /// No token, but the address is loopback: only local processes can reach it.
    LoopbackOnly,
}

/// The admin API would be open to the network: no token and a non-loopback address.
#[derive(Debug, Clone, Error)]
#[error(
    "the admin API would be served on {listen} without authentication: set {ADMIN_TOKEN_ENV}, or listen on a loopback address such as 127.0.0.1"
)]
pub struct UnprotectedAdminApi {
    pub listen: SocketAddr,
}

/// For the binary, before serving `/api` on `listen`: refuse an unprotected non-loopback
/// address, and tell it whether to log that the API is loopback-only.
///
/// ```
/// use sluice_controlplane::{AdminExposure, check_admin_exposure};
/// let local = "127.0.0.1:8080".parse().unwrap();
/// assert_eq!(check_admin_exposure(local, None).unwrap(), AdminExposure::LoopbackOnly);
/// assert!(check_admin_exposure("0.0.0.0:8080".parse().unwrap(), None).is_err());
/// assert!(check_admin_exposure("0.0.0.0:8080".parse().unwrap(), Some("t")).is_ok());
/// ```
pub fn check_admin_exposure(
    listen: SocketAddr,
    admin_token: Option<&str>,
) -> Result<AdminExposure, UnprotectedAdminApi> {
    if admin_token.is_some_and(|t| !t.trim().is_empty()) {
        Ok(AdminExposure::TokenProtected)
    } else if listen.ip().to_canonical().is_loopback() {
        Ok(AdminExposure::LoopbackOnly)
    } else {
        Err(UnprotectedAdminApi { listen })
    }
}

/// The middleware's state: the SHA-256 of the token, if one is set.
#[derive(Clone)]
pub(crate) struct AdminAuth {
    token_digest: Option<[u8; 32]>,
}

impl AdminAuth {
    pub(crate) fn new(token: Option<String>) -> AdminAuth {
        let token_digest = token.filter(|t| !t.trim().is_empty()).map(|t| digest(&t));
        AdminAuth { token_digest }
    }
}

/// Compares digests, not tokens: both sides are 32 bytes whatever was sent, so `subtle`'s
/// constant-time comparison does not even leak the token's length (`ct_eq` on slices of
/// different lengths returns early). `subtle` rather than a hand-rolled loop, because the
/// optimiser may turn a naive loop back into an early-exit comparison.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(crate) async fn require_admin(
    State(auth): State<AdminAuth>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = &auth.token_digest else {
        // No token: the binary binds loopback only (check_admin_exposure); if it serves with
        // connection info, also refuse a non-local peer here.
        if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
            && !peer.ip().to_canonical().is_loopback()
        {
            return ApiError::forbidden(format!(
                "the admin API has no {ADMIN_TOKEN_ENV} and only answers local clients"
            ))
            .into_response();
        }
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    match presented {
        Some(token) if bool::from(digest(token).ct_eq(expected)) => next.run(request).await,
        Some(_) => ApiError::unauthorized("invalid admin token").into_response(),
        None => ApiError::unauthorized(format!(
            "missing admin token: send Authorization: Bearer <{ADMIN_TOKEN_ENV}>"
        ))
        .into_response(),
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_whatever_the_scheme_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn ipv4_mapped_loopback_counts_as_loopback() {
        let addr = "[::ffff:127.0.0.1]:8080".parse().unwrap();
        assert_eq!(
            check_admin_exposure(addr, None).unwrap(),
            AdminExposure::LoopbackOnly
        );
        assert!(check_admin_exposure("[::]:8080".parse().unwrap(), Some(" ")).is_err());
    }
}
