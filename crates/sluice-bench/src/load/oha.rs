//! oha at a fixed rate (`-q`) with `--latency-correction`: each request's latency counts from
//! when it was due, so a slow answer that delays the next requests is not hidden (coordinated
//! omission). Its scheduler runs on tokio's millisecond timer, so "due" can lag by up to ~1 ms;
//! that lag is the same on both sides of a pair and cancels in the overhead.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{Endpoint, LoadStats, Percentiles, chat_body, run_tool, tool_command};

/// One fixed-rate run of `secs` seconds at `rps` over up to `conc` connections.
#[allow(clippy::too_many_arguments)]
pub fn run(
    oha: &Path,
    ep: &Endpoint,
    rps: u32,
    conc: u32,
    secs: u64,
    log: &Path,
    nice: Option<i32>,
) -> Result<LoadStats> {
    let mut cmd = tool_command(nice, oha);
    cmd.args([
        "-z",
        &format!("{secs}s"),
        "-c",
        &conc.to_string(),
        "-q",
        &rps.to_string(),
    ])
    .args([
        "--latency-correction",
        "-w",
        "--no-tui",
        "--output-format",
        "json",
        "-t",
        "10s",
    ])
    .args(["-m", "POST", "-H", "content-type: application/json"])
    .args(["-H", &format!("authorization: Bearer {}", ep.key)]);
    for (k, v) in &ep.headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    cmd.args(["-d", &chat_body(&ep.model, false)]).arg(&ep.url);
    let out = run_tool("oha", cmd, log, Duration::from_secs(secs + 40))?;
    let start = out
        .find('{')
        .with_context(|| format!("oha printed no JSON (see {})", log.display()))?;
    let j: Value = serde_json::from_str(&out[start..]).context("oha's JSON output")?;
    parse(&j)
}

fn parse(j: &Value) -> Result<LoadStats> {
    let s = &j["summary"];
    let p = &j["latencyPercentiles"];
    let ms = |v: &Value| v.as_f64().unwrap_or(0.0) * 1e3;
    let sum = |v: &Value, ok: bool| -> u64 {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with('2') == ok)
                    .map(|(_, n)| n.as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    let codes = &j["statusCodeDistribution"];
    let ok = sum(codes, true);
    let non2xx = sum(codes, false);
    let errors: u64 = j["errorDistribution"]
        .as_object()
        .map(|m| m.values().map(|n| n.as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    let duration_s = s["total"]
        .as_f64()
        .context("oha JSON without summary.total")?;
    Ok(LoadStats {
        requests: ok + non2xx,
        errors: non2xx + errors,
        duration_s,
        rps: (ok + non2xx) as f64 / duration_s.max(1e-9),
        lat: Percentiles {
            mean: ms(&s["average"]),
            p50: ms(&p["p50"]),
            p90: ms(&p["p90"]),
            p99: ms(&p["p99"]),
            p999: ms(&p["p99.9"]),
            max: ms(&s["slowest"]),
        },
        ttft: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oha_json_is_read_in_milliseconds_and_non_2xx_count_as_errors() {
        let j: Value = serde_json::from_str(
            r#"{"summary":{"successRate":1.0,"total":2.0,"slowest":0.004,"fastest":0.0001,"average":0.0003,"requestsPerSec":1000.0},
               "latencyPercentiles":{"p50":0.00025,"p90":0.0004,"p99":0.001,"p99.9":0.002},
               "statusCodeDistribution":{"200":1990,"429":10},"errorDistribution":{"connection closed":1}}"#,
        )
        .unwrap();
        let s = parse(&j).unwrap();
        assert_eq!((s.requests, s.errors), (2000, 11));
        assert!((s.lat.p50 - 0.25).abs() < 1e-9 && (s.lat.p999 - 2.0).abs() < 1e-9);
        assert!((s.rps - 1000.0).abs() < 1e-9);
    }
}
