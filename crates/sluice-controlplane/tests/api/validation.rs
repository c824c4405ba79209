//! Boundary validation: every malformed request is a 400 naming the field, and nothing of it is
//! applied.

use serde_json::{Value, json};

use crate::support::TestApp;

/// Sends `body` and expects a 400 naming `param`, with the store and the published config left
/// exactly as they were.
async fn refused(app: &TestApp, method: &str, path: &str, body: Value, param: Option<&str>) {
    let before = app.cp.store().load_config().await.unwrap();
    let r = app.call(method, path, Some(body.clone())).await;
    r.expect_error(400, param);
    assert_eq!(
        app.cp.store().load_config().await.unwrap(),
        before,
        "{body} changed the store"
    );
    assert_eq!(app.published_version(), before.0);
}

const VK: &str = "/api/governance/virtual-keys/vk-1";

on_both_backends! {
    async fn bodies_that_are_not_json_objects_are_refused(app) {
        for text in ["", "{", "[]", "42", "\"vk\"", "null"] {
            let r = app.call_text("PUT", VK, Some(text)).await;
            r.expect_error(400, None);
        }
        let r = app.call_text("POST", "/api/providers", Some("{not json")).await;
        assert!(r.expect_error(400, None).contains("not valid JSON"));
    }

    async fn unknown_fields_are_refused_at_every_level(app) {
        refused(&app, "PUT", VK, json!({"rate_limits": {}}), Some("rate_limits")).await;
        refused(&app, "PUT", VK, json!({"rate_limit": {"request_max": 1}}), Some("rate_limit.request_max")).await;
        refused(&app, "PUT", VK, json!({"provider_configs": [{"provider": "openai", "wieght": 1}]}),
            Some("provider_configs[0].wieght")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": "openai", "keyz": []}), Some("keyz")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": "openai", "network_config": {"retries": 1}}),
            Some("network_config.retries")).await;
        refused(&app, "POST", "/api/governance/teams", json!({"name": "t", "members": []}), Some("members")).await;
        refused(&app, "POST", "/api/governance/customers", json!({"name": "c", "tier": 1}), Some("tier")).await;
    }

    async fn wrong_types_are_refused(app) {
        refused(&app, "PUT", VK, json!({"is_active": "yes"}), Some("is_active")).await;
        refused(&app, "PUT", VK, json!({"rate_limit": {"request_max_limit": "many", "request_reset_duration": "1m"}}),
            Some("rate_limit.request_max_limit")).await;
        refused(&app, "PUT", VK, json!({"provider_configs": {"provider": "openai"}}), Some("provider_configs")).await;
        refused(&app, "PUT", VK, json!({"value": 42}), Some("value")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": 7}), Some("provider")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": "openai", "keys": [{"name": "k", "value": "v", "weight": "heavy"}]}),
            Some("keys[0].weight")).await;
        refused(&app, "POST", "/api/governance/teams", json!({"name": ["t"]}), Some("name")).await;
    }

    async fn negative_and_zero_limits_are_refused(app) {
        refused(&app, "PUT", VK, json!({"rate_limit": {"request_max_limit": -1, "request_reset_duration": "1m"}}),
            Some("rate_limit.request_max_limit")).await;
        refused(&app, "PUT", VK, json!({"rate_limit": {"token_max_limit": 0, "token_reset_duration": "1m"}}),
            Some("rate_limit.token_max_limit")).await;
        refused(&app, "PUT", VK, json!({"budget": {"max_limit": -5, "reset_duration": "1M"}}), Some("budget.max_limit")).await;
        refused(&app, "PUT", VK, json!({"provider_configs": [{"provider": "openai", "weight": -0.5}]}),
            Some("provider_configs[0].weight")).await;
        refused(&app, "PUT", VK, json!({"provider_configs": [{"provider": "openai",
            "budget": {"max_limit": 0, "reset_duration": "1d"}}]}), Some("provider_configs[0].budget.max_limit")).await;
        refused(&app, "POST", "/api/governance/customers", json!({"name": "c", "budget": {"max_limit": 0, "reset_duration": "1M"}}),
            Some("budget.max_limit")).await;
        refused(&app, "POST", "/api/governance/teams", json!({"name": "t", "rate_limit": {"request_max_limit": 0, "request_reset_duration": "1h"}}),
            Some("rate_limit.request_max_limit")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": "openai", "keys": [{"name": "k", "value": "v", "weight": 0}]}),
            Some("keys[0].weight")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": "openai", "network_config": {"max_retries": -1}}),
            Some("network_config.max_retries")).await;
    }

    async fn bad_durations_are_refused(app) {
        refused(&app, "PUT", VK, json!({"rate_limit": {"request_max_limit": 1, "request_reset_duration": "1x"}}),
            Some("rate_limit.request_reset_duration")).await;
        refused(&app, "PUT", VK, json!({"rate_limit": {"request_max_limit": 1, "request_reset_duration": "minute"}}),
            Some("rate_limit.request_reset_duration")).await;
        // Rate limits slide over fixed windows; calendar months are for budgets.
        refused(&app, "PUT", VK, json!({"rate_limit": {"request_max_limit": 1, "request_reset_duration": "1M"}}),
            Some("rate_limit.request_reset_duration")).await;
        refused(&app, "PUT", VK, json!({"rate_limit": {"request_max_limit": 1}}), Some("rate_limit.request_reset_duration")).await;
        refused(&app, "PUT", VK, json!({"rate_limit": {"token_reset_duration": "1m"}}), Some("rate_limit.token_max_limit")).await;
        refused(&app, "POST", "/api/governance/customers", json!({"name": "c", "budget": {"max_limit": 1, "reset_duration": "0M"}}),
            Some("budget.reset_duration")).await;
    }

    async fn unknown_references_are_refused_naming_the_field(app) {
        refused(&app, "PUT", VK, json!({"team_id": "no-such-team"}), Some("team_id")).await;
        refused(&app, "PUT", VK, json!({"customer_id": "no-such-customer"}), Some("customer_id")).await;
        refused(&app, "PUT", VK, json!({"provider_configs": [{"provider": "openai"}, {"provider": "nowhere"}]}),
            Some("provider_configs[1].provider")).await;
        refused(&app, "POST", "/api/governance/teams", json!({"name": "t", "customer_id": "no-such-customer"}),
            Some("customer_id")).await;
        let message = app.call("PUT", VK, Some(json!({"team_id": "ghost"}))).await.expect_error(400, Some("team_id"));
        assert!(message.contains("ghost"), "the message names the unknown id: {message}");
    }

    async fn a_key_cannot_belong_to_a_team_and_a_customer_at_once(app) {
        app.call("POST", "/api/governance/customers", Some(json!({"id": "c", "name": "C"}))).await.expect(201);
        app.call("POST", "/api/governance/teams", Some(json!({"id": "t", "name": "T"}))).await.expect(201);
        refused(&app, "PUT", VK, json!({"team_id": "t", "customer_id": "c"}), Some("customer_id")).await;
    }

    async fn ids_must_be_plain_and_match_the_path(app) {
        refused(&app, "PUT", "/api/governance/virtual-keys/a%20b", json!({}), Some("id")).await;
        refused(&app, "PUT", VK, json!({"id": "vk-2"}), Some("id")).await;
        refused(&app, "POST", "/api/governance/virtual-keys", json!({"id": "has/slash"}), Some("id")).await;
        refused(&app, "POST", "/api/governance/teams", json!({"id": "", "name": "t"}), Some("id")).await;
        refused(&app, "PATCH", "/api/governance/teams/t%20t", json!({"name": "t"}), Some("id")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": "my provider", "base_provider_type": "openai",
            "network_config": {"base_url": "http://x"}}), Some("provider")).await;
    }

    async fn value_hash_and_empty_values_are_refused(app) {
        refused(&app, "PUT", VK, json!({"value_hash": "abc"}), Some("value_hash")).await;
        refused(&app, "PUT", VK, json!({"value": "  "}), Some("value")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": "openai", "keys": [{"name": "k", "value": ""}]}),
            Some("keys[0].value")).await;
        refused(&app, "POST", "/api/providers", json!({"provider": "openai", "keys": [{"name": "k"}]}),
            Some("keys[0].value")).await;
    }

    async fn a_refused_merge_leaves_the_existing_key_untouched(app) {
        let body = json!({"rate_limit": {"request_max_limit": 10, "request_reset_duration": "1m"}});
        app.call("PUT", VK, Some(body)).await.expect(201);
        // A valid field next to an invalid one: neither is applied.
        refused(&app, "PATCH", VK, json!({"name": "renamed", "budget": {"max_limit": -1, "reset_duration": "1M"}}),
            Some("budget.max_limit")).await;
        let vk = app.call("GET", VK, None).await;
        assert!(vk.body.get("name").is_none(), "{}", vk.text);
    }
}
