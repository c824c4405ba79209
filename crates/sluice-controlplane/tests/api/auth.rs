//! Admin auth on `/api/*`.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use sluice_store::testing::TestDatabase;

use crate::support::TestApp;

const TOKEN: &str = "admin-token-for-tests";

fn get(path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().uri(path);
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    b.body(Body::empty()).unwrap()
}

fn from_peer(path: &str, peer: &str) -> Request<Body> {
    let mut r = get(path, None);
    let addr: SocketAddr = peer.parse().unwrap();
    r.extensions_mut().insert(ConnectInfo(addr));
    r
}

#[tokio::test]
async fn with_a_token_a_missing_or_wrong_token_is_401() {
    let app = TestApp::on(TestDatabase::sqlite(), Some(TOKEN)).await;
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic YWRtaW46YWRtaW4="),
        Some(TOKEN),
    ] {
        let r = app.send(get("/api/providers", auth)).await;
        r.expect_error(401, None);
        assert_eq!(r.body["error"]["type"], "authentication_error");
        assert!(r.headers.contains_key("www-authenticate"));
    }
}

#[tokio::test]
async fn with_a_token_the_right_bearer_token_is_let_through() {
    let app = TestApp::on(TestDatabase::sqlite(), Some(TOKEN)).await;
    for auth in [format!("Bearer {TOKEN}"), format!("bearer {TOKEN}")] {
        app.send(get("/api/providers", Some(&auth)))
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn unknown_admin_routes_are_hidden_behind_auth_too() {
    let app = TestApp::on(TestDatabase::sqlite(), Some(TOKEN)).await;
    app.send(get("/api/nothing-here", None))
        .await
        .expect_error(401, None);
    let r = app
        .send(get("/api/nothing-here", Some(&format!("Bearer {TOKEN}"))))
        .await;
    r.expect_error(404, None);
}

#[tokio::test]
async fn without_a_token_only_local_peers_are_served() {
    let app = TestApp::on(TestDatabase::sqlite(), None).await;
    app.send(from_peer("/api/providers", "127.0.0.1:50000"))
        .await
        .expect(200);
    app.send(from_peer("/api/providers", "[::1]:50000"))
        .await
        .expect(200);
    let r = app
        .send(from_peer("/api/providers", "10.1.2.3:50000"))
        .await;
    r.expect_error(403, None);
    // Served without connection info (e.g. in-process): the listen address decides.
    app.send(get("/api/providers", None)).await.expect(200);
}
