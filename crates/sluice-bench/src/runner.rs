//! `sluice-bench run`: the order of things. For every repetition and every target: start it,
//! check it, warm it up, then for every load a quiet gate and a direct/gateway pair; stop it.
//! Then `sluice serve`'s start-up (and once, the config-churn test), and the results.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::load::{Endpoint, Load, LoadStats, oha, sse, wrk};
use crate::measure::{self, Run};
use crate::report::{self, Meta, Results, Verdict};
use crate::targets::{self, Ctx, Kind, Mock, log};
use crate::{churn, clock, plot, procfs, procs};

/// Flags of `sluice-bench run` (`cargo xtask bench` passes them through).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The release `sluice` binary.
    #[arg(long)]
    pub sluice: PathBuf,
    /// Results go to OUT_ROOT/<UTC time>/.
    #[arg(long, default_value = "target/bench")]
    pub out_root: PathBuf,
    /// The shared bench directory (mock, peers); without it the mock is `sluice mock`.
    #[arg(long)]
    pub shared: Option<PathBuf>,
    /// oha for the fixed-rate rows; without it they are skipped.
    #[arg(long)]
    pub oha: Option<PathBuf>,
    /// Under two minutes: 3 s runs, one repetition, fewer loads.
    #[arg(long)]
    pub quick: bool,
    /// Add the peers shared/bench can start (nginx-proxy, portkey, litellm).
    #[arg(long)]
    pub peers: bool,
    /// Add only this peer (repeatable), e.g. `--peer nginx-proxy` for the 60% target alone.
    #[arg(long = "peer")]
    pub peer: Vec<String>,
    /// Repetitions [default: 3, quick 1]; medians are quoted.
    #[arg(long)]
    pub repeat: Option<u32>,
    /// Seconds per measured run [default: 10, quick 3].
    #[arg(long)]
    pub secs: Option<u64>,
    /// Niceness of everything the bench starts (process and session autogroup); 0 = leave
    /// as is [default: -10 as root].
    #[arg(long, allow_hyphen_values = true)]
    pub nice: Option<i32>,
    /// Quiet gate: wait before each pair until other processes use at most this % of the
    /// machine; 0 turns it off.
    #[arg(long, default_value_t = 10.0)]
    pub quiet_pct: f64,
    /// Longest wait of the quiet gate per pair, seconds [default: 120, quick 8].
    #[arg(long)]
    pub quiet_wait: Option<u64>,
    /// Use `sluice mock --no-auth` as the upstream even when the nginx mock is available.
    #[arg(long)]
    pub sluice_mock: bool,
    /// Skip the config-churn test.
    #[arg(long)]
    pub no_churn: bool,
    /// Stop (cleaning up) when this process exits; `cargo xtask bench` passes the cargo that
    /// runs it, so a Ctrl-C there stops the bench.
    #[arg(long, hide = true)]
    pub watch_pid: Option<u32>,
    /// The mock upstream's port (peers' configs expect 18000).
    #[arg(long, default_value_t = 18000)]
    pub mock_port: u16,
}

/// Everything that follows from the mode.
struct Plan {
    secs: u64,
    repeat: u32,
    warmup: u64,
    quiet_wait: u64,
    quiet_window: Duration,
    churn_secs: u64,
    loads: Vec<Load>,
}

impl Plan {
    fn of(a: &RunArgs) -> Plan {
        let loads = if a.quick {
            vec![
                Load::Closed { conc: 32 },
                Load::Rate {
                    rps: 1000,
                    conc: 32,
                },
                Load::Stream {
                    rps: 1000,
                    conc: 32,
                },
            ]
        } else {
            vec![
                Load::Closed { conc: 32 },
                Load::Closed { conc: 128 },
                Load::Rate {
                    rps: 1000,
                    conc: 32,
                },
                Load::Rate {
                    rps: 5000,
                    conc: 32,
                },
                Load::Stream {
                    rps: 1000,
                    conc: 32,
                },
            ]
        };
        Plan {
            secs: a.secs.unwrap_or(if a.quick { 3 } else { 10 }),
            repeat: a.repeat.unwrap_or(if a.quick { 1 } else { 3 }).max(1),
            warmup: if a.quick { 1 } else { 3 },
            quiet_wait: a.quiet_wait.unwrap_or(if a.quick { 8 } else { 120 }),
            quiet_window: Duration::from_secs(if a.quick { 1 } else { 2 }),
            churn_secs: if a.quick { 3 } else { 10 },
            loads,
        }
    }
}

const PEERS: [&str; 3] = ["nginx-proxy", "portkey", "litellm"];

pub fn run(a: RunArgs) -> Result<()> {
    let wall = Instant::now();
    let started_utc = clock::utc_readable();
    let plan = Plan::of(&a);
    let out = a.out_root.join(clock::utc_stamp());
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs)
        .with_context(|| format!("could not create {}", logs.display()))?;
    let out = out.canonicalize()?;
    let logs = out.join("logs");
    let lua = out.join("chat.lua");
    std::fs::write(&lua, wrk::CHAT_LUA)?;
    procs::stop_all_on_signal(a.watch_pid);

    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let nice = match a.nice {
        Some(0) => None,
        Some(n) => Some(n),
        None if is_root => Some(-10),
        None => None,
    };
    if let Some(n) = nice
        && !procs::renice_self(n)
    {
        log(&format!(
            "could not set niceness {n} (not root?); measuring at the current niceness"
        ));
    }
    let mut notes: Vec<String> = Vec::new();
    let shared = a.shared.clone().filter(|s| s.join("lib.sh").is_file());
    if shared.is_none() {
        notes.push("shared/bench not found: upstream is `sluice mock --no-auth` (answers shaped like the nginx mock's but not byte-identical; its CPU cost per request is higher), and no peers can run".into());
    }
    let oha = a.oha.clone().filter(|p| p.is_file());
    let mut loads = plan.loads.clone();
    if oha.is_none() {
        notes.push(
            "oha not available: the fixed-rate (open-loop) non-streaming rows were skipped".into(),
        );
        loads.retain(|l| !matches!(l, Load::Rate { .. }));
    }
    // Other engineers rebuild target/release/sluice in the same checkout: measure a hard link
    // to the binary as it is now (cargo replaces the file, the link keeps this build).
    let given = a
        .sluice
        .canonicalize()
        .with_context(|| format!("no sluice binary at {}", a.sluice.display()))?;
    let built = std::fs::metadata(&given)?
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let pinned = out.join("sluice-under-test");
    if std::fs::hard_link(&given, &pinned).is_err() {
        std::fs::copy(&given, &pinned).context("could not pin the sluice binary")?;
    }
    let ctx = Ctx {
        out: out.clone(),
        logs: logs.clone(),
        sluice: pinned.clone(),
        exe: std::env::current_exe()?,
        shared,
        oha,
        nice,
        mock_port: a.mock_port,
    };
    log(&format!("results: {}", out.display()));
    let mock = Mock::start(&ctx, a.sluice_mock)?;
    if a.sluice_mock {
        notes.push("upstream: `sluice mock --no-auth` (asked for with --sluice-mock)".into());
    }

    let mut kinds = vec![
        Kind::Sluice { governance: false },
        Kind::Sluice { governance: true },
    ];
    let wanted: Vec<String> = if a.peer.is_empty() && a.peers {
        PEERS.iter().map(|p| p.to_string()).collect()
    } else {
        a.peer.clone()
    };
    {
        for p in wanted.iter().map(String::as_str) {
            match targets::peer_missing(ctx.shared.as_deref(), p) {
                None => kinds.push(Kind::Peer(p.into())),
                Some(why) => {
                    log(&format!("peer {p} skipped: {why}"));
                    notes.push(format!("peer {p} skipped: {why}"));
                }
            }
        }
    }
    notes.push("governance on (`sluice+gov`): a virtual key with request and token limits and a budget, on the key and on its provider config, all far above what a run uses, so nothing is refused: the rows show what checking them costs in this build (builds from before limits enforcement landed only authenticate the key)".into());

    let mut runs: Vec<Run> = Vec::new();
    let mut starts = Vec::new();
    let mut churn_result = None;
    for rep in 1..=plan.repeat {
        let mut order = kinds.clone();
        if rep % 2 == 0 {
            order.reverse();
        }
        for kind in &order {
            let name = kind.name();
            log(&format!("== rep {rep}/{}: {name}", plan.repeat));
            let port = free_port()?;
            let target = match targets::start(&ctx, kind, rep, port) {
                Ok(t) => t,
                Err(e) => {
                    log(&format!("{name} did not start: {e:#}"));
                    notes.push(format!("rep {rep}: {name} did not start: {e:#}"));
                    continue;
                }
            };
            let i = &target.info;
            log(&format!(
                "{name} up: ready in {:.1} ms, first chat in {:.1} ms, idle RSS {:.1} MiB, checks json={} stream={}",
                i.startup_ready_ms.unwrap_or(f64::NAN),
                i.startup_chat_ms.unwrap_or(f64::NAN),
                i.rss_idle_kb as f64 / 1024.0,
                i.nonstream_ok,
                i.stream_ok
            ));
            starts.push(target.info.clone());
            if !target.info.nonstream_ok {
                notes.push(format!("rep {rep}: {name} failed the non-streaming check; its loads were skipped (see logs/)"));
                continue;
            }
            let max_conc = loads
                .iter()
                .filter_map(|l| match l {
                    Load::Closed { conc } => Some(*conc),
                    _ => None,
                })
                .max()
                .unwrap_or(32);
            let _ = wrk::run(
                &target.endpoint,
                max_conc,
                plan.warmup,
                false,
                &lua,
                &logs.join(format!("{name}-r{rep}-warmup.txt")),
                nice,
            );
            let mut capacity: Option<f64> = None;
            for &load in &loads {
                if let (Some(rate), Some(cap)) = (load.rate(), capacity)
                    && !kind.is_sluice()
                    && f64::from(rate) * 1.25 > cap
                {
                    let msg = format!(
                        "rep {rep}: {name} {} skipped: above 80% of its closed-loop capacity ({cap:.0} req/s at c=32), a fixed-rate run would only measure its queue",
                        load.label()
                    );
                    log(&msg);
                    notes.push(msg);
                    continue;
                }
                if matches!(load, Load::Stream { .. }) && !target.info.stream_ok {
                    notes.push(format!(
                        "rep {rep}: {name} failed the streaming check; {} skipped",
                        load.label()
                    ));
                    continue;
                }
                let ours: Vec<u32> = mock.pid.into_iter().chain([target.pid]).collect();
                let (waited, _) = measure::wait_quiet(
                    &ours,
                    a.quiet_pct,
                    plan.quiet_window,
                    Duration::from_secs(plan.quiet_wait),
                );
                let tag = |side: &str| {
                    format!(
                        "{name}-r{rep}-{}-{side}",
                        load.label().replace(['/', ' ', '='], "_")
                    )
                };
                let key = |side| measure::RunKey {
                    rep,
                    target: &name,
                    side,
                    load,
                    quiet_wait_s: waited,
                };
                let pair = (|| -> Result<(Run, Run)> {
                    let d = measure::run(key("direct"), mock.pid, mock.pid, || {
                        go(&ctx, &plan, load, &mock.endpoint, &tag("direct"), &lua)
                    })?;
                    let g = measure::run(key("gateway"), Some(target.pid), mock.pid, || {
                        go(&ctx, &plan, load, &target.endpoint, &tag("gateway"), &lua)
                    })?;
                    Ok((d, g))
                })();
                match pair {
                    Ok((d, g)) => {
                        log(&format!(
                            "{name} {}: direct {:.0} req/s p50 {:.3} p99 {:.3} ms | gateway {:.0} req/s p50 {:.3} p99 {:.3} ms{} | {:.1} µs CPU/req, peak RSS {:.1} MiB, errors {}, noise {:.2} cores",
                            load.label(),
                            d.stats.rps,
                            d.stats.lat.p50,
                            d.stats.lat.p99,
                            g.stats.rps,
                            g.stats.lat.p50,
                            g.stats.lat.p99,
                            g.stats.ttft.map_or(String::new(), |t| format!(
                                " (TTFT p50 {:.3} p99 {:.3}, direct {:.3} / {:.3})",
                                t.p50,
                                t.p99,
                                d.stats.ttft.unwrap_or_default().p50,
                                d.stats.ttft.unwrap_or_default().p99
                            )),
                            g.cpu_us_per_req,
                            g.rss_peak_kb as f64 / 1024.0,
                            g.stats.errors,
                            (d.foreign_cpu_s + g.foreign_cpu_s)
                                / (d.stats.duration_s + g.stats.duration_s).max(1e-9),
                        ));
                        if load == (Load::Closed { conc: 32 }) {
                            capacity = Some(g.stats.rps);
                        }
                        runs.push(d);
                        runs.push(g);
                    }
                    Err(e) => {
                        log(&format!("{name} {} failed: {e:#}", load.label()));
                        notes.push(format!("rep {rep}: {name} {} failed: {e:#}", load.label()));
                    }
                }
            }
            drop(target);
        }

        // `sluice serve`: start-up with a fresh SQLite store, idle memory; once, config churn.
        match targets::start(&ctx, &Kind::Serve, rep, free_port()?) {
            Ok(serve) => {
                log(&format!(
                    "sluice-serve up: ready in {:.1} ms, first chat in {:.1} ms, idle RSS {:.1} MiB",
                    serve.info.startup_ready_ms.unwrap_or(f64::NAN),
                    serve.info.startup_chat_ms.unwrap_or(f64::NAN),
                    serve.info.rss_idle_kb as f64 / 1024.0
                ));
                starts.push(serve.info.clone());
                if rep == 1 && !a.no_churn {
                    let (waited, _) = measure::wait_quiet(
                        &mock.pid.into_iter().chain([serve.pid]).collect::<Vec<_>>(),
                        a.quiet_pct,
                        plan.quiet_window,
                        Duration::from_secs(plan.quiet_wait),
                    );
                    let _ = waited;
                    match churn::run(
                        &serve,
                        ctx.mock_port,
                        plan.churn_secs,
                        &lua,
                        &logs.join("churn-wrk.txt"),
                        nice,
                    ) {
                        Ok(c) => {
                            log(&format!("config churn: {}", c.describe()));
                            churn_result = Some(c);
                        }
                        Err(e) => notes.push(format!("config churn test failed to run: {e:#}")),
                    }
                }
            }
            Err(e) => notes.push(format!("rep {rep}: sluice serve did not start: {e:#}")),
        }
    }
    let mock_desc = mock.desc.clone();
    drop(mock);

    let rows = report::rows(&runs);
    let mut verdicts = report::verdicts(&rows);
    if let Some(c) = &churn_result {
        verdicts.push(Verdict {
            goal: "config churn (issue 4): no failed request while the provider changes 10×/s under load".into(),
            measured: format!("{} requests, {} failed; {} changes, {} refused", c.load.requests, c.load.errors, c.puts_ok, c.puts_failed),
            pass: Some(c.passed()),
        });
    }
    let mut targets_meta: Vec<(String, String)> = Vec::new();
    for s in &starts {
        if !targets_meta.iter().any(|(n, _)| *n == s.target) {
            targets_meta.push((s.target.clone(), s.desc.clone()));
        }
    }
    let meta = Meta {
        started_utc,
        finished_utc: clock::utc_readable(),
        wall_s: wall.elapsed().as_secs_f64(),
        mode: if a.quick {
            "quick".into()
        } else {
            "full".into()
        },
        secs_per_run: plan.secs,
        repeat: plan.repeat,
        nproc: procfs::nproc(),
        cpu: procfs::cpu_model(),
        mem_total_kb: procfs::mem_total_kb(),
        kernel: procfs::kernel(),
        wrk: tool_version("wrk", &["-v"])
            .split_whitespace()
            .nth(1)
            .unwrap_or("?")
            .to_owned(),
        oha: ctx.oha.as_ref().map_or("none".into(), |o| {
            tool_version(&o.to_string_lossy(), &["--version"])
        }),
        mock: format!("{mock_desc} on 127.0.0.1:{}", ctx.mock_port),
        nice,
        quiet_pct: a.quiet_pct,
        quiet_max_wait_s: plan.quiet_wait,
        sluice_version: targets::sluice_version(&ctx.sluice),
        sluice_built_utc: clock::utc_readable_at(built),
        git_rev: git_rev(),
        targets: targets_meta,
    };
    let png = out.join("latency.png");
    let title = format!(
        "Sluice vs direct{}: latency against throughput ({} mode, {})",
        if wanted.is_empty() { "" } else { " and peers" },
        meta.mode,
        meta.started_utc
    );
    match plot::draw(&rows, &png, &title) {
        Ok(true) => {}
        Ok(false) => notes.push("latency.png has no text: no TrueType font found under /usr/share/fonts (apt-get install fonts-dejavu-core)".into()),
        Err(e) => notes.push(format!("latency.png not drawn: {e:#}")),
    }
    // The link only pins the build for the run; the results say which build it was. The serve
    // data dirs hold a throwaway store and its encryption key: nothing to keep.
    let _ = std::fs::remove_file(&pinned);
    for rep in 1..=plan.repeat {
        let _ = std::fs::remove_dir_all(out.join(format!("serve-data-r{rep}")));
    }
    let results = Results {
        meta,
        starts,
        rows,
        verdicts,
        churn: churn_result,
        notes,
        runs,
    };
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    let md = report::markdown(&results);
    std::fs::write(out.join("summary.md"), &md)?;
    let head = md.split("\n## Every run").next().unwrap_or(&md);
    println!("{head}");
    log(&format!(
        "done in {:.0} s: {}/summary.md, results.json, latency.png",
        wall.elapsed().as_secs_f64(),
        out.display()
    ));
    Ok(())
}

/// One load on one side.
fn go(
    ctx: &Ctx,
    plan: &Plan,
    load: Load,
    ep: &Endpoint,
    tag: &str,
    lua: &std::path::Path,
) -> Result<LoadStats> {
    let log = ctx.logs.join(format!("{tag}.txt"));
    match load {
        Load::Closed { conc } => wrk::run(ep, conc, plan.secs, false, lua, &log, ctx.nice),
        Load::Rate { rps, conc } => oha::run(
            ctx.oha.as_deref().context("no oha")?,
            ep,
            rps,
            conc,
            plan.secs,
            &log,
            ctx.nice,
        ),
        Load::Stream { rps, conc } => sse::run(&ctx.exe, ep, rps, conc, plan.secs, &log, ctx.nice),
    }
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn tool_version(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_else(|| "?".into())
}

fn git_rev() -> String {
    let out = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let rev = out(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        out(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{rev}+uncommitted changes")
    } else {
        rev
    }
}
