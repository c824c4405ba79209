//! OpenAI wire format: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
//! `/v1/models`, and OpenAI-shaped errors
//! (`{"error":{"message","type","param","code"}}`).

pub(crate) mod chat;
pub(crate) mod completions;
pub(crate) mod embeddings;

use bytes::Bytes;
use serde::Serialize;

use crate::error::ApiError;
use crate::headers::go_duration;
use crate::limits::LimitKind;
use crate::reply::{Finish, Reply};

pub(crate) const SYSTEM_FINGERPRINT: &str = "fp_sluice_mock";

/// `usage` of chat and text completions.
#[derive(Debug, Serialize)]
pub(crate) struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct PromptTokensDetails {
    pub cached_tokens: u32,
    pub audio_tokens: u32,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct CompletionTokensDetails {
    pub reasoning_tokens: u32,
    pub audio_tokens: u32,
    pub accepted_prediction_tokens: u32,
    pub rejected_prediction_tokens: u32,
}

impl Usage {
    /// Chat usage, with the zeroed detail blocks the real API sends.
    pub fn chat(reply: &Reply) -> Usage {
        Usage {
            prompt_tokens_details: Some(PromptTokensDetails::default()),
            completion_tokens_details: Some(CompletionTokensDetails::default()),
            ..Usage::plain(reply)
        }
    }

    pub fn plain(reply: &Reply) -> Usage {
        Usage {
            prompt_tokens: reply.prompt_tokens,
            completion_tokens: reply.completion_tokens,
            total_tokens: reply.prompt_tokens.saturating_add(reply.completion_tokens),
            prompt_tokens_details: None,
            completion_tokens_details: None,
        }
    }
}

pub(crate) fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// The error body OpenAI would send for `err`.
pub(crate) fn error_body(err: &ApiError) -> Bytes {
    let (kind, code, message): (&str, Option<&str>, String) = match err {
        ApiError::BadJson(detail) => (
            "invalid_request_error",
            None,
            format!(
                "We could not parse the JSON body of your request. (HINT: This likely means \
                 you aren't using your HTTP library correctly. The OpenAI API expects a JSON \
                 payload, but what was sent was not valid JSON.) (sluice mock: {detail})"
            ),
        ),
        ApiError::MissingParam(_) => (
            "invalid_request_error",
            Some("missing_required_parameter"),
            err.to_string(),
        ),
        ApiError::MissingKey => (
            "invalid_request_error",
            None,
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                .to_owned(),
        ),
        ApiError::InvalidKey(label) => (
            "invalid_request_error",
            Some("invalid_api_key"),
            format!(
                "Incorrect API key provided: {label}. This sluice mock accepts only its allowed_keys."
            ),
        ),
        ApiError::RateLimited { refusal, model } => {
            let (kind, unit) = match refusal.kind {
                LimitKind::Requests => ("requests", "requests per min (RPM)"),
                LimitKind::Tokens => ("tokens", "tokens per min (TPM)"),
            };
            let message = if refusal.never_fits() {
                format!(
                    "Request too large for {model} on {unit}: Limit {}, Requested {}. The input \
                     or output tokens must be reduced in order to run successfully.",
                    refusal.limit, refusal.requested
                )
            } else {
                format!(
                    "Rate limit reached for {unit} on {model}: Limit {}, Used {}, Requested {}. \
                     Please try again in {}.",
                    refusal.limit,
                    refusal.used,
                    refusal.requested,
                    go_duration(refusal.retry_after)
                )
            };
            (kind, Some("rate_limit_exceeded"), message)
        }
        ApiError::Fault(fault) => {
            let (kind, code, message) = fault_kind(fault.status);
            (kind, code, message.to_owned())
        }
        ApiError::NotFound(what) => (
            "invalid_request_error",
            None,
            format!("Invalid URL ({what})"),
        ),
        _ => ("invalid_request_error", None, err.to_string()),
    };
    let body = ErrorBody {
        error: ErrorDetail {
            message: &message,
            kind,
            param: err.param(),
            code,
        },
    };
    serde_json::to_vec(&body)
        .expect("error bodies serialize")
        .into()
}

/// Type, code and message OpenAI uses for a status.
fn fault_kind(status: u16) -> (&'static str, Option<&'static str>, &'static str) {
    match status {
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests (injected by sluice mock).",
        ),
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided (injected by sluice mock).",
        ),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
            "Forbidden (injected by sluice mock).",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it (injected by sluice mock).",
        ),
        400..=499 => (
            "invalid_request_error",
            None,
            "Invalid request (injected by sluice mock).",
        ),
        502..=504 | 529 => (
            "server_error",
            None,
            "The server is overloaded or not ready yet (injected by sluice mock).",
        ),
        _ => (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that! \
             (injected by sluice mock)",
        ),
    }
}

/// `GET /v1/models` for the configured list, built once per config change.
pub(crate) fn models_body(models: &[String]) -> Bytes {
    #[derive(Serialize)]
    struct Model<'a> {
        id: &'a str,
        object: &'static str,
        created: u64,
        owned_by: &'static str,
    }
    #[derive(Serialize)]
    struct List<'a> {
        object: &'static str,
        data: Vec<Model<'a>>,
    }
    let list = List {
        object: "list",
        data: models
            .iter()
            .map(|id| Model {
                id,
                object: "model",
                created: 1_700_000_000,
                owned_by: "sluice-mock",
            })
            .collect(),
    };
    serde_json::to_vec(&list).expect("models serialize").into()
}
