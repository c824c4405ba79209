//! Every way an inference request can be refused, independent of wire format. `openai.rs` and
//! `anthropic.rs` render them in their provider's error shape.

use http::StatusCode;

use crate::faults::Fault;
use crate::limits::Refusal;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("We could not parse the JSON body of your request: {0}")]
    BadJson(String),
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<&'static str>,
    },
    #[error("you must provide a model parameter")]
    MissingModel,
    #[error("Missing required parameter: '{0}'.")]
    MissingParam(&'static str),
    #[error("missing API key")]
    MissingKey,
    #[error("invalid API key {0}")]
    InvalidKey(String),
    #[error("anthropic-version: header is required")]
    MissingVersion,
    #[error("rate limited")]
    RateLimited {
        refusal: Box<Refusal>,
        model: String,
    },
    #[error("injected fault {}", .0.status)]
    Fault(Fault),
    #[error("request body too large")]
    BodyTooLarge,
    #[error("could not read the request body")]
    BodyUnreadable,
    #[error("Unknown request URL: {0}")]
    NotFound(String),
    #[error("method {0} not allowed here")]
    MethodNotAllowed(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadJson(_)
            | ApiError::InvalidRequest { .. }
            | ApiError::MissingModel
            | ApiError::MissingParam(_)
            | ApiError::MissingVersion
            | ApiError::BodyUnreadable => StatusCode::BAD_REQUEST,
            ApiError::MissingKey | ApiError::InvalidKey(_) => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Fault(f) => {
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// `param` of an OpenAI error, where one applies.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidRequest { param, .. } => *param,
            ApiError::MissingParam(p) => Some(p),
            _ => None,
        }
    }
}

/// A field's JSON type or value is wrong.
pub(crate) fn invalid(param: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param),
    }
}

/// A body that is not JSON is `BadJson`; JSON of the wrong shape names the problem.
pub(crate) fn from_json(e: serde_json::Error) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Data => ApiError::InvalidRequest {
            message: format!("Invalid request body: {e}"),
            param: None,
        },
        _ => ApiError::BadJson(e.to_string()),
    }
}
