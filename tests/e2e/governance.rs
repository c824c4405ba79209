//! Virtual keys at the authenticate and route stages.

use sluice_core::hash_credential;

use crate::harness::{HttpClient, chat, start_gateway};

fn config() -> String {
    format!(
        r#"
[governance.virtual_keys.vk-prod]
value_hash = "{}"
provider_configs = [{{ provider = "mock", weight = 1.0 }}]

[governance.virtual_keys.vk-off]
value_hash = "{}"
is_active = false
"#,
        hash_credential("vk-prod"),
        hash_credential("vk-off")
    )
}

#[tokio::test]
async fn virtual_keys_authenticate_and_route_bare_models() {
    let gw = start_gateway(&config(), &[("ANTHROPIC_API_KEY", "sk-ant")]).await;
    let c = HttpClient::new();
    let url = gw.url("/v1/chat/completions");
    let body = chat("gpt-4o-mini", "hi");

    let r = c.post_json(&url, &body, &[]).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "authentication_error");

    let r = c
        .post_json(&url, &body, &[("authorization", "Bearer vk-unknown")])
        .await;
    assert_eq!(r.status, 401);

    let r = c
        .post_json(&url, &body, &[("authorization", "Bearer vk-off")])
        .await;
    assert_eq!(r.status, 403);

    for header in ["authorization", "x-api-key", "x-sluice-vk"] {
        let value = if header == "authorization" {
            "Bearer vk-prod"
        } else {
            "vk-prod"
        };
        let r = c.post_json(&url, &body, &[(header, value)]).await;
        assert_eq!(r.status, 200, "{header}: {}", r.text());
        assert_eq!(r.header("x-sluice-provider"), Some("mock"));
    }

    let r = c
        .post_json(
            &url,
            &chat("anthropic/claude-3-5-haiku-latest", "hi"),
            &[("authorization", "Bearer vk-prod")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "provider_not_allowed");
}

#[tokio::test]
async fn anthropic_ingress_authenticates_with_x_api_key() {
    let gw = start_gateway(&config(), &[]).await;
    let body = serde_json::json!({
        "model": "gpt-4o-mini", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let c = HttpClient::new();
    let r = c
        .post_json(
            &gw.url("/anthropic/v1/messages"),
            &body,
            &[("x-api-key", "nope")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = c
        .post_json(
            &gw.url("/anthropic/v1/messages"),
            &body,
            &[("x-api-key", "vk-prod")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}
