//! The split deployment: a PostgreSQL-backed `sluice controlplane` feeding two `sluice
//! dataplane`s over gRPC, and `sluice serve` with its admin API on the inference port.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use sluice_store::testing::TestDatabase;

use crate::harness::{
    HttpClient, Proc, Reply, chat, free_addr, start_controlplane, start_dataplane, start_mock,
    start_serve_in, within,
};

const ADMIN_TOKEN: &str = "split-test-admin-token";
/// Fixed, so a restarted control plane decrypts what the first one stored.
const ENCRYPTION_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
/// How fast a change must reach every data plane.
const PROPAGATION: Duration = Duration::from_secs(1);
/// Reconnection after a control-plane restart: backoff is capped at 5 s.
const RECONNECT: Duration = Duration::from_secs(10);

async fn admin(c: &HttpClient, method: Method, url: &str, body: Option<Value>) -> Reply {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let r = c
        .send(
            method.clone(),
            url,
            body,
            &[("authorization", auth.as_str())],
        )
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    assert!(
        r.status.is_success(),
        "{method} {url}: {} {}",
        r.status,
        r.text()
    );
    r
}

/// The provider `mocked`: one key named `key`, upstream `mock`.
fn provider(mock: &Proc, key: &str) -> Value {
    json!({
        "provider": "mocked",
        "base_provider_type": "openai",
        "keys": [{"name": key, "value": format!("sk-{key}")}],
        "network_config": {"base_url": mock.url("/v1"), "max_retries": 0}
    })
}

async fn ask(c: &HttpClient, dp: &Proc, credential: Option<&str>) -> Reply {
    let auth = credential.map(|v| format!("Bearer {v}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    c.send(
        Method::POST,
        &dp.url("/v1/chat/completions"),
        Bytes::from(chat("mocked/gpt-4o-mini", "hi").to_string()),
        &headers,
    )
    .await
    .unwrap_or_else(|e| panic!("request to {}: {e}", dp.addr))
}

/// Whether `dp` answers `mocked/gpt-4o-mini` with provider key `key`.
async fn serves_with(c: &HttpClient, dp: &Proc, key: &str) -> bool {
    let r = ask(c, dp, None).await;
    r.status == 200 && r.header("x-sluice-key") == Some(key)
}

async fn both_serve_with(c: &HttpClient, dps: [&Proc; 2], key: &str, limit: Duration) {
    for (i, dp) in dps.into_iter().enumerate() {
        let took = within(
            limit,
            &format!("data plane {} serves key {key}", i + 1),
            || serves_with(c, dp, key),
        )
        .await;
        eprintln!("data plane {} served key {key} after {took:?}", i + 1);
    }
}

#[tokio::test]
async fn config_changes_reach_every_data_plane_and_survive_outages() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let c = HttpClient::new();
    let dirs = tempfile::tempdir().unwrap();
    let (cp_dir, dp1_dir, dp2_dir) = (
        dirs.path().join("cp"),
        dirs.path().join("dp1"),
        dirs.path().join("dp2"),
    );
    let (cp_addr, grpc_addr) = (free_addr(), free_addr());
    let (dp1_addr, dp2_addr) = (free_addr(), free_addr());
    let cp_env = [
        ("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN),
        ("SLUICE_ENCRYPTION_KEY", ENCRYPTION_KEY),
    ];
    let feed = format!("http://{grpc_addr}");
    let mock_a = start_mock(&[]).await;
    let mock_b = start_mock(&[]).await;

    let cp = start_controlplane(db.url(), cp_addr, grpc_addr, &cp_dir, &cp_env).await;
    let dp1 = start_dataplane(&feed, dp1_addr, &dp1_dir, &[]).await;
    let dp2 = start_dataplane(&feed, dp2_addr, &dp2_dir, &[]).await;
    for dp in [&dp1, &dp2] {
        within(
            PROPAGATION,
            "ready with the empty store's config",
            || async {
                c.get(&dp.url("/ready"))
                    .await
                    .is_ok_and(|r| r.status == 200)
            },
        )
        .await;
    }

    // A provider created through the API is served by both data planes.
    let providers = cp.url("/api/providers");
    admin(&c, Method::POST, &providers, Some(provider(&mock_a, "k1"))).await;
    both_serve_with(&c, [&dp1, &dp2], "k1", PROPAGATION).await;

    // Changing its key and upstream reaches both; the old upstream is then not needed.
    let one = cp.url("/api/providers/mocked");
    admin(&c, Method::PUT, &one, Some(provider(&mock_b, "k2"))).await;
    both_serve_with(&c, [&dp1, &dp2], "k2", PROPAGATION).await;
    drop(mock_a);
    assert!(serves_with(&c, &dp1, "k2").await);

    // A virtual key: enforced by both, then revoked on both, then removed.
    let vk = cp.url("/api/governance/virtual-keys/vk-split");
    admin(
        &c,
        Method::PUT,
        &vk,
        Some(json!({"provider_configs": [{"provider": "mocked", "weight": 1.0}]})),
    )
    .await;
    for dp in [&dp1, &dp2] {
        within(
            PROPAGATION,
            "the virtual key is required and accepted",
            || async {
                ask(&c, dp, None).await.status == 401
                    && ask(&c, dp, Some("vk-split")).await.status == 200
            },
        )
        .await;
    }
    admin(&c, Method::PUT, &vk, Some(json!({"is_active": false}))).await;
    for dp in [&dp1, &dp2] {
        within(
            PROPAGATION,
            "the revoked virtual key is refused",
            || async { ask(&c, dp, Some("vk-split")).await.status == 403 },
        )
        .await;
    }
    admin(&c, Method::DELETE, &vk, None).await;
    both_serve_with(&c, [&dp1, &dp2], "k2", PROPAGATION).await;

    // The control plane goes away: both data planes keep serving.
    drop(cp);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for dp in [&dp1, &dp2] {
        assert!(
            serves_with(&c, dp, "k2").await,
            "{} after the control plane died",
            dp.addr
        );
    }

    // A data plane restarted during the outage serves from its persisted config.
    drop(dp1);
    let dp1 = start_dataplane(&feed, dp1_addr, &dp1_dir, &[]).await;
    assert_eq!(c.get(&dp1.url("/ready")).await.unwrap().status, 200);
    assert!(
        serves_with(&c, &dp1, "k2").await,
        "restarted data plane, control plane down"
    );

    // The control plane is back: both reconnect and follow changes again.
    let cp = start_controlplane(db.url(), cp_addr, grpc_addr, &cp_dir, &cp_env).await;
    admin(&c, Method::PUT, &one, Some(provider(&mock_b, "k3"))).await;
    both_serve_with(&c, [&dp1, &dp2], "k3", RECONNECT).await;
    // Once reconnected, changes propagate within the bound again.
    admin(&c, Method::PUT, &one, Some(provider(&mock_b, "k4"))).await;
    both_serve_with(&c, [&dp1, &dp2], "k4", PROPAGATION).await;

    // Everything restarts; a data plane with an empty data dir proves the store kept it all.
    drop((cp, dp1, dp2));
    std::fs::remove_dir_all(&dp2_dir).unwrap();
    let cp = start_controlplane(db.url(), cp_addr, grpc_addr, &cp_dir, &cp_env).await;
    let dp1 = start_dataplane(&feed, dp1_addr, &dp1_dir, &[]).await;
    let dp2 = start_dataplane(&feed, dp2_addr, &dp2_dir, &[]).await;
    both_serve_with(&c, [&dp1, &dp2], "k4", RECONNECT).await;
    let stored = admin(&c, Method::GET, &one, None).await.json();
    assert_eq!(stored["keys"][0]["name"], "k4", "{stored}");
    assert_ne!(
        stored["keys"][0]["value"], "sk-k4",
        "key values are redacted"
    );
    drop((cp, dp1, dp2));
    drop(db);
}

#[tokio::test]
async fn a_data_plane_without_config_is_not_ready_until_the_control_plane_answers() {
    let dir = tempfile::tempdir().unwrap();
    let c = HttpClient::new();
    // Nothing listens at the control-plane address.
    let dp = start_dataplane(
        &format!("http://{}", free_addr()),
        free_addr(),
        dir.path(),
        &[],
    )
    .await;
    assert_eq!(c.get(&dp.url("/health")).await.unwrap().status, 200);
    let r = c.get(&dp.url("/ready")).await.unwrap();
    assert_eq!(r.status, 503, "{}", r.text());
    let r = ask(&c, &dp, None).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "config_not_loaded");
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn serve_applies_admin_api_changes_without_restart_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = HttpClient::new();
    let mock = start_mock(&[]).await;
    let addr = free_addr();
    let gw = start_serve_in(dir.path(), addr, "", &[]).await;

    // The built-in mock still answers.
    let r = c
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("mock/gpt-4o-mini", "hi"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // A provider PUT on the same port is served without a restart.
    let body = json!({
        "base_provider_type": "openai",
        "keys": [{"name": "k1", "value": "sk-1"}],
        "network_config": {"base_url": mock.url("/v1")}
    });
    let r = c
        .send(
            Method::PUT,
            &gw.url("/api/providers/mocked"),
            Bytes::from(body.to_string()),
            &[],
        )
        .await
        .unwrap();
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    within(PROPAGATION, "serve routes to the new provider", || {
        serves_with(&c, &gw, "k1")
    })
    .await;

    // After a restart the store still has it, and the built-in mock follows its new port.
    drop(gw);
    let gw = start_serve_in(dir.path(), addr, "", &[]).await;
    assert!(serves_with(&c, &gw, "k1").await);
    let r = c
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("mock/gpt-4o-mini", "hi"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "built-in mock after a restart: {}", r.text());
}

#[tokio::test]
async fn serve_guards_the_admin_api_on_a_public_address() {
    let c = HttpClient::new();
    let port = free_addr().port();
    let public = std::net::SocketAddr::from(([0, 0, 0, 0], port));

    // No token: the API is refused, and says how to turn it on; inference still works.
    let dir = tempfile::tempdir().unwrap();
    let gw = start_serve_in(dir.path(), public, "", &[]).await;
    let r = c.get(&gw.url("/api/providers")).await.unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("SLUICE_ADMIN_TOKEN"), "{}", r.text());
    let r = c
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("mock/gpt-4o-mini", "hi"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    drop(gw);

    // With a token: required.
    let dir = tempfile::tempdir().unwrap();
    let gw = start_serve_in(
        dir.path(),
        public,
        "",
        &[("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
    .await;
    let r = c.get(&gw.url("/api/providers")).await.unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    let r = admin(&c, Method::GET, &gw.url("/api/providers"), None).await;
    assert_eq!(r.status, 200);
}
