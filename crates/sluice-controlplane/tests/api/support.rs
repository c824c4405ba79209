//! The test harness: a control plane on a test database, and requests through its router.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sluice_controlplane::{CONFIG_VERSION_HEADER, ControlPlane};
use sluice_store::testing::{TestDatabase, test_encryption_key};
use tower::ServiceExt;

pub struct TestApp {
    // Field order is drop order: the control plane (and its pool) goes before the database.
    pub cp: Arc<ControlPlane>,
    pub router: Router,
    pub db: TestDatabase,
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        Self::on(TestDatabase::sqlite(), None).await
    }

    pub async fn postgres() -> Option<TestApp> {
        Some(Self::on(TestDatabase::postgres().await?, None).await)
    }

    /// A control plane on `db`, its router protected by `token` if given.
    pub async fn on(db: TestDatabase, token: Option<&str>) -> TestApp {
        let cp = ControlPlane::open(db.url(), test_encryption_key(), None)
            .await
            .unwrap_or_else(|e| panic!("open the control plane: {e}"));
        let router = cp.router(token.map(str::to_string));
        TestApp { cp, router, db }
    }

    /// A request with a JSON body (or none).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let text = body.map(|b| b.to_string());
        self.call_text(method, path, text.as_deref()).await
    }

    /// A request with a body sent as is (e.g. copied from a curl command).
    pub async fn call_text(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let builder = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        let request = builder
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        self.send(request).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(text.clone()))
        };
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// The config version the control plane publishes now.
    pub fn published_version(&self) -> u64 {
        self.cp.current().version
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as received.
    pub text: String,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Reply {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        self
    }

    /// Asserts a 4xx in the API's error shape whose `param` is `param`; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, param: Option<&str>) -> String {
        self.expect(status);
        let error = &self.body["error"];
        assert!(error["type"].is_string(), "error shape: {}", self.text);
        assert_eq!(error["param"].as_str(), param, "param of {}", self.text);
        let message = error["message"].as_str().unwrap_or_default().to_string();
        if let Some(p) = param {
            assert!(message.contains(p), "message names the field: {message}");
        }
        message
    }

    /// The config version a write committed (response header).
    pub fn version(&self) -> u64 {
        self.headers
            .get(CONFIG_VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {CONFIG_VERSION_HEADER} header: {self:?}"))
    }
}
