//! Usage survives restarts and outages: settled usage reaches the ledger, budgets are restored
//! from it after a restart, and a control-plane outage (even with a data-plane restart in the
//! middle) loses no usage.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use sluice_core::hash_credential;
use sluice_store::testing::TestDatabase;
use sluice_store::{EncryptionKey, Store, UsageScope, UsageTotals};

use crate::harness::{
    HttpClient, Proc, Reply, chat, free_addr, start_controlplane, start_dataplane, start_mock,
    start_serve_in, stop_gracefully, within,
};

const ADMIN_TOKEN: &str = "usage-ledger-admin-token";
const ENCRYPTION_KEY: &str = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";
/// A restarted control plane is found within the reporter's capped backoff (5 s) and more.
const RECONNECT: Duration = Duration::from_secs(30);

/// The mock costs $1/M input and $2/M output tokens: one request with 16 output tokens reserves
/// a few dozen micro-USD, so this budget is spent after a request or two.
fn serve_config() -> String {
    format!(
        r#"
[governance.virtual_keys.vk-ledger]
value_hash = "{}"
budget = {{ max_limit = 0.00005, reset_duration = "1M" }}
provider_configs = [{{ provider = "mock", budget = {{ max_limit = 1.0, reset_duration = "1M" }} }}]
"#,
        hash_credential("vk-ledger")
    )
}

fn spend_body(model: &str) -> Value {
    let mut body = chat(model, "spend");
    body["max_tokens"] = json!(16);
    body
}

async fn ask(c: &HttpClient, dp: &Proc, model: &str, key: &str) -> Reply {
    let auth = format!("Bearer {key}");
    c.post_json(
        &dp.url("/v1/chat/completions"),
        &spend_body(model),
        &[("authorization", auth.as_str())],
    )
    .await
}

/// Sends requests until one is refused; returns how many were served and the refusal.
async fn spend_until_refused(c: &HttpClient, gw: &Proc, model: &str, key: &str) -> (u64, Reply) {
    for served in 0..100 {
        let r = ask(c, gw, model, key).await;
        if r.status != 200 {
            return (served, r);
        }
    }
    panic!("{key}: budget never ran out after 100 requests");
}

async fn usage(c: &HttpClient, base: &Proc, key: &str, token: Option<&str>) -> Value {
    let url = base.url(&format!("/api/governance/virtual-keys/{key}/usage"));
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let r = c
        .send(Method::GET, &url, Bytes::new(), &headers)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The `usage` of the budget of `scope` in a usage answer, in USD.
fn budget_spent(usage: &Value, scope: &str) -> f64 {
    usage["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["scope"] == scope && l["kind"] == "budget_usd")
        .and_then(|l| l["usage"].as_f64())
        .unwrap_or_else(|| panic!("no {scope} budget usage in {usage}"))
}

async fn sqlite_ledger(data_dir: &Path) -> Store {
    let url = format!("sqlite://{}", data_dir.join("data/sluice.db").display());
    // Reading the ledger needs no provider secret: any key opens the store.
    Store::connect(&url, EncryptionKey::generate().unwrap())
        .await
        .unwrap()
}

async fn ledger_of(store: &Store, key: &str) -> UsageTotals {
    store
        .usage_since(UsageScope::VirtualKey, key, UNIX_EPOCH)
        .await
        .unwrap()
}

#[tokio::test]
async fn budget_spend_survives_a_restart_of_sluice_serve() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    let c = HttpClient::new();
    let gw = start_serve_in(dir.path(), listen, &serve_config(), &[]).await;
    let (served, refused) = spend_until_refused(&c, &gw, "gpt-4o-mini", "vk-ledger").await;
    assert!(served >= 1, "the first request fits the budget");
    assert_eq!(refused.status, 402, "{}", refused.text());

    let before = usage(&c, &gw, "vk-ledger", None).await;
    assert_eq!(before["usage_source"], "live", "{before}");
    let spent = budget_spent(&before, "virtual_key");
    assert!(spent > 0.0, "{before}");
    assert_eq!(budget_spent(&before, "provider_config"), spent, "{before}");

    // A graceful stop delivers what the reporter still holds.
    stop_gracefully(gw).await;
    let store = sqlite_ledger(dir.path()).await;
    let ledger = ledger_of(&store, "vk-ledger").await;
    assert_eq!(ledger.requests, served, "one ledger row per served request");
    assert_eq!(ledger.cost_micros as f64 / 1e6, spent);
    store.close().await;

    let gw = start_serve_in(dir.path(), listen, &serve_config(), &[]).await;
    let after = usage(&c, &gw, "vk-ledger", None).await;
    assert_eq!(budget_spent(&after, "virtual_key"), spent, "{after}");
    assert_eq!(budget_spent(&after, "provider_config"), spent, "{after}");
    let r = ask(&c, &gw, "gpt-4o-mini", "vk-ledger").await;
    assert_eq!(r.status, 402, "the budget is still spent: {}", r.text());
    assert_eq!(r.json()["error"]["code"], "budget_exceeded");
}

async fn admin(c: &HttpClient, cp: &Proc, path: &str, body: Value) {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let r = c
        .send(
            Method::PUT,
            &cp.url(path),
            Bytes::from(body.to_string()),
            &[("authorization", auth.as_str())],
        )
        .await
        .unwrap();
    assert!(
        r.status.is_success(),
        "PUT {path}: {} {}",
        r.status,
        r.text()
    );
}

/// A control plane with provider `mocked` and the virtual keys `vk-split` (a large budget) and
/// `vk-tiny` (a budget of a request or two), and one data plane that serves them.
struct Split {
    db: TestDatabase,
    mock: Proc,
    dirs: tempfile::TempDir,
    cp_addr: std::net::SocketAddr,
    grpc_addr: std::net::SocketAddr,
    dp_addr: std::net::SocketAddr,
}

impl Split {
    async fn new() -> Option<Split> {
        Some(Split {
            db: TestDatabase::postgres().await?,
            mock: start_mock(&[]).await,
            dirs: tempfile::tempdir().unwrap(),
            cp_addr: free_addr(),
            grpc_addr: free_addr(),
            dp_addr: free_addr(),
        })
    }

    async fn control_plane(&self) -> Proc {
        let env = [
            ("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN),
            ("SLUICE_ENCRYPTION_KEY", ENCRYPTION_KEY),
        ];
        let dir = self.dirs.path().join("cp");
        start_controlplane(self.db.url(), self.cp_addr, self.grpc_addr, &dir, &env).await
    }

    fn dp_dir(&self) -> std::path::PathBuf {
        self.dirs.path().join("dp")
    }

    async fn data_plane(&self) -> Proc {
        let feed = format!("http://{}", self.grpc_addr);
        let dp = start_dataplane(&feed, self.dp_addr, &self.dp_dir(), &[]).await;
        let c = HttpClient::new();
        within(Duration::from_secs(10), "data plane ready", || async {
            c.get(&dp.url("/ready"))
                .await
                .is_ok_and(|r| r.status == 200)
        })
        .await;
        dp
    }

    async fn configure(&self, c: &HttpClient, cp: &Proc) {
        let provider = json!({
            "base_provider_type": "openai",
            "keys": [{"name": "k", "value": "sk-k"}],
            "network_config": {"base_url": self.mock.url("/v1"), "max_retries": 0}
        });
        admin(c, cp, "/api/providers/mocked", provider).await;
        let key = |max: f64| {
            json!({
                "provider_configs": [{"provider": "mocked"}],
                "budget": {"max_limit": max, "reset_duration": "1M"}
            })
        };
        admin(c, cp, "/api/governance/virtual-keys/vk-split", key(10.0)).await;
        admin(c, cp, "/api/governance/virtual-keys/vk-tiny", key(0.00005)).await;
    }
}

/// Sends `n` requests with `vk-split`, all of which must be served.
async fn serve_n(c: &HttpClient, dp: &Proc, n: u64) {
    for i in 0..n {
        let r = ask(c, dp, "mocked/gpt-4o-mini", "vk-split").await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
}

async fn ledger_reaches(store: &Store, key: &str, requests: u64, limit: Duration, what: &str) {
    let took = within(limit, what, || async {
        ledger_of(store, key).await.requests >= requests
    })
    .await;
    assert_eq!(
        ledger_of(store, key).await.requests,
        requests,
        "{what}: none twice"
    );
    eprintln!("{what}: after {took:?}");
}

#[tokio::test]
async fn usage_served_during_a_control_plane_outage_reaches_the_ledger_afterwards() {
    let Some(split) = Split::new().await else {
        return;
    };
    let c = HttpClient::new();
    let store = split.db.store().await;
    let cp = split.control_plane().await;
    split.configure(&c, &cp).await;
    // Started after the keys exist: ready means it has them.
    let dp = split.data_plane().await;
    serve_n(&c, &dp, 3).await;
    ledger_reaches(
        &store,
        "vk-split",
        3,
        RECONNECT,
        "reported while the control plane is up",
    )
    .await;
    let split_usage = usage(&c, &cp, "vk-split", Some(ADMIN_TOKEN)).await;
    assert_eq!(split_usage["usage_source"], "ledger", "{split_usage}");
    assert!(
        budget_spent(&split_usage, "virtual_key") > 0.0,
        "{split_usage}"
    );

    // The control plane goes away; the data plane serves on and keeps the usage.
    drop(cp);
    serve_n(&c, &dp, 4).await;
    // It is restarted too, during the outage: what it held is spilled to its data dir.
    stop_gracefully(dp).await;
    let spill = split.dp_dir().join("usage-spill.jsonl");
    let spilled = std::fs::read_to_string(&spill).unwrap_or_default();
    assert_eq!(spilled.lines().count(), 4, "spill file: {spilled}");
    let dp = split.data_plane().await;
    serve_n(&c, &dp, 2).await;

    // The control plane is back: everything arrives, once.
    let _cp = split.control_plane().await;
    ledger_reaches(
        &store,
        "vk-split",
        3 + 6,
        RECONNECT,
        "outage usage delivered",
    )
    .await;
    within(RECONNECT, "spill file removed", || async {
        !spill.exists()
    })
    .await;
    drop(dp);
}

#[tokio::test]
async fn a_restarted_data_plane_restores_budgets_from_the_control_plane() {
    let Some(split) = Split::new().await else {
        return;
    };
    let c = HttpClient::new();
    let store = split.db.store().await;
    let cp = split.control_plane().await;
    split.configure(&c, &cp).await;
    let dp = split.data_plane().await;
    let (served, refused) = spend_until_refused(&c, &dp, "mocked/gpt-4o-mini", "vk-tiny").await;
    assert!(served >= 1);
    assert_eq!(refused.status, 402, "{}", refused.text());
    ledger_reaches(
        &store,
        "vk-tiny",
        served,
        RECONNECT,
        "tiny key's spend reported",
    )
    .await;
    let spent = budget_spent(
        &usage(&c, &cp, "vk-tiny", Some(ADMIN_TOKEN)).await,
        "virtual_key",
    );
    assert!(spent > 0.0);

    // A fresh data plane (no local counters) learns the spend from the control plane.
    stop_gracefully(dp).await;
    let dp = split.data_plane().await;
    within(
        RECONNECT,
        "restored budget refuses the tiny key",
        || async { ask(&c, &dp, "mocked/gpt-4o-mini", "vk-tiny").await.status == 402 },
    )
    .await;
    drop((cp, dp));
}
