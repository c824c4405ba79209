//! Which handler answers a request, by method and path (query strings are ignored).

use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::admin;
use crate::auth;
use crate::body::MockBody;
use crate::error::ApiError;
use crate::headers::Wire;
use crate::pipeline::{self, Endpoint, error_response};
use crate::state::MockState;
use crate::stats::Route;

pub(crate) async fn route(state: Arc<MockState>, req: Request<Incoming>) -> Response<MockBody> {
    let endpoint = match req.uri().path() {
        "/v1/chat/completions" => Endpoint::Chat,
        "/v1/completions" => Endpoint::Completions,
        "/v1/embeddings" => Endpoint::Embeddings,
        "/v1/messages" => Endpoint::Messages,
        "/v1/models" => return models(&state, &req),
        _ => return admin_route(state, req).await,
    };
    state.routes.hit(endpoint.route());
    if req.method() != Method::POST {
        let e = ApiError::MethodNotAllowed(req.method().to_string());
        return error_response(endpoint.wire(), &e);
    }
    pipeline::serve(state, endpoint, req).await
}

async fn admin_route(state: Arc<MockState>, req: Request<Incoming>) -> Response<MockBody> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => admin::health(),
        (&Method::GET, "/mock/config") => admin::get_config(&state),
        (&Method::POST, "/mock/config") => admin::post_config(&state, req.into_body()).await,
        (&Method::GET, "/mock/stats") => admin::stats(&state),
        (&Method::POST, "/mock/reset") => admin::reset(&state),
        (method, path) => error_response(
            Wire::OpenAi,
            &ApiError::NotFound(format!("{method} {path}")),
        ),
    }
}

/// `GET /v1/models`: authenticated like the real API, not charged to any limit.
fn models(state: &MockState, req: &Request<Incoming>) -> Response<MockBody> {
    state.routes.hit(Route::Models);
    if req.method() != Method::GET {
        let e = ApiError::MethodNotAllowed(req.method().to_string());
        return error_response(Wire::OpenAi, &e);
    }
    let active = state.active.load();
    if let Err(e) = auth::identify(Wire::OpenAi, req.headers(), &active.config) {
        return error_response(Wire::OpenAi, &e);
    }
    admin::json(http::StatusCode::OK, active.models_body.clone())
}
