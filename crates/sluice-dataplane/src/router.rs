//! Maps method and path to a handler. Every inference route goes through the one pipeline.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use sluice_core::wire::{ModelEntry, ModelList};
use sluice_providers::ingress;
use tracing::Instrument;

use crate::Gateway;
use crate::body::{GatewayBody, error_response, json_response};
use crate::error::{GatewayError, Ingress};
use crate::pipeline::ingress::Endpoint;

/// Handles one HTTP request.
pub async fn route(gw: Arc<Gateway>, req: http::Request<Incoming>) -> Response<GatewayBody> {
    let path = req.uri().path();
    let endpoint = match path {
        "/v1/chat/completions" | "/chat/completions" => Some(Endpoint::ChatCompletions),
        "/v1/completions" | "/completions" => Some(Endpoint::Completions),
        "/v1/embeddings" | "/embeddings" => Some(Endpoint::Embeddings),
        "/anthropic/v1/messages" => Some(Endpoint::AnthropicMessages),
        _ => None,
    };
    if let Some(endpoint) = endpoint {
        if req.method() != Method::POST {
            return method_not_allowed(endpoint.ingress(), req.method());
        }
        if !gw.is_ready() {
            return not_ready(endpoint.ingress());
        }
        let span = crate::spans::request(endpoint, req.headers());
        return gw.serve_inference(endpoint, req).instrument(span).await;
    }
    match (req.method(), path) {
        (&Method::GET, "/health") => json_response(StatusCode::OK, r#"{"status":"ok"}"#),
        (&Method::GET, "/ready") if !gw.is_ready() => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"waiting for config"}"#,
        ),
        (&Method::GET, "/ready") => {
            let v = gw.runtime().snapshot.version;
            json_response(
                StatusCode::OK,
                format!(r#"{{"status":"ready","config_version":{v}}}"#),
            )
        }
        (&Method::GET, "/v1/models" | "/models") => models(&gw),
        (&Method::GET, "/metrics") => {
            crate::metrics::record_limit_usage(&gw);
            let mut res = Response::new(crate::body::full(crate::metrics::render()));
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            res
        }
        _ => {
            let ingress = if path.starts_with("/anthropic/") {
                Ingress::Anthropic
            } else {
                Ingress::OpenAi
            };
            error_response(
                &GatewayError::RouteNotFound {
                    method: req.method().to_string(),
                    path: path.to_string(),
                },
                ingress,
            )
        }
    }
}

fn method_not_allowed(ingress: Ingress, method: &Method) -> Response<GatewayBody> {
    let err = GatewayError::bad_request(
        format!("method {method} is not allowed here; use POST"),
        None,
    );
    let mut res = error_response(&err, ingress);
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
    res
}

/// A data plane that has no config yet (control plane not reached, nothing persisted) cannot
/// route anything; 503 tells clients and load balancers to try another replica.
fn not_ready(ingress: Ingress) -> Response<GatewayBody> {
    const MESSAGE: &str = "this data plane has no configuration yet (the control plane has not been reached); try again shortly";
    let body = match ingress {
        Ingress::OpenAi => {
            ingress::openai::error_body(MESSAGE, "api_error", Some("config_not_loaded"), None)
        }
        Ingress::Anthropic => ingress::anthropic::error_body("api_error", MESSAGE),
    };
    let mut res = json_response(StatusCode::SERVICE_UNAVAILABLE, body);
    res.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    res
}

/// `GET /v1/models`: every configured model as `provider/model`.
fn models(gw: &Gateway) -> Response<GatewayBody> {
    let rt = gw.runtime();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let data = rt
        .snapshot
        .providers()
        .iter()
        .flat_map(|p| {
            p.models.iter().map(move |m| ModelEntry {
                id: format!("{}/{m}", p.name),
                object: "model".into(),
                created,
                owned_by: p.name.clone(),
            })
        })
        .collect();
    let list = ModelList {
        object: "list".into(),
        data,
    };
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&list).unwrap_or_default(),
    )
}
