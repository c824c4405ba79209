//! The shipped monitoring: `deploy/prometheus/alerts.yml` and `deploy/grafana/sluice.json` parse,
//! and every series their queries name is one a live gateway exports after real traffic (so a
//! renamed metric breaks CI, not an operator's alerting). Every exported series is documented in
//! docs/observability.md. With `promtool` on the PATH the rules are also checked and
//! unit-tested by it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::harness::{HttpClient, chat, start_gateway, start_mock, within};

/// Series the gateway exports only after a fault the test cannot cause with a healthy in-process
/// ledger; they must still be described in metrics.rs (checked below).
const FAULT_ONLY: &[(&str, &str)] = &[
    (
        "sluice_usage_events_dropped_total",
        "counted only when a usage event is lost",
    ),
    (
        "sluice_usage_events_spilled_total",
        "counted only while the ledger is unreachable",
    ),
    (
        "sluice_usage_report_failures_total",
        "counted only when a usage report fails",
    ),
];

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

// --- PromQL: the metric names an expression selects ---------------------------------------

/// Keywords and modifiers that look like identifiers but name no series.
const PROMQL_KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
    // Aggregations may come before their parentheses: `sum without (key) (x)`.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The metric names `expr` selects: identifiers that are not functions (followed by `(`),
/// keywords, label names inside `{...}` or `by/without/on/ignoring/group_*(...)`, strings,
/// durations, numbers or Grafana variables.
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    // Index just past the group opened at `open` (which holds `open_c`), strings respected.
    let close = |open: usize, open_c: char, close_c: char| {
        let mut depth = 0;
        let mut j = open;
        while j < chars.len() {
            match chars[j] {
                '"' | '\'' | '`' => {
                    let q = chars[j];
                    j += 1;
                    while j < chars.len() && chars[j] != q {
                        j += if chars[j] == '\\' { 2 } else { 1 };
                    }
                }
                c if c == open_c => depth += 1,
                c if c == close_c => {
                    depth -= 1;
                    if depth == 0 {
                        return j + 1;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        panic!("unbalanced '{open_c}' in {expr}");
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' {
            i = close(i, '{', '}');
        } else if c == '[' {
            i = close(i, '[', ']');
        } else if c == '$' {
            // Grafana variable: $name or ${name}.
            i += 1;
            if i < chars.len() && chars[i] == '{' {
                i = close(i, '{', '}');
            }
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number or a duration (5m, 1e6, 0.99).
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = skip_ws(i);
            let label_list = [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ];
            if label_list.contains(&word.as_str()) {
                if next < chars.len() && chars[next] == '(' {
                    i = close(next, '(', ')');
                }
            } else if next < chars.len() && chars[next] == '(' {
                // A function call: its arguments are scanned as they come.
            } else if !PROMQL_KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn promql_metric_names_skip_functions_labels_and_variables() {
    let e = r#"histogram_quantile(0.99, sum by (le, provider) (rate(sluice_x_seconds_bucket{provider=~"$provider", kind="a}b"}[$__rate_interval])))
        / ignoring(provider) group_left sum without (key) (sluice_y offset 5m) > 0.8 and on(id) sluice_z * 1e6"#;
    let got: Vec<String> = promql_metric_names(e).into_iter().collect();
    assert_eq!(got, ["sluice_x_seconds_bucket", "sluice_y", "sluice_z"]);
}

// --- The files --------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn is_duration(s: &str) -> bool {
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        let Some(u) = unit else { return false };
        rest = &rest[u.len()..];
        any = true;
    }
    any
}

/// Every rule of alerts.yml, checked for shape; returns each alert with the names it uses.
fn alert_rules() -> BTreeMap<String, BTreeSet<String>> {
    let file: RuleFile =
        serde_norway::from_str(&read("deploy/prometheus/alerts.yml")).expect("alerts.yml parses");
    let mut out = BTreeMap::new();
    assert!(!file.groups.is_empty());
    let mut groups = BTreeSet::new();
    for g in &file.groups {
        assert!(groups.insert(&g.name), "group {} twice", g.name);
        if let Some(i) = &g.interval {
            assert!(is_duration(i), "group {}: interval {i}", g.name);
        }
        for r in &g.rules {
            let name = match (&r.alert, &r.record) {
                (Some(a), None) => a.clone(),
                (None, Some(rec)) => rec.clone(),
                _ => panic!("a rule of {} needs exactly one of alert/record", g.name),
            };
            if r.alert.is_some() {
                let sev = r.labels.get("severity").map(String::as_str);
                assert!(
                    matches!(sev, Some("warning" | "critical")),
                    "{name}: severity {sev:?}"
                );
                assert!(r.annotations.contains_key("summary"), "{name}: no summary");
            }
            if let Some(f) = &r.for_ {
                assert!(is_duration(f), "{name}: for {f}");
            }
            let names = promql_metric_names(&r.expr);
            assert!(!names.is_empty(), "{name} selects no series: {}", r.expr);
            assert!(out.insert(name.clone(), names).is_none(), "{name} twice");
        }
    }
    out
}

/// Every query of the dashboard (panel targets, rows' nested panels, template variables).
fn dashboard_queries() -> Vec<(String, String)> {
    let dash: Value =
        serde_json::from_str(&read("deploy/grafana/sluice.json")).expect("sluice.json parses");
    for k in ["uid", "title", "panels", "schemaVersion"] {
        assert!(dash.get(k).is_some(), "dashboard has no {k}");
    }
    let mut queries = Vec::new();
    let mut ids = BTreeSet::new();
    let mut stack: Vec<&Value> = dash["panels"].as_array().expect("panels").iter().collect();
    while let Some(p) = stack.pop() {
        let title = p["title"].as_str().unwrap_or("?").to_string();
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "panel id twice: {title}"
        );
        if let Some(nested) = p.get("panels").and_then(Value::as_array) {
            stack.extend(nested);
        }
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: no expr"));
            queries.push((title.clone(), expr.to_string()));
        }
    }
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        let q = match &v["query"] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o.get("query").and_then(Value::as_str).unwrap_or("").into(),
            _ => String::new(),
        };
        // label_values(metric, label): the label is not a series.
        if let Some(args) = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let metric = args.rsplit_once(',').map_or(args, |(m, _)| m);
            queries.push((format!("variable {}", v["name"]), metric.to_string()));
        }
    }
    queries
}

/// The series the promtool unit tests feed the rules (they must be real series too, or the
/// tests exercise rules against data the gateway never produces).
fn rule_test_series() -> BTreeSet<String> {
    let tests: serde_norway::Value =
        serde_norway::from_str(&read("deploy/prometheus/alerts_test.yml"))
            .expect("alerts_test.yml parses");
    let mut names = BTreeSet::new();
    for t in tests["tests"].as_sequence().expect("tests") {
        for s in t["input_series"].as_sequence().expect("input_series") {
            let series = s["series"].as_str().expect("series");
            names.extend(promql_metric_names(series));
        }
    }
    names
}

// --- A live gateway ---------------------------------------------------------------------

/// Sample names of a Prometheus text exposition (histograms as `_bucket`/`_sum`/`_count`), and
/// the families of its `# TYPE` lines.
fn exported(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut samples = BTreeSet::new();
    let mut families = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                families.insert(name.to_string());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            samples.insert(line[..end].to_string());
        }
    }
    (samples, families)
}

/// Drives traffic that makes every kind of series appear: answers, a refused request, a 429ing
/// key (attempt failures, a retry, a cooldown, key availability), a failing provider with a
/// fallback (a failover), a stream (time to first token), an unpriced model, and a virtual key
/// with request, token and budget limits (the limit gauges); then returns the live `/metrics`
/// once the usage reporter has delivered to the ledger.
async fn metrics_after_traffic() -> String {
    let mock = start_mock(&[]).await;
    let c = HttpClient::new();
    let r = c
        .post_json(
            &mock.url("/mock/config"),
            &json!({"keys": {"sk-down": {"always_status": 500}}}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cfg = format!(
        r#"
[providers.up]
base_provider_type = "openai"
keys = [{{ name = "k1", value = "sk-m1" }}, {{ name = "k2", value = "sk-m2" }}]
[providers.up.network_config]
base_url = "{url}"
retry_backoff_initial_ms = 1
retry_backoff_max_ms = 5
[providers.down]
base_provider_type = "openai"
keys = [{{ name = "kd", value = "sk-down" }}]
[providers.down.network_config]
base_url = "{url}"
max_retries = 0

[governance]
require_virtual_key = false
[governance.virtual_keys.vk-mon]
value_hash = "{hash}"
provider_configs = [{{ provider = "mock" }}]
rate_limit = {{ request_max_limit = 100, request_reset_duration = "1h", token_max_limit = 100000, token_reset_duration = "1h" }}
budget = {{ max_limit = 5.0, reset_duration = "1M" }}
"#,
        url = mock.url("/v1"),
        hash = sluice_core::hash_credential("vk-mon"),
    );
    let gw = start_gateway(&cfg, &[]).await;
    let url = gw.url("/v1/chat/completions");
    let post = |body: Value, headers: &'static [(&'static str, &'static str)]| {
        let (c, url) = (c.clone(), url.clone());
        async move { c.post_json(&url, &body, headers).await }
    };
    let vk: &[(&str, &str)] = &[("authorization", "Bearer vk-mon")];
    for _ in 0..2 {
        let r = post(chat("up/gpt-4o-mini", "hi"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = post(chat("gpt-4o-mini", "hi"), vk).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = post(chat("up/some-unpriced-model", "hi"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut stream = chat("up/gpt-4o-mini", "stream");
    stream["stream"] = json!(true);
    let r = post(stream, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut failover = chat("down/gpt-4o-mini", "hi");
    failover["fallbacks"] = json!(["up/gpt-4o-mini"]);
    let r = post(failover, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("up"));
    // k1 answers 429 from now on: some requests land on it first and retry on k2.
    let r = c
        .post_json(
            &mock.url("/mock/config"),
            &json!({"keys": {"sk-m1": {"always_status": 429}}}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..8 {
        let r = post(chat("up/gpt-4o-mini", "hi"), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = post(chat("nosuch/x", "hi"), &[]).await;
    assert_eq!(r.status, 400);

    let metrics = gw.url("/metrics");
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let last = text.clone();
    within(
        Duration::from_secs(15),
        "usage reaches the ledger",
        move || {
            let (c, metrics, last) = (c.clone(), metrics.clone(), last.clone());
            async move {
                let t = c.get(&metrics).await.expect("GET /metrics").text();
                let done = t.contains("sluice_usage_events_reported_total");
                *last.lock().unwrap() = t;
                done
            }
        },
    )
    .await;
    text.lock().unwrap().clone()
}

#[tokio::test]
async fn alert_rules_and_dashboard_name_only_series_the_gateway_exports() {
    let rules = alert_rules();
    let queries = dashboard_queries();
    let text = metrics_after_traffic().await;
    let (samples, families) = exported(&text);

    let described = read("crates/sluice-dataplane/src/metrics.rs");
    for (name, why) in FAULT_ONLY {
        assert!(
            described.contains(&format!("\"{name}\"")),
            "{name} ({why}) is not described in metrics.rs"
        );
    }
    let known = |n: &str| samples.contains(n) || FAULT_ONLY.iter().any(|(f, _)| *f == n);
    let mut unknown = Vec::new();
    for (alert, names) in &rules {
        for n in names.iter().filter(|n| !known(n)) {
            unknown.push(format!("alerts.yml {alert}: {n}"));
        }
    }
    for n in rule_test_series().iter().filter(|n| !known(n)) {
        unknown.push(format!("alerts_test.yml: {n}"));
    }
    for (panel, expr) in &queries {
        for n in promql_metric_names(expr).iter().filter(|n| !known(n)) {
            unknown.push(format!("sluice.json '{panel}': {n}"));
        }
    }
    assert!(
        unknown.is_empty(),
        "series not exported by the gateway:\n{}\n\nexported: {samples:#?}",
        unknown.join("\n")
    );

    // Every exported family is documented (with its labels) in docs/observability.md.
    let docs = read("docs/observability.md");
    let undocumented: Vec<&String> = families
        .iter()
        .filter(|f| f.starts_with("sluice_") && !docs.contains(&format!("`{f}`")))
        .collect();
    let undocumented_faults = FAULT_ONLY
        .iter()
        .filter(|(f, _)| !docs.contains(&format!("`{f}`")));
    let undocumented: Vec<&str> = undocumented
        .into_iter()
        .map(String::as_str)
        .chain(undocumented_faults.map(|(f, _)| *f))
        .collect();
    assert!(
        undocumented.is_empty(),
        "series missing from docs/observability.md: {undocumented:?}"
    );

    promtool_checks();
}

/// `promtool check rules` and `promtool test rules`, when promtool is installed (Debian:
/// `apt-get install prometheus`). The Rust checks above stand without it.
fn promtool_checks() {
    let Ok(out) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED: promtool is not installed; alerts.yml checked by the Rust parser only\n",
        );
        return;
    };
    assert!(out.status.success());
    let dir = repo_file("deploy/prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
