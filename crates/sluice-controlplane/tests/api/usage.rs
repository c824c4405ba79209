//! `GET /api/governance/virtual-keys/{id}/usage` with real numbers: budgets from the ledger in a
//! split deployment, every limit from the live limiter when a data plane shares the process.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sluice_controlplane::LiveUsage;
use sluice_core::limits::{LimitKind, LimitSpec, LimitUsage, Scope, ScopeKind};
use sluice_store::UsageRecord;

const VK: &str = "/api/governance/virtual-keys/vk-prod";

fn spend(id: &str, provider: &str, cost_micros: u64, at: SystemTime) -> UsageRecord {
    UsageRecord {
        request_id: id.into(),
        virtual_key_id: Some("vk-prod".into()),
        team_id: Some("eng".into()),
        customer_id: None,
        provider: provider.into(),
        model: "gpt-4o-mini".into(),
        prompt_tokens: 100,
        completion_tokens: 50,
        cost_micros,
        occurred_at: at,
    }
}

fn entry<'a>(body: &'a Value, scope: &str, kind: &str) -> &'a Value {
    body["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["scope"] == scope && l["kind"] == kind)
        .unwrap_or_else(|| panic!("no {scope} {kind} limit in {body}"))
}

/// A data plane's limiter as the route sees it: fixed numbers per scope kind.
struct FixedCounters;

impl LiveUsage for FixedCounters {
    fn usage(&self, scope: &Scope, spec: &LimitSpec) -> Vec<LimitUsage> {
        let mut out = Vec::new();
        if let Some(w) = spec.requests {
            let used = if scope.kind == ScopeKind::VirtualKey {
                3
            } else {
                0
            };
            out.push(LimitUsage {
                kind: LimitKind::Requests,
                used,
                max: w.max,
                reset_in: Duration::from_secs(if used > 0 { 42 } else { 0 }),
                period: sluice_core::governance::ResetDuration::Fixed(w.window),
            });
        }
        if let Some(b) = spec.budget {
            out.push(LimitUsage {
                kind: LimitKind::BudgetUsd,
                used: 250_000,
                max: b.max_micros as u64,
                reset_in: Duration::from_secs(3600),
                period: b.reset,
            });
        }
        out
    }
}

on_both_backends! {
    async fn budget_spend_comes_from_the_ledger_for_the_current_period(app) {
        app.call("POST", "/api/governance/teams", Some(json!({"id": "eng", "name": "Eng",
            "budget": {"max_limit": 50, "reset_duration": "1d"}}))).await.expect(201);
        app.call("PUT", VK, Some(json!({"team_id": "eng",
            "budget": {"max_limit": 10, "reset_duration": "1M"},
            "rate_limit": {"request_max_limit": 5, "request_reset_duration": "1m"},
            "provider_configs": [{"provider": "openai",
                "budget": {"max_limit": 1, "reset_duration": "1M"}}]
        }))).await.expect(201);
        let now = SystemTime::now();
        let two_months_ago = now - Duration::from_secs(62 * 86_400);
        app.cp.store().record_usage(&[
            spend("r1", "openai", 1_250_000, now),
            spend("r2", "anthropic", 500_000, now),
            spend("r0", "openai", 9_000_000, two_months_ago),
        ]).await.unwrap();

        let r = app.call("GET", &format!("{VK}/usage"), None).await;
        r.expect(200);
        assert_eq!(r.body["usage_source"], "ledger");
        assert_eq!(entry(&r.body, "virtual_key", "budget_usd")["usage"], 1.75);
        assert_eq!(entry(&r.body, "provider_config", "budget_usd")["usage"], 1.25);
        assert_eq!(entry(&r.body, "team", "budget_usd")["usage"], 1.75);
        let window = entry(&r.body, "virtual_key", "requests");
        assert!(window["usage"].is_null(), "rate windows are per data plane: {window}");
    }

    async fn a_live_view_reports_every_limit_with_its_reset_time(app) {
        app.cp.set_usage_view(Arc::new(FixedCounters));
        app.call("PUT", VK, Some(json!({
            "budget": {"max_limit": 10, "reset_duration": "1M"},
            "rate_limit": {"request_max_limit": 5, "request_reset_duration": "1m"},
            "provider_configs": [{"provider": "openai",
                "rate_limit": {"request_max_limit": 2, "request_reset_duration": "1m"}}]
        }))).await.expect(201);
        let r = app.call("GET", &format!("{VK}/usage"), None).await;
        r.expect(200);
        assert_eq!(r.body["usage_source"], "live");
        let requests = entry(&r.body, "virtual_key", "requests");
        assert_eq!((requests["usage"].as_u64(), requests["limit"].as_u64()), (Some(3), Some(5)));
        assert!(requests["resets_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{requests}");
        let idle = entry(&r.body, "provider_config", "requests");
        assert_eq!(idle["usage"], 0);
        assert!(idle["resets_at"].is_null(), "an empty window has nothing to reset: {idle}");
        let budget = entry(&r.body, "virtual_key", "budget_usd");
        assert_eq!((budget["usage"].as_f64(), budget["limit"].as_f64()), (Some(0.25), Some(10.0)));
        assert!(budget["resets_at"].is_string(), "{budget}");
    }
}
