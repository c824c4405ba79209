//! Traces over OTLP/gRPC: an in-process collector (the OTLP trace service on a tonic server)
//! receives the gateway's spans, with the GenAI attributes, continuing the client's trace.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Value, json};

use crate::harness::{HttpClient, Proc, start_gateway, start_mock, within};

/// What the collector received: every span, and the `service.name` of each export.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    services: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(|v| any_to_json(v.value.as_ref()));
            if let Some(Value::String(s)) = service {
                self.services.lock().unwrap().push(s);
            }
            let mut spans = self.spans.lock().unwrap();
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Serves the OTLP trace service on a free loopback port until the test ends.
    async fn start() -> (Collector, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the collector");
        let addr = listener.local_addr().expect("collector addr");
        let collector = Collector::default();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .expect("collector server");
        });
        (collector, addr)
    }

    /// The spans of one trace, once its root span has arrived (the root ends last).
    async fn trace(&self, trace_id: &[u8]) -> Vec<Span> {
        let spans = self.spans.clone();
        within(
            Duration::from_secs(15),
            "the root span reaches the collector",
            || {
                let spans = spans.clone();
                async move {
                    spans
                        .lock()
                        .unwrap()
                        .iter()
                        .any(|s| s.trace_id == trace_id && s.name == "sluice.request")
                }
            },
        )
        .await;
        // Children end before the root; a batch boundary may still split them: one more delay.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let all = self.spans.lock().unwrap();
        all.iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }
}

fn any_to_json(v: Option<&AnyValue>) -> Value {
    match v {
        Some(AnyValue::StringValue(s)) => json!(s),
        Some(AnyValue::IntValue(i)) => json!(i),
        Some(AnyValue::BoolValue(b)) => json!(b),
        Some(AnyValue::DoubleValue(d)) => json!(d),
        other => json!(format!("{other:?}")),
    }
}

/// A span's attributes as JSON values, by key.
fn attrs(span: &Span) -> HashMap<String, Value> {
    span.attributes
        .iter()
        .map(|kv| {
            let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
            (kv.key.clone(), any_to_json(v))
        })
        .collect()
}

fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one '{name}' span expected: {:#?}",
        names(spans)
    );
    found[0]
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Two providers on one mock: `a`'s key always answers 429, `b`'s answers; a request for
/// `a/...` with `b/...` as fallback makes one failed and one good attempt.
async fn gateway_exporting_to(collector: SocketAddr) -> (Proc, Proc) {
    let mock = start_mock(&[]).await;
    let c = HttpClient::new();
    let r = c
        .post_json(
            &mock.url("/mock/config"),
            &json!({"keys": {"sk-a": {"always_status": 429}}}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cfg = format!(
        r#"
[mock]
enabled = false
[providers.a]
base_provider_type = "openai"
keys = [{{ name = "ka", value = "sk-a" }}]
[providers.a.network_config]
base_url = "{url}"
[providers.b]
base_provider_type = "openai"
keys = [{{ name = "kb", value = "sk-b" }}]
[providers.b.network_config]
base_url = "{url}"
"#,
        url = mock.url("/v1")
    );
    let endpoint = format!("http://{collector}");
    let gw = start_gateway(
        &cfg,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    (gw, mock)
}

#[tokio::test]
async fn chat_request_is_traced_with_genai_attributes_under_the_clients_trace() {
    let (collector, addr) = Collector::start().await;
    let (gw, mock) = gateway_exporting_to(addr).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{client_span}-01");
    let body = json!({
        "model": "a/gpt-4o-mini",
        "fallbacks": ["b/gpt-4o-mini"],
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hello there"}],
    });
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &body,
            &[("traceparent", traceparent.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("b"));

    let spans = collector.trace(&hex(trace_id)).await;
    let root = one(&spans, "sluice.request");
    assert_eq!(
        root.parent_span_id,
        hex(client_span),
        "the root continues the client's span"
    );
    assert_eq!(root.kind, SpanKind::Server as i32);
    let a = attrs(root);
    let expect = [
        ("gen_ai.operation.name", json!("chat")),
        ("gen_ai.request.model", json!("a/gpt-4o-mini")),
        ("gen_ai.request.max_tokens", json!(50)),
        ("gen_ai.provider.name", json!("openai")),
        ("gen_ai.system", json!("openai")),
        ("gen_ai.response.model", json!("gpt-4o-mini")),
        ("http.response.status_code", json!(200)),
        ("http.route", json!("/v1/chat/completions")),
        ("server.address", json!("127.0.0.1")),
        ("server.port", json!(mock.addr.port())),
        ("sluice.provider", json!("b")),
        ("sluice.key", json!("kb")),
        ("sluice.attempts", json!(2)),
    ];
    for (k, v) in expect {
        assert_eq!(a.get(k), Some(&v), "root attribute {k}: {a:#?}");
    }
    for k in ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"] {
        assert!(a[k].as_i64().unwrap_or(0) > 0, "{k}: {a:#?}");
    }
    assert_eq!(
        a.get("sluice.request_id").and_then(Value::as_str),
        r.header("x-request-id")
    );

    // Every stage is a child of the root; the attempts are children of dispatch.
    for stage in [
        "authenticate",
        "read_body",
        "parse",
        "route",
        "admit",
        "dispatch",
        "relay",
        "settle",
    ] {
        assert_eq!(one(&spans, stage).parent_span_id, root.span_id, "{stage}");
    }
    let dispatch = one(&spans, "dispatch");
    let mut attempts: Vec<&Span> = spans.iter().filter(|s| s.name == "attempt").collect();
    attempts.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(attempts.len(), 2, "{:#?}", names(&spans));
    let (failed, ok) = (attrs(attempts[0]), attrs(attempts[1]));
    for (span, a) in attempts.iter().zip([&failed, &ok]) {
        assert_eq!(span.parent_span_id, dispatch.span_id);
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(a.get("gen_ai.request.model"), Some(&json!("gpt-4o-mini")));
        assert_eq!(a.get("server.address"), Some(&json!("127.0.0.1")));
    }
    assert_eq!(failed.get("sluice.provider"), Some(&json!("a")));
    assert_eq!(failed.get("sluice.key"), Some(&json!("ka")));
    assert_eq!(failed.get("http.response.status_code"), Some(&json!(429)));
    assert_eq!(
        failed.get("sluice.failure_class"),
        Some(&json!("rate_limited"))
    );
    assert_eq!(ok.get("sluice.provider"), Some(&json!("b")));
    assert_eq!(ok.get("http.response.status_code"), Some(&json!(200)));
    assert_eq!(ok.get("sluice.failure_class"), None);

    assert!(
        collector
            .services
            .lock()
            .unwrap()
            .iter()
            .all(|s| s == "sluice")
    );
}

#[tokio::test]
async fn stream_is_traced_until_it_ends_with_its_usage() {
    let (collector, addr) = Collector::start().await;
    let (gw, _mock) = gateway_exporting_to(addr).await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("00-{trace_id}-b7ad6b7169203331-01");
    let body = json!({
        "model": "b/gpt-4o-mini",
        "stream": true,
        "messages": [{"role": "user", "content": "stream please"}],
    });
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &body,
            &[("traceparent", traceparent.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.sse_data().last().map(String::as_str), Some("[DONE]"));

    let spans = collector.trace(&hex(trace_id)).await;
    let root = one(&spans, "sluice.request");
    let stream = one(&spans, "stream");
    assert_eq!(stream.parent_span_id, root.span_id);
    assert_eq!(one(&spans, "settle").parent_span_id, stream.span_id);
    assert!(
        root.end_time_unix_nano >= stream.end_time_unix_nano,
        "the root span ends with the stream"
    );
    let a = attrs(root);
    assert_eq!(a.get("sluice.stream"), Some(&json!(true)));
    assert_eq!(a.get("gen_ai.operation.name"), Some(&json!("chat")));
    assert!(
        a["gen_ai.usage.output_tokens"].as_i64().unwrap_or(0) > 0,
        "{a:#?}"
    );
    assert_eq!(a.get("error.type"), None, "{a:#?}");
}

#[tokio::test]
async fn refused_request_is_an_error_span_with_its_status() {
    let (collector, addr) = Collector::start().await;
    let (gw, _mock) = gateway_exporting_to(addr).await;
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let traceparent = format!("00-{trace_id}-eee19b7ec3c1b174-01");
    let r = HttpClient::new()
        .post_json(
            &gw.url("/v1/chat/completions"),
            &json!({"model": "nosuch/x", "messages": [{"role": "user", "content": "hi"}]}),
            &[("traceparent", traceparent.as_str())],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());

    let spans = collector.trace(&hex(trace_id)).await;
    let root = one(&spans, "sluice.request");
    let a = attrs(root);
    assert_eq!(a.get("http.response.status_code"), Some(&json!(400)));
    assert_eq!(a.get("error.type"), Some(&json!("400")));
    assert_eq!(a.get("gen_ai.request.model"), Some(&json!("nosuch/x")));
    let status = root.status.as_ref().expect("span status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(status.message.contains("nosuch"), "{status:?}");
    assert!(
        !spans.iter().any(|s| s.name == "dispatch"),
        "refused before dispatch"
    );
}

#[tokio::test]
async fn unreachable_collector_does_not_slow_or_fail_requests() {
    // Nothing listens there: every export fails in the background.
    let nobody = crate::harness::free_addr();
    let endpoint = format!("http://{nobody}");
    let gw = start_gateway(
        "",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
        ],
    )
    .await;
    let c = HttpClient::new();
    let started = std::time::Instant::now();
    for i in 0..20 {
        let r = c
            .post_json(
                &gw.url("/v1/chat/completions"),
                &crate::harness::chat("mock/gpt-4o-mini", "hi"),
                &[(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )],
            )
            .await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "20 requests took {:?}",
        started.elapsed()
    );
}
