//! The control plane's load test (issue 4): `sluice serve` under closed-loop load while the
//! provider is replaced through the admin API ten times a second. Passes when no request
//! fails and every change was accepted and reached the data plane.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::http1;
use crate::load::{LoadStats, Percentiles, wrk};
use crate::targets::Running;

/// What the churn test saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnResult {
    pub secs: u64,
    pub conc: u32,
    /// PUT /api/providers/bench answered 2xx.
    pub puts_ok: u64,
    /// PUTs answered otherwise, or not at all.
    pub puts_failed: u64,
    /// How long each PUT took to answer, ms (median and slowest).
    pub put_p50_ms: f64,
    pub put_max_ms: f64,
    /// `config_version` from `/ready` before and after.
    pub version_before: Option<u64>,
    pub version_after: Option<u64>,
    /// The inference load meanwhile (wrk, closed loop).
    pub load: LoadStats,
}

impl ChurnResult {
    pub fn passed(&self) -> bool {
        self.load.errors == 0 && self.puts_failed == 0 && self.puts_ok > 0 && self.load.requests > 0
    }

    /// One paragraph for `summary.md`.
    pub fn describe(&self) -> String {
        let versions = match (self.version_before, self.version_after) {
            (Some(a), Some(b)) => format!("; the data plane's config version went from {a} to {b}"),
            _ => String::new(),
        };
        format!(
            "{} — wrk c={} for {} s: {} requests ({:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms), {} failed; meanwhile {} provider replacements (PUT /api/providers/bench, paced at 10 per second, each waited for: p50 {:.0} ms, slowest {:.0} ms) accepted and {} failed{versions}.",
            if self.passed() {
                "**passed**"
            } else {
                "**FAILED**"
            },
            self.conc,
            self.secs,
            self.load.requests,
            self.load.rps,
            self.load.lat.p50,
            self.load.lat.p99,
            self.load.lat.p999,
            self.load.errors,
            self.puts_ok,
            self.put_p50_ms,
            self.put_max_ms,
            self.puts_failed,
        )
    }
}

/// Runs the test against a started `sluice serve`.
pub fn run(
    serve: &Running,
    mock_port: u16,
    secs: u64,
    lua: &Path,
    log: &Path,
    nice: Option<i32>,
) -> Result<ChurnResult> {
    let base = serve
        .endpoint
        .url
        .strip_suffix("/v1/chat/completions")
        .context("unexpected serve URL")?
        .to_owned();
    let version = || -> Option<u64> {
        let r = http1::request(
            "GET",
            &format!("{base}/ready"),
            &[],
            None,
            Duration::from_secs(5),
        )
        .ok()?;
        let v: serde_json::Value = serde_json::from_str(r.body.trim()).ok()?;
        v["config_version"].as_u64()
    };
    let version_before = version();
    let conc = 32;
    let ep = serve.endpoint.clone();
    let (lua, log) = (lua.to_owned(), log.to_owned());
    let load = std::thread::spawn(move || wrk::run(&ep, conc, secs, false, &lua, &log, nice));
    let (mut puts_ok, mut puts_failed) = (0, 0);
    let mut put_ns: Vec<u64> = Vec::new();
    let t0 = Instant::now();
    let mut i: u64 = 0;
    // Let wrk connect first; stop a little before it does, so every change lands under load.
    std::thread::sleep(Duration::from_millis(200));
    while t0.elapsed() < Duration::from_secs(secs).saturating_sub(Duration::from_millis(300)) {
        let due = t0 + Duration::from_millis(200 + 100 * i);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let body = serde_json::json!({
            "base_provider_type": "openai",
            "models": ["gpt-4o-mini"],
            "keys": [{"name": "k1", "value": crate::gateway_config::PROVIDER_KEY}],
            "network_config": {
                "base_url": format!("http://127.0.0.1:{mock_port}/v1"),
                // Alternate, so every PUT is a real change.
                "timeout_ms": 60_000 + (i % 2),
            },
        })
        .to_string();
        let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
        let sent = Instant::now();
        let answer = http1::request(
            "PUT",
            &format!("{base}/api/providers/bench"),
            &headers,
            Some(&body),
            Duration::from_secs(5),
        );
        put_ns.push(sent.elapsed().as_nanos() as u64);
        match answer {
            Ok(r) if (200..300).contains(&r.status) => puts_ok += 1,
            _ => puts_failed += 1,
        }
        i += 1;
    }
    let load = load
        .join()
        .map_err(|_| anyhow::anyhow!("the churn load thread panicked"))??;
    // The last change reaches the data plane asynchronously.
    std::thread::sleep(Duration::from_millis(300));
    Ok(ChurnResult {
        secs,
        conc,
        puts_ok,
        puts_failed,
        put_p50_ms: Percentiles::of_nanos(&mut put_ns).p50,
        put_max_ms: Percentiles::of_nanos(&mut put_ns).max,
        version_before,
        version_after: version(),
        load,
    })
}
