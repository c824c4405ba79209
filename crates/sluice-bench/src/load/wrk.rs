//! wrk 4.1 (Debian's), one thread, closed loop, with `lua/chat.lua` (the shared bench's script
//! plus p99.9).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::{Endpoint, LoadStats, Percentiles, run_tool, tool_command};

/// The wrk script, written next to the results at the start of a run.
pub const CHAT_LUA: &str = include_str!("../../lua/chat.lua");

#[derive(Deserialize)]
struct WrkJson {
    requests: u64,
    duration_s: f64,
    rps: f64,
    lat_mean_ms: f64,
    lat_p50_ms: f64,
    lat_p90_ms: f64,
    lat_p99_ms: f64,
    lat_p999_ms: f64,
    lat_max_ms: f64,
    err_connect: u64,
    err_read: u64,
    err_write: u64,
    err_status: u64,
    err_timeout: u64,
}

/// One closed-loop run of `secs` seconds at `conc` connections.
pub fn run(
    ep: &Endpoint,
    conc: u32,
    secs: u64,
    stream: bool,
    lua: &Path,
    log: &Path,
    nice: Option<i32>,
) -> Result<LoadStats> {
    let headers: Vec<String> = ep
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let mut cmd = tool_command(nice, "wrk");
    cmd.args([
        "-t1",
        &format!("-c{conc}"),
        &format!("-d{secs}s"),
        "--timeout",
        "10s",
        "--latency",
        "-s",
    ])
    .arg(lua)
    .arg(&ep.url)
    .env("WRK_API_KEY", &ep.key)
    .env("WRK_HEADERS", headers.join("|"))
    .env("WRK_MODEL", &ep.model)
    .env("WRK_STREAM", if stream { "1" } else { "0" });
    let out = run_tool("wrk", cmd, log, Duration::from_secs(secs + 30))?;
    let line = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("WRKJSON "))
        .with_context(|| format!("wrk printed no result line (see {})", log.display()))?;
    let j: WrkJson = serde_json::from_str(line).context("wrk's result line")?;
    Ok(LoadStats {
        requests: j.requests,
        errors: j.err_connect + j.err_read + j.err_write + j.err_status + j.err_timeout,
        duration_s: j.duration_s,
        rps: j.rps,
        lat: Percentiles {
            mean: j.lat_mean_ms,
            p50: j.lat_p50_ms,
            p90: j.lat_p90_ms,
            p99: j.lat_p99_ms,
            p999: j.lat_p999_ms,
            max: j.lat_max_ms,
        },
        ttft: None,
    })
}
