//! Typed errors of encoding, decoding and upstream failures.

use serde_json::Value;
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

impl EncodeError {
    /// An [`EncodeError::Invalid`] naming the offending field.
    pub(crate) fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        EncodeError::Invalid {
            param: Some(param.into()),
            message: message.into(),
        }
    }
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

impl UpstreamError {
    /// A stream that broke without an error body of its own (truncated, unparsable).
    pub(crate) fn broken_stream(provider: ProviderKind, message: impl Into<String>) -> Self {
        UpstreamError {
            provider,
            status: None,
            class: FailureClass::Transient,
            message: message.into(),
            error_type: None,
            code: None,
            param: None,
            rate_limit: RateLimitInfo::default(),
        }
    }
}

/// Longest upstream text kept as a message (an HTML error page must not flood logs or clients).
const MAX_MESSAGE_CHARS: usize = 500;

/// See [`crate::classify_error`].
///
/// The status gives the class ([`FailureClass::from_status`]; other 4xx are the caller's fault,
/// anything else is transient), then the body refines it where providers are more specific
/// than their status: OpenAI's `insufficient_quota` arrives as a 429 but means the key has no
/// money left; Anthropic's `overloaded_error` (529) means "go elsewhere", like a 429.
pub fn classify(
    kind: ProviderKind,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    now_unix_secs: u64,
) -> UpstreamError {
    let fields = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| ErrorFields::from_value(&v))
        .unwrap_or_default();
    let class = fields
        .decisive_class()
        .unwrap_or_else(|| status_class(status));
    let message = match fields.message {
        Some(m) => m,
        None => body_text(status, body),
    };
    UpstreamError {
        provider: kind,
        status: Some(status),
        class,
        message,
        error_type: fields.error_type,
        code: fields.code,
        param: fields.param,
        rate_limit: RateLimitInfo::from_headers(headers, now_unix_secs),
    }
}

/// An error reported inside a stream that already answered 200 (an OpenAI `{"error": ...}` data
/// line, an Anthropic `error` event). `None` if `value` carries no `error`.
pub(crate) fn in_stream_error(kind: ProviderKind, value: &Value) -> Option<UpstreamError> {
    value.get("error")?;
    let fields = ErrorFields::from_value(value)?;
    let class = fields.class_without_status();
    Some(UpstreamError {
        provider: kind,
        status: None,
        class,
        message: fields
            .message
            .unwrap_or_else(|| "upstream reported an error in the stream".to_string()),
        error_type: fields.error_type,
        code: fields.code,
        param: fields.param,
        rate_limit: RateLimitInfo::default(),
    })
}

fn status_class(status: u16) -> FailureClass {
    FailureClass::from_status(status).unwrap_or(if (400..500).contains(&status) {
        FailureClass::Caller
    } else {
        // 2xx/3xx reaching the classifier are unexpected answers (a redirect, an empty 204).
        FailureClass::Transient
    })
}

/// The message when the body has none: its text, truncated, or the status line.
fn body_text(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unknown status");
        return format!("HTTP {status} {reason}");
    }
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The fields of an error body, whichever envelope carried them.
#[derive(Debug, Default)]
struct ErrorFields {
    message: Option<String>,
    error_type: Option<String>,
    code: Option<String>,
    param: Option<String>,
}

impl ErrorFields {
    /// OpenAI `{"error": {"message", "type", "code", "param"}}`, Anthropic `{"type": "error",
    /// "error": {"type", "message"}}`, `{"error": "text"}` (ollama), a one-element array of
    /// either (Gemini's OpenAI endpoint), or a top-level `message`/`detail` (FastAPI servers).
    fn from_value(v: &Value) -> Option<ErrorFields> {
        let v = match v {
            Value::Array(items) => items.first()?,
            v => v,
        };
        match v.get("error") {
            Some(Value::Object(e)) => Some(ErrorFields {
                message: e.get("message").and_then(scalar_string),
                error_type: e.get("type").and_then(scalar_string),
                code: e.get("code").and_then(scalar_string),
                param: e.get("param").and_then(scalar_string),
            }),
            Some(Value::String(message)) => Some(ErrorFields {
                message: Some(message.clone()),
                ..ErrorFields::default()
            }),
            _ => {
                let message = v.get("message").or_else(|| v.get("detail"));
                Some(ErrorFields {
                    message: Some(message.and_then(scalar_string)?),
                    ..ErrorFields::default()
                })
            }
        }
    }

    fn is(&self, name: &str) -> bool {
        self.error_type.as_deref() == Some(name) || self.code.as_deref() == Some(name)
    }

    /// A class the body states outright, overriding the status.
    fn decisive_class(&self) -> Option<FailureClass> {
        // Anthropic answers an empty prepaid balance with a 400 invalid_request_error.
        let credit_exhausted = self
            .message
            .as_deref()
            .is_some_and(|m| m.contains("credit balance is too low"));
        if self.is("insufficient_quota") || self.is("billing_error") || credit_exhausted {
            Some(FailureClass::Quota)
        } else if self.is("rate_limit_exceeded")
            || self.is("rate_limit_error")
            || self.is("overloaded_error")
        {
            Some(FailureClass::RateLimited)
        } else {
            None
        }
    }

    /// The class of an in-stream error, which has no status of its own.
    fn class_without_status(&self) -> FailureClass {
        if let Some(class) = self.decisive_class() {
            return class;
        }
        // Some OpenAI-compatible servers put the HTTP status in `code`.
        if let Some(status) = self.code.as_deref().and_then(|c| c.parse::<u16>().ok()) {
            return status_class(status);
        }
        if self.is("authentication_error")
            || self.is("permission_error")
            || self.is("invalid_api_key")
        {
            FailureClass::Credential
        } else if self.is("invalid_request_error")
            || self.is("not_found_error")
            || self.is("request_too_large")
        {
            FailureClass::Caller
        } else {
            FailureClass::Transient
        }
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
