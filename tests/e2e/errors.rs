//! Bad input and failing upstreams: a clear error in the ingress's own format, right status.

use bytes::Bytes;
use serde_json::json;

use crate::harness::{HttpClient, chat, run_to_end, start_gateway, start_mock};

#[tokio::test]
async fn malformed_json_is_a_400_in_openai_format() {
    let gw = start_gateway("", &[]).await;
    let r = HttpClient::new()
        .post_raw(
            &gw.url("/v1/chat/completions"),
            Bytes::from_static(b"{\"model\": "),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid request body")
    );
}

#[tokio::test]
async fn missing_field_is_named_in_param() {
    let gw = start_gateway("", &[]).await;
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &json!({"model": "mock/gpt-4o-mini"}),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "messages");
}

#[tokio::test]
async fn anthropic_ingress_errors_use_anthropic_shape() {
    let gw = start_gateway("", &[]).await;
    let r = HttpClient::new()
        .post_json(
            &gw.url("/anthropic/v1/messages"),
            &json!({"model": "mock/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
            &[],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{v}"
    );
}

#[tokio::test]
async fn provider_without_key_names_the_env_var() {
    let gw = start_gateway("", &[]).await;
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("openai/gpt-4o-mini", "hi"),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("OPENAI_API_KEY"), "{msg}");
}

#[tokio::test]
async fn unknown_provider_and_bad_fallback_are_400s() {
    let gw = start_gateway("", &[]).await;
    let c = HttpClient::new();
    let r = c
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("nosuch/gpt-4o-mini", "hi"),
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "unknown_provider");

    let mut body = chat("mock/gpt-4o-mini", "hi");
    body["fallbacks"] = json!(["mock/gpt-4o", "not-a-provider-ref"]);
    let r = c
        .post_json(&gw.url("/v1/chat/completions"), &body, &[])
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["param"], "fallbacks[1]");
}

#[tokio::test]
async fn oversize_body_is_a_413() {
    let gw = start_gateway("[server]\nmax_body_bytes = 1024\n", &[]).await;
    let big = "x".repeat(4096);
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("mock/gpt-4o-mini", &big),
            &[],
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "request_too_large");
}

#[tokio::test]
async fn unknown_route_is_a_404_and_wrong_method_a_405() {
    let gw = start_gateway("", &[]).await;
    let c = HttpClient::new();
    assert_eq!(c.get(&gw.url("/v1/nothing")).await.unwrap().status, 404);
    assert_eq!(
        c.get(&gw.url("/v1/chat/completions")).await.unwrap().status,
        405
    );
}

fn mock_provider_config(mock: &crate::harness::Proc, max_retries: u32) -> String {
    format!(
        r#"
[mock]
enabled = false

[providers.up]
base_provider_type = "openai"
keys = [{{ name = "k1", value = "sk-k1" }}]
[providers.up.network_config]
base_url = "{}"
max_retries = {max_retries}
retry_backoff_initial_ms = 1
retry_backoff_max_ms = 5
"#,
        mock.url("/v1")
    )
}

#[tokio::test]
async fn upstream_error_status_and_message_are_passed_through() {
    let mock = start_mock(&[]).await;
    let c = HttpClient::new();
    let r = c
        .post_json(
            &mock.url("/mock/config"),
            &json!({"always_status": 503}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let gw = start_gateway(&mock_provider_config(&mock, 0), &[]).await;
    let r = c
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("up/gpt-4o-mini", "hi"),
            &[],
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.text());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("503"), "{msg}");
}

#[tokio::test]
async fn dead_upstream_is_a_502_naming_the_provider() {
    let dead = crate::harness::free_addr();
    let config = format!(
        "[mock]\nenabled = false\n[providers.up]\nbase_provider_type = \"openai\"\n[providers.up.network_config]\nbase_url = \"http://{dead}/v1\"\nmax_retries = 0\n"
    );
    let gw = start_gateway(&config, &[]).await;
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &chat("up/gpt-4o-mini", "hi"),
            &[],
        )
        .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'up'")
    );
}

#[tokio::test]
async fn broken_upstream_stream_ends_with_an_error_event_not_done() {
    let mock = start_mock(&[]).await;
    let c = HttpClient::new();
    c.post_json(
        &mock.url("/mock/config"),
        &json!({"drop_stream_after_chunks": 2}),
        &[],
    )
    .await;
    let gw = start_gateway(&mock_provider_config(&mock, 0), &[]).await;
    let mut body = chat("up/gpt-4o-mini", "a long answer please");
    body["stream"] = json!(true);
    let r = c
        .post_json(&gw.url("/v1/chat/completions"), &body, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.sse_data();
    assert!(!data.iter().any(|d| d == "[DONE]"), "{data:?}");
    let last: serde_json::Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].as_str().is_some(), "{data:?}");
}

#[test]
fn invalid_config_names_the_field_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[providers.openai]\nkeys = [{ name = \"a\", value = \"x\", weight = 0.0 }]\n",
    )
    .unwrap();
    let (status, stderr) = run_to_end(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!status.success());
    assert!(
        stderr.contains("providers.openai.keys[0].weight"),
        "{stderr}"
    );
}
