//! A small hyper client for driving a `MockServer` in tests.
#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sluice_mock::{MockConfig, MockServer};

pub async fn start(config: MockConfig) -> MockServer {
    MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("mock starts")
}

/// A response read to the end, or to the error that cut it short.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body ended in an error (connection closed mid-stream).
    pub cut: bool,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// `data:` payloads of an SSE body, in order.
    pub fn sse_data(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(str::to_owned)
            .collect()
    }

    /// `event:` names of an SSE body, in order.
    pub fn sse_events(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("event: ")))
            .map(str::to_owned)
            .collect()
    }
}

pub async fn call(
    mock: &MockServer,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{}{path}", mock.base_url()));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let response = client.request(req).await.expect("mock answers");
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    let mut cut = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: bytes.into(),
        cut,
    }
}

/// `POST /v1/chat/completions` as `key`.
pub async fn chat(mock: &MockServer, key: &str, body: &str) -> Answer {
    let auth = format!("Bearer {key}");
    call(
        mock,
        Method::POST,
        "/v1/chat/completions",
        &[("authorization", &auth)],
        body,
    )
    .await
}

/// `POST /v1/messages` as `key`, with `anthropic-version`.
pub async fn messages(mock: &MockServer, key: &str, body: &str) -> Answer {
    call(
        mock,
        Method::POST,
        "/v1/messages",
        &[("x-api-key", key), ("anthropic-version", "2023-06-01")],
        body,
    )
    .await
}

pub const HELLO: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, Sluice!"}]}"#;
pub const HELLO_STREAM: &str = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello, Sluice!"}]}"#;
pub const CLAUDE: &str = r#"{"model":"claude-3-5-haiku-latest","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}"#;
pub const CLAUDE_STREAM: &str = r#"{"model":"claude-3-5-haiku-latest","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}"#;

pub async fn post_config(mock: &MockServer, patch: &str) -> Answer {
    call(mock, Method::POST, "/mock/config", &[], patch).await
}

pub async fn stats(mock: &MockServer) -> Value {
    call(mock, Method::GET, "/mock/stats", &[], "").await.json()
}
