//! From runs to rows: every gateway run is paired with the direct run made just before it
//! (same repetition, target and load); a row is the median over repetitions of each pair's
//! figures. Then the targets are checked against the rows, and everything is written
//! as `results.json` and `summary.md`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::churn::ChurnResult;
use crate::load::Load;
use crate::measure::Run;
use crate::targets::StartInfo;

/// The run's setting, for the reader of the results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub started_utc: String,
    pub finished_utc: String,
    pub wall_s: f64,
    pub mode: String,
    pub secs_per_run: u64,
    pub repeat: u32,
    pub nproc: usize,
    pub cpu: String,
    pub mem_total_kb: u64,
    pub kernel: String,
    pub wrk: String,
    pub oha: String,
    pub mock: String,
    pub nice: Option<i32>,
    pub quiet_pct: f64,
    pub quiet_max_wait_s: u64,
    pub sluice_version: String,
    /// When the measured binary was built (its modification time), UTC.
    pub sluice_built_utc: String,
    pub git_rev: String,
    pub targets: Vec<(String, String)>,
}

/// Low and high values over repetitions (min..max).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Span {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Span {
    fn of(mut xs: Vec<f64>) -> Span {
        xs.retain(|x| x.is_finite());
        if xs.is_empty() {
            return Span::default();
        }
        xs.sort_by(|a, b| a.total_cmp(b));
        let n = xs.len();
        let median = if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        };
        Span {
            median,
            min: xs[0],
            max: xs[n - 1],
        }
    }
}

/// p50 / p99 / p99.9, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Tail {
    pub p50: Span,
    pub p99: Span,
    pub p999: Span,
}

/// One target at one load: medians over repetitions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub target: String,
    pub load: Load,
    pub reps: usize,
    pub direct_rps: Span,
    pub gateway_rps: Span,
    pub direct: Tail,
    pub gateway: Tail,
    /// Gateway minus direct latency of the same pair.
    pub overhead: Tail,
    /// Streaming: time to first token, direct / gateway / overhead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft: Option<[Tail; 3]>,
    pub cpu_us_per_req: Span,
    /// Share of the gateway's CPU spent in the kernel (stime / (utime + stime)).
    pub cpu_kernel_share: Span,
    pub direct_cpu_us_per_req: Span,
    /// Largest peak RSS over the repetitions, KiB.
    pub rss_peak_kb: u64,
    pub errors: u64,
    pub direct_errors: u64,
    /// Foreign CPU during the pair, cores.
    pub noise_cores: Span,
}

/// One of the targets, checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub goal: String,
    pub measured: String,
    /// `None`: could not be checked in this run.
    pub pass: Option<bool>,
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub meta: Meta,
    pub starts: Vec<StartInfo>,
    pub rows: Vec<Row>,
    pub verdicts: Vec<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnResult>,
    pub notes: Vec<String>,
    pub runs: Vec<Run>,
}

/// Pairs runs and folds repetitions into rows, in the order the targets and loads first ran.
pub fn rows(runs: &[Run]) -> Vec<Row> {
    let mut keys: Vec<(String, Load)> = Vec::new();
    for r in runs.iter().filter(|r| r.side == "gateway") {
        if !keys.iter().any(|(t, l)| *t == r.target && *l == r.load) {
            keys.push((r.target.clone(), r.load));
        }
    }
    keys.into_iter()
        .filter_map(|(target, load)| {
            let pairs: Vec<(&Run, &Run)> = runs
                .iter()
                .filter(|g| g.side == "gateway" && g.target == target && g.load == load)
                .filter_map(|g| {
                    let d = runs.iter().find(|d| {
                        d.side == "direct"
                            && d.target == g.target
                            && d.load == g.load
                            && d.rep == g.rep
                    })?;
                    Some((d, g))
                })
                .collect();
            if pairs.is_empty() {
                return None;
            }
            let span = |f: &dyn Fn(&Run, &Run) -> f64| {
                Span::of(pairs.iter().map(|(d, g)| f(d, g)).collect())
            };
            let tail = |f: &dyn Fn(&Run) -> crate::load::Percentiles, side: u8| -> Tail {
                let pick = |d: &Run, g: &Run, q: fn(&crate::load::Percentiles) -> f64| match side {
                    0 => q(&f(d)),
                    1 => q(&f(g)),
                    _ => q(&f(g)) - q(&f(d)),
                };
                Tail {
                    p50: span(&|d, g| pick(d, g, |p| p.p50)),
                    p99: span(&|d, g| pick(d, g, |p| p.p99)),
                    p999: span(&|d, g| pick(d, g, |p| p.p999)),
                }
            };
            let lat = |r: &Run| r.stats.lat;
            let ttft = |r: &Run| r.stats.ttft.unwrap_or_default();
            let streaming = matches!(load, Load::Stream { .. });
            Some(Row {
                reps: pairs.len(),
                direct_rps: span(&|d, _| d.stats.rps),
                gateway_rps: span(&|_, g| g.stats.rps),
                direct: tail(&lat, 0),
                gateway: tail(&lat, 1),
                overhead: tail(&lat, 2),
                ttft: streaming.then(|| [tail(&ttft, 0), tail(&ttft, 1), tail(&ttft, 2)]),
                cpu_us_per_req: span(&|_, g| g.cpu_us_per_req),
                cpu_kernel_share: span(&|_, g| g.cpu_sys_s / g.cpu_s.max(1e-9)),
                direct_cpu_us_per_req: span(&|d, _| d.cpu_us_per_req),
                rss_peak_kb: pairs.iter().map(|(_, g)| g.rss_peak_kb).max().unwrap_or(0),
                errors: pairs.iter().map(|(_, g)| g.stats.errors).sum(),
                direct_errors: pairs.iter().map(|(d, _)| d.stats.errors).sum(),
                noise_cores: span(&|d, g| {
                    (d.foreign_cpu_s + g.foreign_cpu_s)
                        / (d.stats.duration_s + g.stats.duration_s).max(1e-9)
                }),
                target,
                load,
            })
        })
        .collect()
}

/// c=32 throughput of nginx as a plain reverse proxy in the shared bench's run
/// `results/20261124T092226Z`, for when `--peers` did not run it here.
const SHARED_NGINX_PROXY_C32: f64 = 36_472.0;

/// The targets against this run's rows.
pub fn verdicts(rows: &[Row]) -> Vec<Verdict> {
    let find = |t: &str, l: Load| rows.iter().find(|r| r.target == t && r.load == l);
    let c32 = Load::Closed { conc: 32 };
    let mut out = Vec::new();
    let sluice_targets = ["sluice", "sluice+gov"];

    let goal =
        "closed loop c=32, governance on: ≥ 60% of nginx-as-proxy's req/s (same run)".to_owned();
    match (find("sluice+gov", c32), find("nginx-proxy", c32)) {
        (Some(g), Some(n)) => {
            let ratio = g.gateway_rps.median / n.gateway_rps.median.max(1e-9);
            out.push(Verdict {
                goal,
                measured: format!("{:.0} vs {:.0} req/s = {:.1}%", g.gateway_rps.median, n.gateway_rps.median, ratio * 100.0),
                pass: Some(ratio >= 0.6),
            });
        }
        (Some(g), None) => out.push(Verdict {
            goal,
            measured: format!(
                "{:.0} req/s; nginx-proxy not in this run (use --peers); vs the shared bench's {SHARED_NGINX_PROXY_C32:.0} req/s: {:.0}%",
                g.gateway_rps.median,
                100.0 * g.gateway_rps.median / SHARED_NGINX_PROXY_C32
            ),
            pass: None,
        }),
        _ => {}
    }
    for t in sluice_targets {
        if let Some(r) = find(t, c32) {
            out.push(Verdict {
                goal: format!("{t}: < 50 µs CPU per non-streaming request (c=32)"),
                measured: format!("{:.1} µs", r.cpu_us_per_req.median),
                pass: Some(r.cpu_us_per_req.median < 50.0),
            });
        }
    }
    let peak = rows
        .iter()
        .filter(|r| sluice_targets.contains(&r.target.as_str()))
        .map(|r| r.rss_peak_kb)
        .max();
    if let Some(p) = peak {
        out.push(Verdict {
            goal: "Sluice peak RSS < 64 MiB (every row)".into(),
            measured: format!("{:.1} MiB", p as f64 / 1024.0),
            pass: Some(p < 64 * 1024),
        });
    }
    for r in rows
        .iter()
        .filter(|r| sluice_targets.contains(&r.target.as_str()))
    {
        match r.load {
            Load::Rate { rps, .. } => out.push(Verdict {
                goal: format!(
                    "{}: open loop {rps}/s, overhead p50 < 0.3 ms and p99 < 1 ms",
                    r.target
                ),
                measured: format!(
                    "p50 {:+.3} ms, p99 {:+.3} ms",
                    r.overhead.p50.median, r.overhead.p99.median
                ),
                pass: Some(
                    r.overhead.p50.median < 0.3 && r.overhead.p99.median < 1.0 && r.errors == 0,
                ),
            }),
            Load::Stream { rps, .. } => {
                let t = r.ttft.expect("stream rows have ttft")[2];
                out.push(Verdict {
                    goal: format!(
                        "{}: streaming {rps}/s, time-to-first-token overhead p99 < 1 ms",
                        r.target
                    ),
                    measured: format!("p50 {:+.3} ms, p99 {:+.3} ms", t.p50.median, t.p99.median),
                    pass: Some(t.p99.median < 1.0 && r.errors == 0),
                });
            }
            Load::Closed { .. } => {}
        }
    }
    out
}

fn f(v: f64, nd: usize) -> String {
    let s = format!("{v:.nd$}");
    // thousands separators for the integer part of large values
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, fr)| (i, Some(fr)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(fr) => format!("{sign}{grouped}.{fr}"),
        None => format!("{sign}{grouped}"),
    }
}

fn signed(v: f64, nd: usize) -> String {
    if v >= 0.0 {
        format!("+{}", f(v, nd))
    } else {
        f(v, nd)
    }
}

/// `median (min..max)` when there is more than one repetition.
fn span(s: Span, nd: usize, reps: usize, sign: bool) -> String {
    let one = |v| if sign { signed(v, nd) } else { f(v, nd) };
    if reps > 1 {
        format!("{} ({}..{})", one(s.median), one(s.min), one(s.max))
    } else {
        one(s.median)
    }
}

/// `summary.md`.
pub fn markdown(res: &Results) -> String {
    let m = &res.meta;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Sluice benchmark, {} ({} mode)\n",
        m.started_utc, m.mode
    );
    let _ = writeln!(
        o,
        "- machine: {} cores ({}), {:.0} GiB RAM, kernel {}",
        m.nproc,
        m.cpu,
        m.mem_total_kb as f64 / 1048576.0,
        m.kernel
    );
    let _ = writeln!(
        o,
        "- sluice {} (git {}), release build of {}; {}",
        m.sluice_version,
        m.git_rev,
        m.sluice_built_utc,
        m.targets
            .iter()
            .map(|(n, d)| format!("`{n}`: {d}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let _ = writeln!(o, "- upstream: {}", m.mock);
    let _ = writeln!(
        o,
        "- closed loop: wrk {} (1 thread); fixed rate: {} with `--latency-correction` (coordinated omission), 32 connections; streaming: `sluice-bench sse-load` (fixed rate, latency from each request's due time, 32 connections)",
        m.wrk, m.oha
    );
    let _ = writeln!(
        o,
        "- {} s per run, {} repetition(s), medians quoted (min..max when more than one); wall time {:.0} s ({} to {})",
        m.secs_per_run, m.repeat, m.wall_s, m.started_utc, m.finished_utc
    );
    let _ = writeln!(
        o,
        "- niceness {}; quiet gate: before each pair wait until other processes use ≤ {}% of the CPU (at most {} s)",
        m.nice.map_or("unchanged".into(), |n| n.to_string()),
        m.quiet_pct,
        m.quiet_max_wait_s
    );
    let _ = writeln!(
        o,
        "- overhead = gateway latency − latency of the direct run (straight to the mock) made just before it at the same load; CPU/req = the gateway process's utime+stime over the run ÷ answered requests; noise = CPU used by other processes during the pair, in cores (> ~0.2 is suspect)\n"
    );

    let _ = writeln!(o, "## Latency and throughput\n");
    let _ = writeln!(
        o,
        "| target | load | direct req/s | gateway req/s | gateway p50 / p99 / p99.9 ms | overhead p50 ms | overhead p99 ms | overhead p99.9 ms | CPU µs/req | kernel share of CPU | peak RSS MiB | errors | noise (cores) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &res.rows {
        let n = r.reps;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} / {} / {} | {} | {} | {} | {} | {:.0}% | {:.1} | {} | {} |",
            r.target,
            r.load.label(),
            f(r.direct_rps.median, 0),
            span(r.gateway_rps, 0, n, false),
            f(r.gateway.p50.median, 3),
            f(r.gateway.p99.median, 3),
            f(r.gateway.p999.median, 3),
            span(r.overhead.p50, 3, n, true),
            span(r.overhead.p99, 3, n, true),
            signed(r.overhead.p999.median, 3),
            span(r.cpu_us_per_req, 1, n, false),
            r.cpu_kernel_share.median * 100.0,
            r.rss_peak_kb as f64 / 1024.0,
            if r.direct_errors > 0 {
                format!("{} (direct {})", r.errors, r.direct_errors)
            } else {
                r.errors.to_string()
            },
            f(r.noise_cores.median, 2),
        );
    }
    let streams: Vec<&Row> = res.rows.iter().filter(|r| r.ttft.is_some()).collect();
    if !streams.is_empty() {
        let _ = writeln!(
            o,
            "\nStreaming: time to the first SSE `data:` line (TTFT) and to `[DONE]` (total), both from each request's due time.\n"
        );
        let _ = writeln!(
            o,
            "| target | load | direct TTFT p50 / p99 ms | gateway TTFT p50 / p99 / p99.9 ms | TTFT overhead p50 ms | TTFT overhead p99 ms | total overhead p50 / p99 ms |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        for r in streams {
            let [d, g, ov] = r.ttft.expect("filtered");
            let _ = writeln!(
                o,
                "| {} | {} | {} / {} | {} / {} / {} | {} | {} | {} / {} |",
                r.target,
                r.load.label(),
                f(d.p50.median, 3),
                f(d.p99.median, 3),
                f(g.p50.median, 3),
                f(g.p99.median, 3),
                f(g.p999.median, 3),
                span(ov.p50, 3, r.reps, true),
                span(ov.p99, 3, r.reps, true),
                signed(r.overhead.p50.median, 3),
                signed(r.overhead.p99.median, 3),
            );
        }
    }

    let _ = writeln!(o, "\n## Start-up and idle memory\n");
    let _ = writeln!(
        o,
        "| target | rep | description | spawn → ready ms | spawn → first chat ms | idle RSS MiB | idle PSS MiB | checks (json / stream) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for s in &res.starts {
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| f(v, 1));
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {} / {} |",
            s.target,
            s.rep,
            s.desc,
            ms(s.startup_ready_ms),
            ms(s.startup_chat_ms),
            s.rss_idle_kb as f64 / 1024.0,
            s.pss_idle_kb as f64 / 1024.0,
            if s.nonstream_ok { "ok" } else { "FAIL" },
            if s.stream_ok { "ok" } else { "FAIL" },
        );
    }

    if let Some(c) = &res.churn {
        let _ = writeln!(o, "\n## Config churn under load (`sluice serve`)\n");
        let _ = writeln!(o, "{}\n", c.describe());
    }

    let _ = writeln!(o, "\n## Targets (issue 7)\n");
    let _ = writeln!(o, "| goal | measured | verdict |");
    let _ = writeln!(o, "|---|---|---|");
    for v in &res.verdicts {
        let verdict = match v.pass {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not checked",
        };
        let _ = writeln!(o, "| {} | {} | {verdict} |", v.goal, v.measured);
    }
    if !res.notes.is_empty() {
        let _ = writeln!(o, "\n## Notes\n");
        for n in &res.notes {
            let _ = writeln!(o, "- {n}");
        }
    }

    let _ = writeln!(o, "\n## Every run\n");
    let _ = writeln!(
        o,
        "| time | rep | target | side | load | req/s | p50 ms | p99 ms | p99.9 ms | max ms | TTFT p50 / p99 ms | errors | CPU s (kernel) | CPU µs/req | peak RSS MiB | upstream CPU s | loadgen CPU s | foreign CPU s | gate waited s |"
    );
    let _ = writeln!(
        o,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &res.runs {
        let s = &r.stats;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} ({:.2}) | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.0} |",
            r.ts,
            r.rep,
            r.target,
            r.side,
            r.load.label(),
            f(s.rps, 0),
            f(s.lat.p50, 3),
            f(s.lat.p99, 3),
            f(s.lat.p999, 3),
            f(s.lat.max, 1),
            s.ttft
                .map_or("-".into(), |t| format!("{} / {}", f(t.p50, 3), f(t.p99, 3))),
            s.errors,
            r.cpu_s,
            r.cpu_sys_s,
            r.cpu_us_per_req,
            r.rss_peak_kb as f64 / 1024.0,
            r.upstream_cpu_s,
            r.loadgen_cpu_s,
            r.foreign_cpu_s,
            r.quiet_wait_s,
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(f(36472.4, 0), "36,472");
        assert_eq!(f(-1234.5, 1), "-1,234.5");
        assert_eq!(signed(0.25, 3), "+0.250");
        assert_eq!(
            span(
                Span {
                    median: 2.0,
                    min: 1.0,
                    max: 3.0
                },
                1,
                3,
                false
            ),
            "2.0 (1.0..3.0)"
        );
    }

    #[test]
    fn medians_of_even_counts_average_the_middle() {
        let s = Span::of(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
    }
}
