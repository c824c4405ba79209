//! The mock's own endpoints: `GET /health`, `GET|POST /mock/config`, `GET /mock/stats`,
//! `POST /mock/reset`. Errors use the OpenAI shape.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::body::MockBody;
use crate::error::ApiError;
use crate::headers::Wire;
use crate::pipeline::error_response;
use crate::state::MockState;

const MAX_CONFIG_BODY: usize = 1024 * 1024;

static HEALTH: &[u8] = br#"{"status":"ok"}"#;

pub(crate) fn health() -> Response<MockBody> {
    json(StatusCode::OK, Bytes::from_static(HEALTH))
}

pub(crate) fn get_config(state: &MockState) -> Response<MockBody> {
    json_value(&serde_json::to_value(state.config()).expect("config serializes"))
}

/// Merges the body into the current config (RFC 7396) and answers with the result.
pub(crate) async fn post_config(state: &MockState, body: Incoming) -> Response<MockBody> {
    let bytes = match Limited::new(body, MAX_CONFIG_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return error_response(Wire::OpenAi, &ApiError::BodyTooLarge),
    };
    let patch: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(patch) => patch,
        Err(e) => return error_response(Wire::OpenAi, &ApiError::BadJson(e.to_string())),
    };
    // Two concurrent patches may race; the mock is configured by one test or operator at a time.
    match state.config().merged(&patch) {
        Ok(config) => {
            state.set_config(config);
            get_config(state)
        }
        Err(e) => error_response(
            Wire::OpenAi,
            &ApiError::InvalidRequest {
                message: e.to_string(),
                param: None,
            },
        ),
    }
}

pub(crate) fn stats(state: &MockState) -> Response<MockBody> {
    json_value(&state.stats())
}

pub(crate) fn reset(state: &MockState) -> Response<MockBody> {
    state.reset();
    json_value(&state.stats())
}

fn json_value(value: &serde_json::Value) -> Response<MockBody> {
    json(
        StatusCode::OK,
        serde_json::to_vec(value).expect("JSON serializes").into(),
    )
}

pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<MockBody> {
    let mut response = Response::new(MockBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
