//! Every way a request can fail, with its HTTP status and its body in the client's wire format.

use bytes::Bytes;
use http::StatusCode;
use sluice_providers::{UpstreamError, ingress};
use thiserror::Error;

/// Which wire format the client speaks: errors and responses are rendered in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    OpenAi,
    Anthropic,
}

#[derive(Debug, Error)]
pub enum GatewayError {
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<String>,
        code: &'static str,
    },
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{message}")]
    Forbidden { message: String, code: &'static str },
    /// A rate limit (429) or budget (402) of the key, its team, customer or provider config.
    #[error("{0}")]
    LimitExceeded(Box<sluice_core::limits::Refusal>),
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("provider '{provider}' is not configured; configured providers: {known}")]
    UnknownProvider { provider: String, known: String },
    #[error(
        "provider '{provider}' has no API key: set the environment variable {env_var} (or configure providers.{provider}.keys)"
    )]
    MissingApiKey {
        provider: String,
        env_var: &'static str,
    },
    /// The upstream answered with an error; passed through with its status.
    #[error("{}", upstream_message(.error, *.attempts))]
    Upstream {
        error: Box<UpstreamError>,
        provider: String,
        attempts: u32,
    },
    #[error("could not reach provider '{provider}': {detail} (after {attempts} attempt(s))")]
    Unreachable {
        provider: String,
        detail: String,
        attempts: u32,
    },
    #[error(
        "provider '{provider}' did not answer within {timeout_ms} ms (after {attempts} attempt(s))"
    )]
    Timeout {
        provider: String,
        timeout_ms: u64,
        attempts: u32,
    },
    #[error("provider '{provider}' answered with an invalid body: {detail}")]
    BadUpstreamBody { provider: String, detail: String },
}

fn upstream_message(e: &UpstreamError, attempts: u32) -> String {
    let status = e
        .status
        .map(|s| format!(" (status {s})"))
        .unwrap_or_default();
    if attempts > 1 {
        format!(
            "{}{status}: {} [after {attempts} attempts]",
            e.provider.as_str(),
            e.message
        )
    } else {
        format!("{}{status}: {}", e.provider.as_str(), e.message)
    }
}

impl GatewayError {
    pub fn bad_request(message: impl Into<String>, param: Option<&str>) -> Self {
        GatewayError::BadRequest {
            message: message.into(),
            param: param.map(str::to_string),
            code: "invalid_request",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest { .. }
            | GatewayError::UnknownProvider { .. }
            | GatewayError::MissingApiKey { .. } => StatusCode::BAD_REQUEST,
            GatewayError::LimitExceeded(r) if r.is_budget() => StatusCode::PAYMENT_REQUIRED,
            GatewayError::LimitExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden { .. } => StatusCode::FORBIDDEN,
            GatewayError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            GatewayError::Upstream { error, .. } => error
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::BAD_GATEWAY),
            GatewayError::Unreachable { .. } | GatewayError::BadUpstreamBody { .. } => {
                StatusCode::BAD_GATEWAY
            }
            GatewayError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// OpenAI's `type` for this error.
    fn openai_type(&self) -> &str {
        match self {
            GatewayError::Upstream { error, .. } => {
                error.error_type.as_deref().unwrap_or(match error.status {
                    Some(429) => "rate_limit_error",
                    Some(s) if s < 500 => "invalid_request_error",
                    _ => "api_error",
                })
            }
            GatewayError::LimitExceeded(r) if r.is_budget() => "insufficient_quota",
            GatewayError::LimitExceeded(_) => "rate_limit_error",
            GatewayError::Unauthorized { .. } => "authentication_error",
            GatewayError::Forbidden { .. } => "permission_error",
            e if e.status().is_client_error() => "invalid_request_error",
            _ => "api_error",
        }
    }

    /// The error's `code` in the client's error body (`rate_limit_exceeded`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            GatewayError::BadRequest { code, .. } => Some(code),
            GatewayError::LimitExceeded(r) if r.is_budget() => Some("budget_exceeded"),
            GatewayError::LimitExceeded(_) => Some("rate_limit_exceeded"),
            GatewayError::Unauthorized { .. } => Some("invalid_api_key"),
            GatewayError::Forbidden { code, .. } => Some(code),
            GatewayError::PayloadTooLarge { .. } => Some("request_too_large"),
            GatewayError::RouteNotFound { .. } => Some("route_not_found"),
            GatewayError::UnknownProvider { .. } => Some("unknown_provider"),
            GatewayError::MissingApiKey { .. } => Some("missing_provider_key"),
            GatewayError::Upstream { error, .. } => error.code.as_deref(),
            GatewayError::Unreachable { .. } => Some("upstream_unreachable"),
            GatewayError::Timeout { .. } => Some("upstream_timeout"),
            GatewayError::BadUpstreamBody { .. } => Some("bad_upstream_response"),
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            GatewayError::BadRequest { param, .. } => param.as_deref(),
            GatewayError::UnknownProvider { .. } | GatewayError::MissingApiKey { .. } => {
                Some("model")
            }
            GatewayError::Upstream { error, .. } => error.param.as_deref(),
            _ => None,
        }
    }

    /// The error body in the client's wire format.
    pub fn body(&self, ingress: Ingress) -> Bytes {
        let message = self.to_string();
        match ingress {
            Ingress::OpenAi => {
                ingress::openai::error_body(&message, self.openai_type(), self.code(), self.param())
            }
            Ingress::Anthropic => ingress::anthropic::error_body(
                ingress::anthropic::error_type_for_status(self.status().as_u16()),
                &message,
            ),
        }
    }

    /// The error as a mid-stream OpenAI SSE event. (Anthropic streams render errors through
    /// their own `EventEncoder`, which knows the stream's state.)
    pub fn openai_stream_event(&self) -> Bytes {
        ingress::openai::sse_error(&self.to_string(), self.openai_type(), self.code())
    }

    /// How many upstream attempts were made, for errors that come from dispatch.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            GatewayError::Upstream { attempts, .. }
            | GatewayError::Unreachable { attempts, .. }
            | GatewayError::Timeout { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    /// Upstream `retry-after` to pass on to the client, in whole seconds.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            GatewayError::LimitExceeded(r) => {
                let wait = r.retry_after.unwrap_or(r.reset_in);
                Some(wait.as_secs_f64().ceil() as u64)
            }
            GatewayError::Upstream { error, .. } => error
                .rate_limit
                .retry_after
                .map(|d| d.as_secs_f64().ceil() as u64),
            _ => None,
        }
    }
}
