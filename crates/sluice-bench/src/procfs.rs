//! What `/proc` says about a process tree and the machine: CPU ticks, resident memory, and the
//! CPU used by everything else (the noise of a shared machine). The same readings as
//! `../shared/bench/lib.sh`, so the numbers compare.

use std::collections::HashMap;
use std::fs;
use std::sync::OnceLock;

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on).
pub fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The fields after `(comm)` of `/proc/PID/stat`, split on spaces (field 3, the state, first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(") ")? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of one process (all its threads), in ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    stat_fields(pid)
        .map(|f| f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0))
        .unwrap_or(0)
}

/// stime alone (CPU in the kernel on the process's behalf), in ticks.
pub fn sys_ticks(pid: u32) -> u64 {
    stat_fields(pid)
        .map(|f| f[12].parse::<u64>().unwrap_or(0))
        .unwrap_or(0)
}

/// utime + stime of the processes this one has waited for (cutime + cstime), in ticks: after a
/// load generator exits and is reaped, its CPU shows up here.
pub fn self_children_ticks() -> u64 {
    stat_fields(std::process::id())
        .map(|f| f[13].parse::<u64>().unwrap_or(0) + f[14].parse::<u64>().unwrap_or(0))
        .unwrap_or(0)
}

/// `pid` and all its live descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(p).and_then(|f| f[1].parse::<u32>().ok()) {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

/// CPU ticks summed over a set of processes.
pub fn tree_ticks(pids: &[u32]) -> u64 {
    pids.iter().map(|&p| cpu_ticks(p)).sum()
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`).
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory of a set of processes, KiB.
pub fn rss_kb(pids: &[u32]) -> u64 {
    pids.iter().map(|&p| status_kb(p, "VmRSS")).sum()
}

/// Proportional set size of a set of processes, KiB (shared pages split, not double counted).
pub fn pss_kb(pids: &[u32]) -> u64 {
    pids.iter()
        .map(|&p| {
            fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("Pss:"))
                        .and_then(|v| v.split_whitespace().next()?.parse().ok())
                })
                .unwrap_or(0)
        })
        .sum()
}

/// Resets a process's peak RSS (`VmHWM`) to its current RSS, so that the peak read after a
/// run belongs to that run. Needs Linux ≥ 4.0 and permission over the process.
pub fn reset_peak_rss(pid: u32) {
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// `(busy, total)` jiffies over all CPUs, from the `cpu` line of `/proc/stat`; busy is user +
/// nice + system + irq + softirq + steal, as in the shared bench.
pub fn machine_ticks() -> (u64, u64) {
    let s = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    (busy, busy + get(3) + get(4))
}

/// Number of CPUs the machine shows.
pub fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `MemTotal` in KiB.
pub fn mem_total_kb() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The running kernel's release.
pub fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
