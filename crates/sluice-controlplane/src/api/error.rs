//! Admin API errors, in the OpenAI error shape the rest of the gateway uses:
//! `{"error": {"message", "type", "param"}}`. `param` names the offending field (a path such as
//! `provider_configs[0].rate_limit.request_max_limit`) or is `null`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sluice_store::StoreError;

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    param: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: String, param: Option<String>) -> Self {
        ApiError {
            status,
            kind,
            message,
            param,
        }
    }

    /// 400 about field `param`; the message starts with the field's name.
    pub(crate) fn invalid(param: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("{param}: {message}"),
            Some(param.to_string()),
        )
    }

    /// 400 about the body as a whole (not JSON, not an object).
    pub(crate) fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message.into(),
            None,
        )
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            message.into(),
            None,
        )
    }

    /// 409: the request conflicts with what is stored (exists already, still has children).
    /// With `param`, the message starts with the field's name, as for 400s.
    pub(crate) fn conflict(param: Option<&str>, message: impl Into<String>) -> Self {
        let message = match param {
            Some(p) => format!("{p}: {}", message.into()),
            None => message.into(),
        };
        Self::new(
            StatusCode::CONFLICT,
            "conflict_error",
            message,
            param.map(str::to_string),
        )
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            message.into(),
            None,
        )
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            message.into(),
            None,
        )
    }
}

#[cfg(test)]
impl ApiError {
    pub(crate) fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }
}

impl From<crate::ControlPlaneError> for ApiError {
    fn from(e: crate::ControlPlaneError) -> Self {
        match e {
            crate::ControlPlaneError::Store(e) => e.into(),
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                other.to_string(),
                None,
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // The API checks references and uniqueness first; reaching a constraint means a
            // concurrent writer outside our locking or a bug. Still the client's request conflicts.
            StoreError::Constraint(m) => Self::conflict(None, m),
            other => {
                tracing::error!(error = %other, "admin API storage error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    format!("storage error: {other}"),
                    None,
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sluice-admin\""),
            );
        }
        response
    }
}
