use std::time::Duration;

use http::HeaderMap;
use serde_json::json;
use sluice_core::{FailureClass, ProviderKind};

use super::{classify, in_stream_error};

fn classify_body(kind: ProviderKind, status: u16, body: &str) -> super::UpstreamError {
    classify(kind, status, &HeaderMap::new(), body.as_bytes(), 0)
}

const OPENAI_429_RATE_LIMIT: &str = r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
const OPENAI_429_QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
const OPENAI_401: &str = r#"{"error":{"message":"Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
const OPENAI_400_CONTEXT: &str = r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
const OPENAI_500: &str = r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#;
const ANTHROPIC_529: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
const ANTHROPIC_429: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;
const ANTHROPIC_400: &str = r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#;
const ANTHROPIC_400_CREDIT: &str = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#;
const ANTHROPIC_401: &str =
    r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
const ANTHROPIC_403: &str = r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#;
const ANTHROPIC_404: &str =
    r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}"#;
const ANTHROPIC_413: &str = r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}"#;
const ANTHROPIC_500: &str =
    r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#;

#[test]
fn classification_table() {
    use FailureClass::*;
    use ProviderKind::{Anthropic, Openai};
    let table: &[(ProviderKind, u16, &str, FailureClass)] = &[
        (Openai, 429, OPENAI_429_RATE_LIMIT, RateLimited),
        (Openai, 429, OPENAI_429_QUOTA, Quota),
        (Openai, 401, OPENAI_401, Credential),
        (Openai, 403, "", Credential),
        (Openai, 402, "", Quota),
        (Openai, 400, OPENAI_400_CONTEXT, Caller),
        (Openai, 404, "", Caller),
        (Openai, 422, "", Caller),
        (Openai, 408, "", Transient),
        (Openai, 500, OPENAI_500, Transient),
        (Openai, 502, "<html>bad gateway</html>", Transient),
        (Openai, 503, "", Transient),
        (Openai, 504, "", Transient),
        (Openai, 418, "", Caller),
        (Openai, 200, "", Transient),
        (Openai, 302, "", Transient),
        (Anthropic, 529, ANTHROPIC_529, RateLimited),
        (Anthropic, 429, ANTHROPIC_429, RateLimited),
        (Anthropic, 400, ANTHROPIC_400, Caller),
        (Anthropic, 400, ANTHROPIC_400_CREDIT, Quota),
        (Anthropic, 401, ANTHROPIC_401, Credential),
        (Anthropic, 403, ANTHROPIC_403, Credential),
        (Anthropic, 404, ANTHROPIC_404, Caller),
        (Anthropic, 413, ANTHROPIC_413, Caller),
        (Anthropic, 500, ANTHROPIC_500, Transient),
        // An overloaded body behind a plain 503 (some proxies rewrite 529).
        (Anthropic, 503, ANTHROPIC_529, RateLimited),
    ];
    for &(kind, status, body, expected) in table {
        let got = classify_body(kind, status, body);
        assert_eq!(got.class, expected, "{kind:?} {status} {body}");
        assert_eq!(got.status, Some(status));
        assert_eq!(got.provider, kind);
    }
}

#[test]
fn anthropic_overloaded_error_is_rate_limited() {
    let got = classify_body(ProviderKind::Anthropic, 529, ANTHROPIC_529);
    assert_eq!(got.class, FailureClass::RateLimited);
    assert_eq!(got.error_type.as_deref(), Some("overloaded_error"));
    assert_eq!(got.message, "Overloaded");
}

#[test]
fn openai_insufficient_quota_on_429_is_quota_not_rate_limit() {
    let got = classify_body(ProviderKind::Openai, 429, OPENAI_429_QUOTA);
    assert_eq!(got.class, FailureClass::Quota);
    assert_eq!(got.code.as_deref(), Some("insufficient_quota"));
    assert_eq!(got.error_type.as_deref(), Some("insufficient_quota"));
}

#[test]
fn openai_error_fields_are_kept() {
    let got = classify_body(ProviderKind::Openai, 400, OPENAI_400_CONTEXT);
    assert_eq!(
        got.message,
        "This model's maximum context length is 128000 tokens."
    );
    assert_eq!(got.error_type.as_deref(), Some("invalid_request_error"));
    assert_eq!(got.code.as_deref(), Some("context_length_exceeded"));
    assert_eq!(got.param.as_deref(), Some("messages"));
}

#[test]
fn rate_limit_exceeded_code_makes_any_status_rate_limited() {
    let got = classify_body(ProviderKind::Openai, 400, OPENAI_429_RATE_LIMIT);
    assert_eq!(got.class, FailureClass::RateLimited);
}

#[test]
fn non_json_body_becomes_the_message_truncated() {
    let body = "x".repeat(2_000);
    let got = classify_body(ProviderKind::Openai, 502, &body);
    assert_eq!(got.class, FailureClass::Transient);
    assert_eq!(got.message.chars().count(), 501);
    assert!(got.message.ends_with('…'));
    assert_eq!(got.error_type, None);
}

#[test]
fn truncation_respects_multibyte_characters() {
    let body = "é".repeat(600);
    let got = classify_body(ProviderKind::Openai, 500, &body);
    assert_eq!(got.message, format!("{}…", "é".repeat(500)));
}

#[test]
fn empty_body_message_names_the_status() {
    let got = classify_body(ProviderKind::Openai, 503, "");
    assert_eq!(got.message, "HTTP 503 Service Unavailable");
}

#[test]
fn plain_string_error_envelope_gives_the_message() {
    let got = classify_body(
        ProviderKind::Openai,
        404,
        r#"{"error":"model 'llama9' not found"}"#,
    );
    assert_eq!(got.message, "model 'llama9' not found");
    assert_eq!(got.class, FailureClass::Caller);
}

#[test]
fn array_wrapped_error_envelope_is_read() {
    let body = r#"[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}]"#;
    let got = classify_body(ProviderKind::Openai, 429, body);
    assert_eq!(got.message, "Resource has been exhausted");
    assert_eq!(got.code.as_deref(), Some("429"));
    assert_eq!(got.class, FailureClass::RateLimited);
}

#[test]
fn json_without_error_fields_keeps_the_raw_text() {
    let got = classify_body(ProviderKind::Openai, 500, r#"{"oops":true}"#);
    assert_eq!(got.message, r#"{"oops":true}"#);
}

#[test]
fn rate_limit_is_filled_from_headers() {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "3".parse().expect("header"));
    let got = classify(
        ProviderKind::Anthropic,
        429,
        &headers,
        ANTHROPIC_429.as_bytes(),
        0,
    );
    assert_eq!(got.rate_limit.retry_after, Some(Duration::from_secs(3)));
}

#[test]
fn in_stream_errors_are_classified_without_status() {
    use FailureClass::*;
    let table = [
        (
            json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
            RateLimited,
        ),
        (
            json!({"type":"error","error":{"type":"api_error","message":"boom"}}),
            Transient,
        ),
        (
            json!({"type":"error","error":{"type":"invalid_request_error","message":"bad"}}),
            Caller,
        ),
        (
            json!({"type":"error","error":{"type":"authentication_error","message":"key"}}),
            Credential,
        ),
        (
            json!({"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}),
            Quota,
        ),
        (
            json!({"error":{"message":"slow down","code":429}}),
            RateLimited,
        ),
        (
            json!({"error":{"message":"The server had an error","type":"server_error"}}),
            Transient,
        ),
    ];
    for (value, expected) in table {
        let got = in_stream_error(ProviderKind::Openai, &value).expect("an error");
        assert_eq!(got.class, expected, "{value}");
        assert_eq!(got.status, None);
    }
}

#[test]
fn in_stream_value_without_error_is_not_an_error() {
    let chunk = json!({"id":"chatcmpl-1","choices":[]});
    assert_eq!(in_stream_error(ProviderKind::Openai, &chunk), None);
}
