//! The management `curl` commands of API.md, verbatim and in order, through the router.

use sluice_core::hash_credential;

use crate::support::TestApp;

const CREATE_PROVIDER: &str = r#"{
  "provider": "openai",
  "keys": [
    {"name": "key-1", "value": "sk-1...", "weight": 0.5},
    {"name": "key-2", "value": "sk-2...", "weight": 0.5}
  ],
  "network_config": {"max_retries": 5, "retry_backoff_initial_ms": 1, "retry_backoff_max_ms": 10000}
}"#;

const PUT_VK_PROD: &str = r#"{
  "rate_limit": {"request_max_limit": 16000, "request_reset_duration": "1m",
                 "token_max_limit": 3000000, "token_reset_duration": "1m"},
  "provider_configs": [
    {"provider": "openai", "weight": 0.8,
     "rate_limit": {"request_max_limit": 16000, "request_reset_duration": "1m"}},
    {"provider": "anthropic", "weight": 0.2,
     "rate_limit": {"request_max_limit": 500, "request_reset_duration": "1m"}}
  ]
}"#;

const CREATE_CUSTOMER: &str =
    r#"{"name": "Acme Corp", "budget": {"max_limit": 10000, "reset_duration": "1M"}}"#;

/// With `<that id>` to fill in.
const CREATE_TEAM: &str = r#"{"name": "Engineering", "customer_id": "<that id>", "budget": {"max_limit": 5000, "reset_duration": "1M"}}"#;

/// With `<team id>` to fill in.
const PUT_VK_TEAM: &str = r#"{"team_id": "<team id>", "rate_limit": {"request_max_limit": 1000, "request_reset_duration": "1h"}}"#;

async fn run_api_md_sequence(app: TestApp) {
    let r = app
        .call_text("POST", "/api/providers", Some(CREATE_PROVIDER))
        .await;
    r.expect(201);
    let r = app
        .call_text(
            "PUT",
            "/api/governance/virtual-keys/vk-prod",
            Some(PUT_VK_PROD),
        )
        .await;
    r.expect(201);
    let r = app
        .call_text("POST", "/api/governance/customers", Some(CREATE_CUSTOMER))
        .await;
    r.expect(201);
    let customer_id = r.body["id"].as_str().unwrap().to_string();
    let team = CREATE_TEAM.replace("<that id>", &customer_id);
    let r = app
        .call_text("POST", "/api/governance/teams", Some(&team))
        .await;
    r.expect(201);
    let team_id = r.body["id"].as_str().unwrap().to_string();
    let put = PUT_VK_TEAM.replace("<team id>", &team_id);
    let r = app
        .call_text("PUT", "/api/governance/virtual-keys/vk-prod", Some(&put))
        .await;
    r.expect(200);

    // One key built from separate PUTs: provider configs from the first, team and the new rate
    // limit from the last.
    let published = app.cp.current();
    assert_eq!(published.version, r.version());
    let config = &published.config;
    config.validate().unwrap();
    let vk = &config.governance.virtual_keys["vk-prod"];
    assert_eq!(vk.value_hash, hash_credential("vk-prod"));
    assert_eq!(vk.team_id.as_deref(), Some(team_id.as_str()));
    assert_eq!(vk.provider_configs.len(), 2);
    let limit = vk.rate_limit.as_ref().unwrap();
    assert_eq!(limit.request_max_limit, Some(1000));
    assert_eq!(limit.token_max_limit, None, "rate_limit was replaced whole");
    let team = &config.governance.teams[&team_id];
    assert_eq!(team.customer_id.as_deref(), Some(customer_id.as_str()));
    assert_eq!(config.governance.customers[&customer_id].name, "Acme Corp");
    let openai = &config.providers["openai"];
    assert_eq!(openai.keys[0].value.expose(), "sk-1...");
    assert_eq!(openai.network_config.max_retries, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_md_curl_sequence_works_in_order_on_sqlite() {
    run_api_md_sequence(TestApp::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_md_curl_sequence_works_in_order_on_postgres() {
    if let Some(app) = TestApp::postgres().await {
        run_api_md_sequence(app).await;
    }
}
