//! The loads a row puts on a target, and the load generators that put them: wrk (closed loop),
//! oha (fixed rate, latency corrected for coordinated omission) and our own SSE client (fixed
//! rate, time to first token).

pub mod oha;
pub mod sse;
pub mod wrk;

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::procs::{Guard, boosted};

/// One load shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Load {
    /// wrk, `conc` connections each sending the next request when the last one answered.
    Closed { conc: u32 },
    /// oha at a fixed request rate over up to `conc` connections; latency counted from when
    /// each request was due, not when it was sent.
    Rate { rps: u32, conc: u32 },
    /// Our SSE client at a fixed rate over up to `conc` connections, streaming requests; time
    /// to the first `data:` line and to the end of the stream, both counted from when due.
    Stream { rps: u32, conc: u32 },
}

impl Load {
    /// Short label: `c=32`, `1000/s`, `stream 1000/s`.
    pub fn label(&self) -> String {
        match self {
            Load::Closed { conc } => format!("c={conc}"),
            Load::Rate { rps, .. } => format!("{rps}/s"),
            Load::Stream { rps, .. } => format!("stream {rps}/s"),
        }
    }

    /// The offered rate, for fixed-rate loads.
    pub fn rate(&self) -> Option<u32> {
        match self {
            Load::Closed { .. } => None,
            Load::Rate { rps, .. } | Load::Stream { rps, .. } => Some(*rps),
        }
    }

    pub fn tool(&self) -> &'static str {
        match self {
            Load::Closed { .. } => "wrk",
            Load::Rate { .. } => "oha",
            Load::Stream { .. } => "sluice-bench sse-load",
        }
    }
}

/// Where a load goes and how it authenticates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// The chat completions URL.
    pub url: String,
    /// Bearer token.
    pub key: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// `model` in the request body.
    pub model: String,
}

/// The request every load sends: the shared bench's body (`wrk/chat.lua`), byte for byte.
pub fn chat_body(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"system","content":"You are a helpful assistant."}},{{"role":"user","content":"Say hello in one short sentence."}}],"max_tokens":32,"temperature":0{}}}"#,
        if stream { r#","stream":true"# } else { "" }
    )
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// From samples in nanoseconds (sorted in place).
    pub fn of_nanos(samples: &mut [u64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        let at = |q: f64| {
            let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            ms(samples[i])
        };
        Percentiles {
            mean: samples.iter().map(|&n| ms(n)).sum::<f64>() / samples.len() as f64,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: ms(*samples.last().unwrap()),
        }
    }
}

/// What one load run measured on the client side.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadStats {
    /// Answered requests, any status.
    pub requests: u64,
    /// Non-2xx answers, socket errors, timeouts, broken streams.
    pub errors: u64,
    pub duration_s: f64,
    /// Answered requests per second.
    pub rps: f64,
    /// Whole-response latency.
    pub lat: Percentiles,
    /// Time to the first SSE `data:` line (streaming loads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft: Option<Percentiles>,
}

/// Runs a load generator in its own boosted session and returns its stdout (kept in `log`;
/// stderr goes to `log` + `.err`), bounded by `limit`.
pub fn run_tool(
    name: &str,
    cmd: std::process::Command,
    log: &Path,
    limit: Duration,
) -> Result<String> {
    let err = log.with_extension("err");
    let mut guard = Guard::spawn_split(name, cmd, log, Some(&err))?;
    if !guard.wait_bounded(limit) {
        drop(guard);
        bail!(
            "{name} did not finish within {}s; stopped (see {})",
            limit.as_secs(),
            log.display()
        );
    }
    drop(guard);
    Ok(std::fs::read_to_string(log).unwrap_or_default())
}

/// A [`boosted`] command for a load generator.
pub fn tool_command(
    nice: Option<i32>,
    program: impl AsRef<std::ffi::OsStr>,
) -> std::process::Command {
    boosted(nice, program)
}
