//! `/api/governance/virtual-keys`: create-or-merge, credentials, listing, deletion, usage.

use serde_json::json;
use sluice_core::hash_credential;

use crate::support::TestApp;

const VK: &str = "/api/governance/virtual-keys/vk-prod";

fn hash_of(app: &TestApp, id: &str) -> String {
    app.cp.current().config.governance.virtual_keys[id]
        .value_hash
        .clone()
}

on_both_backends! {
    async fn put_creates_a_key_whose_credential_is_its_id(app) {
        let r = app.call("PUT", VK, Some(json!({"name": "prod"}))).await;
        r.expect(201);
        assert_eq!(r.body["id"], "vk-prod");
        assert_eq!(r.body["is_active"], true);
        assert!(r.body.get("value_hash").is_none() && r.body.get("value").is_none(), "{}", r.text);
        assert_eq!(hash_of(&app, "vk-prod"), hash_credential("vk-prod"));
        assert_eq!(app.published_version(), r.version());
    }

    async fn put_merges_present_fields_and_keeps_absent_ones(app) {
        let configs = json!([{"provider": "openai", "weight": 0.8}, {"provider": "anthropic", "weight": 0.2}]);
        app.call("PUT", VK, Some(json!({"provider_configs": configs}))).await.expect(201);
        let limit = json!({"request_max_limit": 100, "request_reset_duration": "1m"});
        let r = app.call("PUT", VK, Some(json!({"rate_limit": limit}))).await;
        r.expect(200);
        assert_eq!(r.body["provider_configs"], configs);
        assert_eq!(r.body["rate_limit"], limit);
        let r = app.call("PUT", VK, Some(json!({"provider_configs": [{"provider": "openai"}]}))).await;
        assert_eq!(r.body["provider_configs"], json!([{"provider": "openai", "weight": 1.0}]),
            "a present field replaces the stored one whole");
        assert_eq!(r.body["rate_limit"], limit);
    }

    async fn patch_merges_into_an_existing_key(app) {
        app.call("PUT", VK, Some(json!({"name": "prod", "description": "d"}))).await.expect(201);
        let r = app.call("PATCH", VK, Some(json!({"is_active": false}))).await;
        r.expect(200);
        assert_eq!((r.body["name"].as_str(), r.body["description"].as_str()), (Some("prod"), Some("d")));
        assert_eq!(r.body["is_active"], false);
        assert!(!app.cp.current().config.governance.virtual_keys["vk-prod"].is_active);
    }

    async fn patch_of_an_unknown_key_is_404_and_creates_nothing(app) {
        app.call("PATCH", VK, Some(json!({"name": "x"}))).await.expect_error(404, None);
        assert!(app.cp.current().config.governance.virtual_keys.is_empty());
        assert_eq!(app.cp.store().version().await.unwrap(), 0);
    }

    async fn null_resets_a_field(app) {
        let budget = json!({"max_limit": 10.0, "reset_duration": "1M"});
        app.call("PUT", VK, Some(json!({"name": "prod", "budget": budget}))).await.expect(201);
        let r = app.call("PATCH", VK, Some(json!({"budget": null}))).await;
        r.expect(200);
        assert!(r.body.get("budget").is_none(), "{}", r.text);
        assert_eq!(r.body["name"], "prod");
    }

    async fn a_value_sets_the_credential_and_later_merges_keep_it(app) {
        app.call("PUT", VK, Some(json!({"value": "sk-my-own-credential"}))).await.expect(201);
        assert_eq!(hash_of(&app, "vk-prod"), hash_credential("sk-my-own-credential"));
        app.call("PATCH", VK, Some(json!({"name": "renamed"}))).await.expect(200);
        assert_eq!(hash_of(&app, "vk-prod"), hash_credential("sk-my-own-credential"));
        app.call("PUT", VK, Some(json!({"value": "rotated"}))).await.expect(200);
        assert_eq!(hash_of(&app, "vk-prod"), hash_credential("rotated"));
    }

    async fn post_without_an_id_generates_id_and_value_and_shows_the_value_once(app) {
        let r = app.call("POST", "/api/governance/virtual-keys", Some(json!({"name": "generated"}))).await;
        r.expect(201);
        let id = r.body["id"].as_str().unwrap().to_string();
        let value = r.body["value"].as_str().unwrap().to_string();
        assert!(value.len() >= 40, "{value}");
        assert_eq!(hash_of(&app, &id), hash_credential(&value));
        let again = app.call("GET", &format!("/api/governance/virtual-keys/{id}"), None).await;
        again.expect(200);
        assert!(!again.text.contains(&value) && again.body.get("value").is_none(), "{}", again.text);
        let list = app.call("GET", "/api/governance/virtual-keys", None).await;
        assert!(!list.text.contains(&value));
    }

    async fn post_with_an_id_and_a_value_uses_them_and_does_not_echo_the_value(app) {
        let r = app.call("POST", "/api/governance/virtual-keys",
            Some(json!({"id": "vk-mine", "value": "sk-chosen-credential"}))).await;
        r.expect(201);
        assert_eq!(r.body["id"], "vk-mine");
        assert!(r.body.get("value").is_none());
        assert_eq!(hash_of(&app, "vk-mine"), hash_credential("sk-chosen-credential"));
    }

    async fn post_with_an_existing_id_is_a_conflict(app) {
        app.call("PUT", VK, Some(json!({}))).await.expect(201);
        let r = app.call("POST", "/api/governance/virtual-keys", Some(json!({"id": "vk-prod"}))).await;
        r.expect_error(409, Some("id"));
    }

    async fn a_credential_of_another_key_is_a_conflict(app) {
        app.call("PUT", VK, Some(json!({}))).await.expect(201);
        let r = app.call("POST", "/api/governance/virtual-keys", Some(json!({"id": "vk-2", "value": "vk-prod"}))).await;
        r.expect_error(409, Some("value"));
        assert_eq!(app.cp.current().config.governance.virtual_keys.len(), 1);
    }

    async fn list_and_get_show_keys_without_credentials(app) {
        app.call("PUT", VK, Some(json!({"name": "prod"}))).await.expect(201);
        app.call("PUT", "/api/governance/virtual-keys/vk-dev", Some(json!({"value": "sk-dev-secret"}))).await.expect(201);
        let list = app.call("GET", "/api/governance/virtual-keys", None).await;
        list.expect(200);
        assert_eq!(list.body["count"], 2);
        let ids: Vec<&str> = list.body["virtual_keys"].as_array().unwrap().iter().filter_map(|v| v["id"].as_str()).collect();
        assert_eq!(ids, ["vk-dev", "vk-prod"]);
        assert!(!list.text.contains("value_hash") && !list.text.contains("sk-dev-secret"), "{}", list.text);
        let one = app.call("GET", VK, None).await;
        one.expect(200);
        assert_eq!(one.body["name"], "prod");
        app.call("GET", "/api/governance/virtual-keys/nope", None).await.expect_error(404, None);
    }

    async fn delete_removes_a_key_and_an_unknown_one_is_404(app) {
        app.call("PUT", VK, Some(json!({}))).await.expect(201);
        let r = app.call("DELETE", VK, None).await;
        r.expect(200);
        assert!(app.cp.current().config.governance.virtual_keys.is_empty());
        assert_eq!(app.published_version(), r.version());
        app.call("DELETE", VK, None).await.expect_error(404, None);
    }

    async fn usage_lists_every_limit_that_applies_and_only_ledger_budgets_without_a_data_plane(app) {
        app.call("POST", "/api/governance/customers", Some(json!({"id": "acme", "name": "Acme",
            "budget": {"max_limit": 10000, "reset_duration": "1M"}}))).await.expect(201);
        app.call("POST", "/api/governance/teams", Some(json!({"id": "eng", "name": "Eng", "customer_id": "acme",
            "rate_limit": {"token_max_limit": 5000, "token_reset_duration": "1h"}}))).await.expect(201);
        app.call("PUT", VK, Some(json!({"team_id": "eng",
            "rate_limit": {"request_max_limit": 1000, "request_reset_duration": "1h"},
            "provider_configs": [{"provider": "openai", "rate_limit": {"request_max_limit": 10, "request_reset_duration": "1m"}}]
        }))).await.expect(201);
        let r = app.call("GET", &format!("{VK}/usage"), None).await;
        r.expect(200);
        assert_eq!(r.body["virtual_key_id"], "vk-prod");
        assert_eq!(r.body["usage_source"], "ledger");
        let limits: Vec<(String, String, String, String)> = r.body["limits"].as_array().unwrap().iter().map(|l| {
            // Rate windows live in the data planes; a budget's spend is in the ledger.
            if l["kind"] == "budget_usd" {
                assert_eq!(l["usage"], 0.0, "{l}");
                assert!(l["resets_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{l}");
            } else {
                assert!(l["usage"].is_null() && l["resets_at"].is_null(), "{l}");
            }
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (s("scope"), s("id"), s("kind"), s("reset_duration"))
        }).collect();
        let want = [
            ("virtual_key", "vk-prod", "requests", "1h"),
            ("provider_config", "vk-prod/openai", "requests", "1m"),
            ("team", "eng", "tokens", "1h"),
            ("customer", "acme", "budget_usd", "1M"),
        ];
        let want: Vec<(String, String, String, String)> = want.iter()
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect();
        assert_eq!(limits, want);
        app.call("GET", "/api/governance/virtual-keys/nope/usage", None).await.expect_error(404, None);
    }
}
