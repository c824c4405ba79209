//! One measured run — a load on one side of a pair — with what the server spent on it (CPU
//! ticks, peak RSS) and what the rest of the machine did meanwhile (foreign CPU), plus the
//! quiet gate that waits for a calm machine before each pair.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::load::{Load, LoadStats};
use crate::procfs;

/// One run, as recorded in `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// UTC time of day the run ended.
    pub ts: String,
    pub rep: u32,
    /// The target of the pair (`sluice`, `nginx-proxy`, ...).
    pub target: String,
    /// `direct` (to the mock) or `gateway` (through the target).
    pub side: String,
    pub load: Load,
    pub tool: String,
    #[serde(flatten)]
    pub stats: LoadStats,
    /// utime + stime of the measured process tree (the mock for `direct`) during the run.
    pub cpu_s: f64,
    /// The part of `cpu_s` spent in the kernel (stime): sockets, epoll, scheduling.
    #[serde(default)]
    pub cpu_sys_s: f64,
    /// `cpu_s` per answered request, µs.
    pub cpu_us_per_req: f64,
    /// Peak RSS of the measured tree during the run (max of 100 ms samples and `VmHWM`).
    pub rss_peak_kb: u64,
    /// The mock's CPU during a gateway run.
    pub upstream_cpu_s: f64,
    /// The load generator's CPU.
    pub loadgen_cpu_s: f64,
    /// CPU used by everything else on the machine during the run (noise).
    pub foreign_cpu_s: f64,
    /// How long the quiet gate waited before this run's pair.
    pub quiet_wait_s: f64,
}

/// What the processes we know about have used so far, and the machine.
struct Ticks {
    target: u64,
    target_sys: u64,
    mock: u64,
    this: u64,
    children: u64,
    busy: u64,
}

fn ticks(target: &[u32], mock: &[u32]) -> Ticks {
    let (busy, _) = procfs::machine_ticks();
    Ticks {
        target: procfs::tree_ticks(target),
        target_sys: target.iter().map(|&p| procfs::sys_ticks(p)).sum(),
        mock: procfs::tree_ticks(mock),
        this: procfs::cpu_ticks(std::process::id()),
        children: procfs::self_children_ticks(),
        busy,
    }
}

/// Samples the summed RSS of `pids` every 100 ms until dropped; `peak()` is the largest.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pids: Vec<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(procfs::rss_kb(&pids), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn peak(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// Which run this is.
pub struct RunKey<'a> {
    pub rep: u32,
    /// The target of the pair.
    pub target: &'a str,
    /// `direct` or `gateway`.
    pub side: &'a str,
    pub load: Load,
    /// How long the quiet gate waited before the pair.
    pub quiet_wait_s: f64,
}

/// Measures one run of `go` against one side: `target` is the root of the measured tree (the
/// mock's for `direct`), `mock` the mock's root (for the upstream CPU and the noise account).
pub fn run(
    key: RunKey<'_>,
    target: Option<u32>,
    mock: Option<u32>,
    go: impl FnOnce() -> anyhow::Result<LoadStats>,
) -> anyhow::Result<Run> {
    let RunKey {
        rep,
        target: target_name,
        side,
        load,
        quiet_wait_s,
    } = key;
    let tpids = target.map(procfs::tree).unwrap_or_default();
    let mpids = match (side, mock) {
        ("direct", _) | (_, None) => Vec::new(),
        (_, Some(m)) => procfs::tree(m),
    };
    for &p in &tpids {
        procfs::reset_peak_rss(p);
    }
    let sampler = RssSampler::start(tpids.clone());
    let a = ticks(&tpids, &mpids);
    let stats = go();
    let b = ticks(&tpids, &mpids);
    let polled = sampler.peak();
    let stats = stats?;
    let hwm: u64 = tpids.iter().map(|&p| procfs::status_kb(p, "VmHWM")).sum();
    let tck = procfs::clk_tck();
    let d = |x: u64, y: u64| y.saturating_sub(x);
    let (target_t, mock_t) = (d(a.target, b.target), d(a.mock, b.mock));
    let (this_t, child_t) = (d(a.this, b.this), d(a.children, b.children));
    let foreign = d(a.busy, b.busy).saturating_sub(target_t + mock_t + this_t + child_t);
    let cpu_s = target_t as f64 / tck;
    Ok(Run {
        ts: crate::clock::utc_time_of_day(),
        rep,
        target: target_name.to_owned(),
        side: side.to_owned(),
        load,
        tool: load.tool().to_owned(),
        cpu_us_per_req: if stats.requests > 0 {
            cpu_s * 1e6 / stats.requests as f64
        } else {
            0.0
        },
        stats,
        cpu_s,
        cpu_sys_s: d(a.target_sys, b.target_sys) as f64 / tck,
        rss_peak_kb: polled.max(hwm),
        upstream_cpu_s: mock_t as f64 / tck,
        loadgen_cpu_s: child_t as f64 / tck,
        foreign_cpu_s: foreign as f64 / tck,
        quiet_wait_s,
    })
}

/// The quiet gate: waits until processes other than `ours` use at most `pct` % of the machine
/// over a `window`, for at most `max_wait`. Returns the seconds waited and the last reading.
pub fn wait_quiet(ours: &[u32], pct: f64, window: Duration, max_wait: Duration) -> (f64, f64) {
    if pct <= 0.0 {
        return (0.0, 0.0);
    }
    let t0 = Instant::now();
    let mut last_log = Instant::now() - Duration::from_secs(60);
    loop {
        let pids: Vec<u32> = ours.iter().flat_map(|&p| procfs::tree(p)).collect();
        let (b0, t0m) = procfs::machine_ticks();
        let o0 = procfs::tree_ticks(&pids);
        std::thread::sleep(window);
        let (b1, t1m) = procfs::machine_ticks();
        let o1 = procfs::tree_ticks(&pids);
        let total = t1m.saturating_sub(t0m).max(1) as f64;
        let foreign = b1.saturating_sub(b0).saturating_sub(o1.saturating_sub(o0)) as f64;
        let now_pct = 100.0 * foreign / total;
        if now_pct <= pct {
            return (t0.elapsed().as_secs_f64(), now_pct);
        }
        if t0.elapsed() >= max_wait {
            crate::targets::log(&format!(
                "machine still busy ({now_pct:.0}% used by other processes) after {:.0}s; measuring anyway",
                t0.elapsed().as_secs_f64()
            ));
            return (t0.elapsed().as_secs_f64(), now_pct);
        }
        if last_log.elapsed() >= Duration::from_secs(30) {
            crate::targets::log(&format!(
                "waiting for a quiet machine: {now_pct:.0}% of the CPU used by other processes"
            ));
            last_log = Instant::now();
        }
    }
}
