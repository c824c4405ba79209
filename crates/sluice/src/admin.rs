//! Who may use the admin API (`/api/*`): with `SLUICE_ADMIN_TOKEN` set, whoever presents it
//! (the control plane's router checks it); without one, only a loopback listen address serves
//! it, because anyone who can reach the port could otherwise read and change every provider key.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use http::StatusCode;
use sluice_controlplane::{AdminExposure, ControlPlane, UnprotectedAdminApi, check_admin_exposure};

/// How the admin API is exposed on `listen`; the policy itself is the control plane's
/// [`check_admin_exposure`].
#[derive(Debug, Clone)]
pub enum AdminAccess {
    /// Requests must carry `Authorization: Bearer <token>`.
    Token(String),
    /// No token, but only this machine can connect.
    LoopbackOnly,
    /// No token on a reachable address: the API answers 403 and says how to turn it on (the
    /// rest of the process still serves, so a data plane's inference is not held hostage).
    Disabled(UnprotectedAdminApi),
}

impl AdminAccess {
    pub fn decide(listen: SocketAddr, token: Option<String>) -> AdminAccess {
        let token = token.filter(|t| !t.trim().is_empty());
        match (check_admin_exposure(listen, token.as_deref()), token) {
            (Ok(AdminExposure::TokenProtected), Some(t)) => AdminAccess::Token(t),
            (Ok(_), _) => AdminAccess::LoopbackOnly,
            (Err(refused), _) => AdminAccess::Disabled(refused),
        }
    }

    /// Says at start-up how the admin API is exposed.
    pub fn log(&self, listen: SocketAddr) {
        match self {
            AdminAccess::Token(_) => {
                tracing::info!(%listen, "admin API at /api (bearer token required)")
            }
            AdminAccess::LoopbackOnly => tracing::warn!(
                %listen,
                "admin API at /api WITHOUT authentication, on a loopback address only; set SLUICE_ADMIN_TOKEN to protect it or to serve it on other addresses"
            ),
            AdminAccess::Disabled(why) => {
                tracing::warn!(%listen, "admin API DISABLED (every /api request answers 403): {why}")
            }
        }
    }

    /// The router that answers `/api/*`.
    pub fn router(&self, control_plane: &Arc<ControlPlane>) -> Router {
        match self {
            AdminAccess::Token(t) => control_plane.router(Some(t.clone())),
            AdminAccess::LoopbackOnly => control_plane.router(None),
            AdminAccess::Disabled(why) => {
                let message = format!("the admin API is disabled: {why}");
                Router::new().fallback(move || {
                    let body = serde_json::json!({"error": {
                        "message": message,
                        "type": "permission_error",
                        "code": "admin_api_disabled",
                    }});
                    async move { (StatusCode::FORBIDDEN, Json(body)) }
                })
            }
        }
    }
}

/// Whether a request path belongs to the admin API rather than to the gateway.
pub fn is_admin_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_always_enables_the_api() {
        let t = Some("secret".to_string());
        let access = AdminAccess::decide(addr("0.0.0.0:8080"), t);
        assert!(matches!(access, AdminAccess::Token(t) if t == "secret"));
    }

    #[test]
    fn without_a_token_only_loopback_serves_the_api() {
        for (local, token) in [("127.0.0.1:8080", None), ("[::1]:8080", Some("  ".into()))] {
            let access = AdminAccess::decide(addr(local), token);
            assert!(matches!(access, AdminAccess::LoopbackOnly), "{local}");
        }
        for public in ["0.0.0.0:8080", "10.1.2.3:8080"] {
            for token in [None, Some(String::new())] {
                let access = AdminAccess::decide(addr(public), token);
                assert!(matches!(access, AdminAccess::Disabled(_)), "{public}");
            }
        }
    }

    #[test]
    fn only_api_paths_are_admin_paths() {
        assert!(is_admin_path("/api"));
        assert!(is_admin_path("/api/providers"));
        assert!(!is_admin_path("/apix"));
        assert!(!is_admin_path("/v1/chat/completions"));
    }
}
