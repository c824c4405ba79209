//! The store against real databases: SQLite (temp file) and PostgreSQL (a fresh database).

use std::time::{Duration, SystemTime};

use sluice_core::Config;
use sluice_store::testing::{TestBackend, TestDatabase};
use sluice_store::{Store, UsageRecord, UsageScope, UsageTotals};

/// Runs each test body once per backend, as `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_backends {
    ($(async fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            use super::*;
            async fn run($db: TestDatabase) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(TestDatabase::sqlite()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = TestDatabase::new(TestBackend::Postgres).await {
                    run(db).await
                }
            }
        }
    )*};
}

fn seed() -> Config {
    let cfg: Config = serde_json::from_value(serde_json::json!({
        "server": {"max_body_bytes": 1024},
        "providers": {
            "openai": {"keys": [
                {"name": "k1", "value": "sk-live-secret-123", "weight": 2.0},
                {"name": "k2", "value": "env.OPENAI_KEY_2"}
            ]},
            "local": {"base_provider_type": "openai", "network_config": {"base_url": "http://127.0.0.1:9090/v1"}}
        },
        "governance": {
            "require_virtual_key": true,
            "customers": {"acme": {"name": "Acme"}},
            "teams": {"eng": {"name": "Engineering", "customer_id": "acme"}},
            "virtual_keys": {"vk-1": {"value_hash": sluice_core::hash_credential("vk-1"), "team_id": "eng"}}
        }
    }))
    .unwrap();
    cfg.validate().unwrap();
    cfg
}

fn record(id: &str, vk: &str, tokens: u64, cost_micros: u64, at: SystemTime) -> UsageRecord {
    UsageRecord {
        request_id: id.into(),
        virtual_key_id: Some(vk.into()),
        team_id: Some("eng".into()),
        customer_id: None,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        prompt_tokens: tokens,
        completion_tokens: 1,
        cost_micros,
        occurred_at: at,
    }
}

async fn raw_provider_doc(db: &TestDatabase, store: &Store) -> String {
    let sql = "SELECT CAST(doc AS TEXT) FROM providers WHERE name = 'openai'";
    match db.backend() {
        TestBackend::Postgres => {
            let pool = store.postgres_pool().unwrap();
            sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
        }
        TestBackend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
        }
    }
}

on_both_backends! {
    async fn a_seed_round_trips_with_key_values_decrypted(db) {
        let store = db.store().await;
        assert_eq!(store.seed_if_empty(&seed()).await.unwrap(), Some(1));
        let (version, loaded) = store.load_config().await.unwrap();
        assert_eq!(version, 1);
        assert_eq!(loaded, seed());
    }

    async fn key_values_are_encrypted_at_rest_and_env_references_are_not(db) {
        let store = db.store().await;
        store.seed_if_empty(&seed()).await.unwrap();
        let raw = raw_provider_doc(&db, &store).await;
        assert!(!raw.contains("sk-live-secret-123"), "{raw}");
        assert!(raw.contains("enc:v1:"), "{raw}");
        assert!(raw.contains("env.OPENAI_KEY_2"), "{raw}");
    }

    async fn a_different_encryption_key_cannot_read_provider_values(db) {
        let store = db.store().await;
        store.seed_if_empty(&seed()).await.unwrap();
        let other = Store::connect(db.url(), sluice_store::EncryptionKey::from_bytes([1; 32]))
            .await
            .unwrap();
        let e = other.load_config().await.unwrap_err().to_string();
        assert!(e.contains("providers.openai.keys[0].value") && e.contains("SLUICE_ENCRYPTION_KEY"), "{e}");
    }

    async fn the_seed_is_ignored_once_the_store_has_data(db) {
        let store = db.store().await;
        let mut tx = store.begin_write().await.unwrap();
        tx.put_customer("other", &serde_json::from_str(r#"{"name": "Other"}"#).unwrap())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.seed_if_empty(&seed()).await.unwrap(), None);
        let (_, loaded) = store.load_config().await.unwrap();
        assert!(loaded.providers.is_empty());
        assert_eq!(loaded.governance.customers.len(), 1);
    }

    async fn migrations_can_run_again(db) {
        let store = db.store().await;
        store.migrate().await.unwrap();
        assert_eq!(store.version().await.unwrap(), 0);
    }

    async fn every_commit_bumps_the_version_and_a_rollback_does_not(db) {
        let store = db.store().await;
        let mut tx = store.begin_write().await.unwrap();
        tx.put_customer("c", &serde_json::from_str(r#"{"name": "C"}"#).unwrap()).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(store.version().await.unwrap(), 0);
        assert!(store.load_config().await.unwrap().1.governance.customers.is_empty());
        for want in 1..=3 {
            let tx = store.begin_write().await.unwrap();
            assert_eq!(tx.commit().await.unwrap(), want);
        }
    }

    async fn foreign_keys_back_up_the_api_checks(db) {
        let store = db.store().await;
        let mut tx = store.begin_write().await.unwrap();
        let team = serde_json::from_str(r#"{"name": "T", "customer_id": "nobody"}"#).unwrap();
        let e = tx.put_team("t", &team).await.unwrap_err();
        assert!(matches!(e, sluice_store::StoreError::Constraint(_)), "{e}");
    }

    async fn usage_batches_are_idempotent_by_request_id(db) {
        let store = db.store().await;
        let now = SystemTime::now();
        let batch = vec![record("r1", "vk-1", 10, 1_500, now), record("r2", "vk-1", 20, 2_500, now)];
        assert_eq!(store.record_usage(&batch).await.unwrap(), 2);
        assert_eq!(store.record_usage(&batch).await.unwrap(), 0, "a re-sent batch adds nothing");
        let since = now - Duration::from_secs(60);
        let totals = store.usage_since(UsageScope::VirtualKey, "vk-1", since).await.unwrap();
        assert_eq!(totals, UsageTotals { requests: 2, tokens: 32, cost_micros: 4_000 });
    }

    async fn usage_is_summed_per_scope_and_from_the_given_time(db) {
        let store = db.store().await;
        let now = SystemTime::now();
        let old = now - Duration::from_secs(3600);
        store
            .record_usage(&[
                record("a", "vk-1", 1, 10, old),
                record("b", "vk-1", 2, 20, now),
                record("c", "vk-2", 4, 40, now),
            ])
            .await
            .unwrap();
        let recent = now - Duration::from_secs(60);
        let vk1 = store.usage_since(UsageScope::VirtualKey, "vk-1", recent).await.unwrap();
        assert_eq!((vk1.requests, vk1.tokens, vk1.cost_micros), (1, 3, 20));
        let team = store.usage_since(UsageScope::Team, "eng", old).await.unwrap();
        assert_eq!((team.requests, team.tokens, team.cost_micros), (3, 10, 70));
        let provider = store.usage_since(UsageScope::Provider, "openai", recent).await.unwrap();
        assert_eq!(provider.requests, 2);
        let none = store.usage_since(UsageScope::Customer, "acme", old).await.unwrap();
        assert_eq!(none, UsageTotals::default());
    }

    async fn provider_config_usage_counts_one_provider_of_one_key(db) {
        let store = db.store().await;
        let now = SystemTime::now();
        let mut other_provider = record("b", "vk-1", 2, 20, now);
        other_provider.provider = "anthropic".into();
        store
            .record_usage(&[
                record("a", "vk-1", 1, 10, now),
                other_provider,
                record("c", "vk-2", 4, 40, now),
            ])
            .await
            .unwrap();
        let since = now - Duration::from_secs(60);
        let pc = store.provider_config_usage_since("vk-1", "openai", since).await.unwrap();
        assert_eq!((pc.requests, pc.tokens, pc.cost_micros), (1, 2, 10));
        let later = store
            .provider_config_usage_since("vk-1", "openai", now + Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(later, UsageTotals::default());
    }
}
