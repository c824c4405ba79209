//! The live config feed: every commit is published; seeding; other replicas' writes.

use std::time::Duration;

use serde_json::json;
use sluice_controlplane::ControlPlane;
use sluice_store::testing::{TestBackend, TestDatabase, test_encryption_key};

use crate::support::TestApp;

fn seed(customer: &str) -> sluice_core::Config {
    serde_json::from_value(json!({
        "providers": {"openai": {"keys": [{"name": "k", "value": "sk-from-the-file"}]}},
        "governance": {"customers": {customer: {"name": customer}}}
    }))
    .unwrap()
}

/// Opens a second control plane (another replica) on the same database.
async fn replica(app: &TestApp) -> std::sync::Arc<ControlPlane> {
    ControlPlane::open(app.db.url(), test_encryption_key(), None)
        .await
        .unwrap()
}

async fn seeded_open_then_reopen(db: TestDatabase) {
    let cp = ControlPlane::open(db.url(), test_encryption_key(), Some(seed("from-seed")))
        .await
        .unwrap();
    let first = cp.current();
    assert_eq!(first.version, 1);
    assert_eq!(
        first.config.providers["openai"].keys[0].value.expose(),
        "sk-from-the-file"
    );
    drop(cp);
    // A different file on the next start: the store wins.
    let cp = ControlPlane::open(db.url(), test_encryption_key(), Some(seed("other")))
        .await
        .unwrap();
    let again = cp.current();
    assert_eq!(again.version, 1);
    assert!(again.config.governance.customers.contains_key("from-seed"));
    assert!(!again.config.governance.customers.contains_key("other"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_fills_an_empty_store_once_and_the_store_wins_after_that_on_sqlite() {
    seeded_open_then_reopen(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_fills_an_empty_store_once_and_the_store_wins_after_that_on_postgres() {
    if let Some(db) = TestDatabase::new(TestBackend::Postgres).await {
        seeded_open_then_reopen(db).await;
    }
}

#[tokio::test]
async fn an_invalid_seed_is_refused_naming_the_field() {
    let db = TestDatabase::sqlite();
    let mut bad = seed("c");
    bad.providers.insert("local".into(), Default::default());
    let e = ControlPlane::open(db.url(), test_encryption_key(), Some(bad))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("providers.local.base_provider_type"),
        "{e}"
    );
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    let e = ControlPlane::open("mysql://localhost/x", test_encryption_key(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("postgres://"), "{e}");
}

on_both_backends! {
    async fn every_committed_change_is_published_with_its_version(app) {
        let mut feed = app.cp.subscribe();
        assert_eq!(feed.borrow_and_update().version, 0);
        let r = app.call("POST", "/api/governance/customers", Some(json!({"id": "c", "name": "C"}))).await;
        r.expect(201);
        assert!(feed.has_changed().unwrap());
        let published = feed.borrow_and_update().clone();
        assert_eq!(published.version, r.version());
        assert!(published.config.governance.customers.contains_key("c"));
    }

    async fn a_refused_request_publishes_nothing(app) {
        let mut feed = app.cp.subscribe();
        feed.borrow_and_update();
        app.call("POST", "/api/governance/teams", Some(json!({"name": "t", "customer_id": "nope"})))
            .await.expect_error(400, Some("customer_id"));
        app.call("DELETE", "/api/governance/teams/nope", None).await.expect_error(404, None);
        assert!(!feed.has_changed().unwrap());
        assert_eq!(app.cp.store().version().await.unwrap(), 0);
    }

    async fn refresh_publishes_another_replicas_writes(app) {
        let other = replica(&app).await;
        let r = app.call("PUT", "/api/governance/virtual-keys/vk", Some(json!({"name": "n"}))).await;
        r.expect(201);
        other.refresh().await.unwrap();
        let seen = other.current();
        assert_eq!(seen.version, r.version());
        assert!(seen.config.governance.virtual_keys.contains_key("vk"));
        other.refresh().await.unwrap();
        assert_eq!(other.current().version, r.version(), "nothing new, nothing published");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_see_each_others_changes_within_a_second() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    let other = replica(&app).await;
    let mut feed = other.subscribe();
    feed.borrow_and_update();
    // Let the listener's LISTEN take effect (it also catches up by refreshing once).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = app
        .call("PUT", "/api/governance/virtual-keys/vk", Some(json!({})))
        .await;
    r.expect(201);
    let seen = tokio::time::timeout(
        Duration::from_secs(1),
        feed.wait_for(|c| c.version >= r.version()),
    )
    .await
    .expect("the other replica publishes the change within 1 s (LISTEN/NOTIFY)")
    .unwrap()
    .clone();
    assert!(seen.config.governance.virtual_keys.contains_key("vk"));
}
