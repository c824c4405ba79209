//! `/api/providers`.

use serde_json::json;

const SECRET_1: &str = "sk-proj-first-secret-value-1234";
const SECRET_2: &str = "sk-proj-second-secret-value-5678";

fn openai() -> serde_json::Value {
    json!({
        "provider": "openai",
        "keys": [
            {"name": "key-1", "value": SECRET_1, "weight": 0.5},
            {"name": "key-2", "value": SECRET_2, "weight": 0.5, "models": ["gpt-4o-mini"]}
        ],
        "network_config": {"max_retries": 5, "retry_backoff_initial_ms": 1, "retry_backoff_max_ms": 10000}
    })
}

on_both_backends! {
    async fn create_answers_201_with_key_values_redacted(app) {
        let r = app.call("POST", "/api/providers", Some(openai())).await;
        r.expect(201);
        assert!(r.version() >= 1);
        assert!(!r.text.contains("first-secret") && !r.text.contains("second-secret"), "{}", r.text);
        assert_eq!(r.body["provider"], "openai");
        assert_eq!(r.body["keys"][0]["value"], "sk-p…(redacted)");
        assert_eq!(r.body["keys"][1]["models"], json!(["gpt-4o-mini"]));
        assert_eq!(r.body["network_config"]["max_retries"], 5);
    }

    async fn list_and_get_never_return_key_values(app) {
        app.call("POST", "/api/providers", Some(openai())).await.expect(201);
        let list = app.call("GET", "/api/providers", None).await;
        list.expect(200);
        assert_eq!(list.body["count"], 1);
        assert_eq!(list.body["providers"][0]["provider"], "openai");
        let one = app.call("GET", "/api/providers/openai", None).await;
        one.expect(200);
        for r in [&list, &one] {
            assert!(!r.text.contains("first-secret") && !r.text.contains("second-secret"), "{}", r.text);
        }
    }

    async fn subscribers_receive_the_decrypted_values(app) {
        let r = app.call("POST", "/api/providers", Some(openai())).await;
        let published = app.cp.current();
        assert_eq!(published.version, r.version());
        let keys = &published.config.providers["openai"].keys;
        assert_eq!(keys[0].value.expose(), SECRET_1);
        assert_eq!(keys[1].value.expose(), SECRET_2);
    }

    async fn env_references_are_stored_and_shown_as_they_are(app) {
        let body = json!({"provider": "anthropic", "keys": [{"name": "k", "value": "env.ANTHROPIC_API_KEY"}]});
        let r = app.call("POST", "/api/providers", Some(body)).await;
        r.expect(201);
        assert_eq!(r.body["keys"][0]["value"], "env.ANTHROPIC_API_KEY");
        let published = app.cp.current();
        assert_eq!(published.config.providers["anthropic"].keys[0].value.expose(), "env.ANTHROPIC_API_KEY");
    }

    async fn bifrost_backoff_spellings_are_accepted(app) {
        let body = json!({"provider": "openai", "network_config": {"retry_backoff_initial": 7, "retry_backoff_max": 70,
            "base_url": "http://127.0.0.1:9090/v1", "timeout_ms": 1000, "extra_headers": {"x-team": "a"}}});
        let r = app.call("POST", "/api/providers", Some(body)).await;
        r.expect(201);
        let n = &r.body["network_config"];
        assert_eq!((n["retry_backoff_initial_ms"].as_u64(), n["retry_backoff_max_ms"].as_u64()), (Some(7), Some(70)));
        assert_eq!(n["extra_headers"]["x-team"], "a");
    }

    async fn a_custom_provider_needs_a_base_type_and_a_base_url(app) {
        let r = app.call("POST", "/api/providers", Some(json!({"provider": "local",
            "network_config": {"base_url": "http://127.0.0.1:9090/v1"}}))).await;
        r.expect_error(400, Some("base_provider_type"));
        let r = app.call("POST", "/api/providers", Some(json!({"provider": "local",
            "base_provider_type": "openai"}))).await;
        r.expect_error(400, Some("network_config.base_url"));
        let r = app.call("POST", "/api/providers", Some(json!({"provider": "local",
            "base_provider_type": "openai", "network_config": {"base_url": "http://127.0.0.1:9090/v1"}}))).await;
        r.expect(201);
        assert_eq!(app.cp.current().config.provider_kind("local"), Some(sluice_core::ProviderKind::Openai));
    }

    async fn creating_an_existing_provider_is_a_conflict(app) {
        app.call("POST", "/api/providers", Some(openai())).await.expect(201);
        let r = app.call("POST", "/api/providers", Some(openai())).await;
        r.expect_error(409, Some("provider"));
    }

    async fn put_creates_a_missing_provider_and_replaces_an_existing_one(app) {
        let r = app.call("PUT", "/api/providers/openai", Some(openai())).await;
        r.expect(201);
        let body = json!({"keys": [{"name": "only", "value": "sk-only-one-key-000000"}]});
        let r = app.call("PUT", "/api/providers/openai", Some(body)).await;
        r.expect(200);
        let provider = &app.cp.current().config.providers["openai"];
        assert_eq!(provider.keys.len(), 1);
        assert_eq!(provider.keys[0].value.expose(), "sk-only-one-key-000000");
        assert_eq!(provider.network_config.max_retries, 2, "absent fields take their defaults");
    }

    async fn putting_back_redacted_values_keeps_the_stored_keys(app) {
        app.call("POST", "/api/providers", Some(openai())).await.expect(201);
        let mut fetched = app.call("GET", "/api/providers/openai", None).await.body;
        fetched["network_config"]["max_retries"] = json!(1);
        app.call("PUT", "/api/providers/openai", Some(fetched)).await.expect(200);
        let provider = &app.cp.current().config.providers["openai"];
        assert_eq!(provider.keys[0].value.expose(), SECRET_1);
        assert_eq!(provider.keys[1].value.expose(), SECRET_2);
        assert_eq!(provider.network_config.max_retries, 1);
    }

    async fn a_redacted_placeholder_that_matches_no_stored_key_is_refused(app) {
        app.call("POST", "/api/providers", Some(openai())).await.expect(201);
        let body = json!({"keys": [{"name": "renamed", "value": "sk-p…(redacted)"}]});
        let r = app.call("PUT", "/api/providers/openai", Some(body)).await;
        r.expect_error(400, Some("keys[0].value"));
    }

    async fn a_body_name_differing_from_the_path_is_refused(app) {
        let r = app.call("PUT", "/api/providers/openai", Some(json!({"provider": "groq"}))).await;
        r.expect_error(400, Some("provider"));
    }

    async fn delete_removes_a_provider_and_an_unknown_one_is_404(app) {
        app.call("POST", "/api/providers", Some(openai())).await.expect(201);
        let r = app.call("DELETE", "/api/providers/openai", None).await;
        r.expect(200);
        assert_eq!(r.body["deleted"], true);
        assert!(app.cp.current().config.providers.is_empty());
        app.call("DELETE", "/api/providers/openai", None).await.expect_error(404, None);
        app.call("GET", "/api/providers/openai", None).await.expect_error(404, None);
    }

    async fn a_custom_provider_in_use_by_a_virtual_key_cannot_be_deleted(app) {
        app.call("POST", "/api/providers", Some(json!({"provider": "local", "base_provider_type": "openai",
            "network_config": {"base_url": "http://127.0.0.1:9090/v1"}}))).await.expect(201);
        app.call("PUT", "/api/governance/virtual-keys/vk", Some(json!({"provider_configs": [{"provider": "local"}]})))
            .await.expect(201);
        let message = app.call("DELETE", "/api/providers/local", None).await.expect_error(409, None);
        assert!(message.contains("vk"), "{message}");
        assert!(app.cp.current().config.providers.contains_key("local"));
    }
}
