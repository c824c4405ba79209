//! `/api/governance/customers` and `/api/governance/teams`.

use serde_json::json;

const CUSTOMERS: &str = "/api/governance/customers";
const TEAMS: &str = "/api/governance/teams";

on_both_backends! {
    async fn post_generates_an_id_when_none_is_given(app) {
        let r = app.call("POST", CUSTOMERS, Some(json!({"name": "Acme Corp"}))).await;
        r.expect(201);
        let id = r.body["id"].as_str().unwrap();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        assert_eq!(app.cp.current().config.governance.customers[id].name, "Acme Corp");
        assert_eq!(app.published_version(), r.version());
    }

    async fn post_uses_a_given_id_and_refuses_an_existing_one(app) {
        app.call("POST", TEAMS, Some(json!({"id": "eng", "name": "Engineering"}))).await.expect(201);
        let r = app.call("POST", TEAMS, Some(json!({"id": "eng", "name": "Again"}))).await;
        r.expect_error(409, Some("id"));
        assert_eq!(app.cp.current().config.governance.teams["eng"].name, "Engineering");
    }

    async fn list_and_get_return_what_was_stored(app) {
        let budget = json!({"max_limit": 5000.0, "reset_duration": "1M"});
        app.call("POST", CUSTOMERS, Some(json!({"id": "acme", "name": "Acme"}))).await.expect(201);
        app.call("POST", TEAMS, Some(json!({"id": "eng", "name": "Eng", "customer_id": "acme", "budget": budget})))
            .await.expect(201);
        let team = app.call("GET", &format!("{TEAMS}/eng"), None).await;
        team.expect(200);
        assert_eq!(team.body, json!({"id": "eng", "name": "Eng", "customer_id": "acme", "budget": budget}));
        let list = app.call("GET", TEAMS, None).await;
        assert_eq!(list.body["count"], 1);
        assert_eq!(list.body["teams"][0]["id"], "eng");
        let list = app.call("GET", CUSTOMERS, None).await;
        assert_eq!(list.body["customers"][0], json!({"id": "acme", "name": "Acme"}));
        app.call("GET", &format!("{TEAMS}/nope"), None).await.expect_error(404, None);
        app.call("GET", &format!("{CUSTOMERS}/nope"), None).await.expect_error(404, None);
    }

    async fn put_creates_then_merges_and_patch_only_merges(app) {
        let r = app.call("PUT", &format!("{CUSTOMERS}/acme"), Some(json!({"name": "Acme"}))).await;
        r.expect(201);
        let limit = json!({"request_max_limit": 50, "request_reset_duration": "1m"});
        let r = app.call("PUT", &format!("{CUSTOMERS}/acme"), Some(json!({"rate_limit": limit}))).await;
        r.expect(200);
        assert_eq!(r.body, json!({"id": "acme", "name": "Acme", "rate_limit": limit}));
        let r = app.call("PATCH", &format!("{CUSTOMERS}/acme"), Some(json!({"name": "Acme Corp"}))).await;
        r.expect(200);
        assert_eq!(r.body["rate_limit"], limit);
        app.call("PATCH", &format!("{TEAMS}/nope"), Some(json!({"name": "x"}))).await.expect_error(404, None);
        // A new team needs its name; an existing one keeps it.
        app.call("PUT", &format!("{TEAMS}/new"), Some(json!({}))).await.expect_error(400, Some("name"));
        app.call("PUT", &format!("{TEAMS}/new"), Some(json!({"name": "New"}))).await.expect(201);
        let r = app.call("PUT", &format!("{TEAMS}/new"), Some(json!({"customer_id": "acme"}))).await;
        r.expect(200);
        assert_eq!(r.body, json!({"id": "new", "name": "New", "customer_id": "acme"}));
        let r = app.call("PUT", &format!("{TEAMS}/new"), Some(json!({"customer_id": "gone"}))).await;
        r.expect_error(400, Some("customer_id"));
    }

    async fn a_team_can_move_between_customers_and_leave_them(app) {
        for id in ["a", "b"] {
            app.call("POST", CUSTOMERS, Some(json!({"id": id, "name": id}))).await.expect(201);
        }
        app.call("POST", TEAMS, Some(json!({"id": "t", "name": "T", "customer_id": "a"}))).await.expect(201);
        app.call("PATCH", &format!("{TEAMS}/t"), Some(json!({"customer_id": "b"}))).await.expect(200);
        app.call("DELETE", &format!("{CUSTOMERS}/a"), None).await.expect(200);
        app.call("PATCH", &format!("{TEAMS}/t"), Some(json!({"customer_id": null}))).await.expect(200);
        app.call("DELETE", &format!("{CUSTOMERS}/b"), None).await.expect(200);
        assert_eq!(app.cp.current().config.governance.teams["t"].customer_id, None);
    }

    async fn deleting_a_customer_that_still_has_teams_or_keys_is_a_conflict(app) {
        app.call("POST", CUSTOMERS, Some(json!({"id": "acme", "name": "Acme"}))).await.expect(201);
        app.call("POST", TEAMS, Some(json!({"id": "eng", "name": "Eng", "customer_id": "acme"}))).await.expect(201);
        app.call("PUT", "/api/governance/virtual-keys/direct", Some(json!({"customer_id": "acme"}))).await.expect(201);
        let message = app.call("DELETE", &format!("{CUSTOMERS}/acme"), None).await.expect_error(409, None);
        assert!(message.contains("eng") && message.contains("direct"), "{message}");
        app.call("DELETE", &format!("{TEAMS}/eng"), None).await.expect(200);
        app.call("DELETE", &format!("{CUSTOMERS}/acme"), None).await.expect_error(409, None);
        app.call("DELETE", "/api/governance/virtual-keys/direct", None).await.expect(200);
        app.call("DELETE", &format!("{CUSTOMERS}/acme"), None).await.expect(200);
        assert!(app.cp.current().config.governance.customers.is_empty());
        app.call("DELETE", &format!("{CUSTOMERS}/acme"), None).await.expect_error(404, None);
    }

    async fn deleting_a_team_that_still_has_keys_is_a_conflict(app) {
        app.call("POST", TEAMS, Some(json!({"id": "eng", "name": "Eng"}))).await.expect(201);
        app.call("PUT", "/api/governance/virtual-keys/vk", Some(json!({"team_id": "eng"}))).await.expect(201);
        let message = app.call("DELETE", &format!("{TEAMS}/eng"), None).await.expect_error(409, None);
        assert!(message.contains("vk"), "{message}");
        app.call("PATCH", "/api/governance/virtual-keys/vk", Some(json!({"team_id": null}))).await.expect(200);
        app.call("DELETE", &format!("{TEAMS}/eng"), None).await.expect(200);
        app.call("DELETE", &format!("{TEAMS}/eng"), None).await.expect_error(404, None);
    }
}
