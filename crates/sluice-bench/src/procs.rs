//! Every process the bench starts, and how it is stopped: each runs in its own session (so its
//! whole tree is one process group, signalled by pid), is registered while it lives, and is
//! stopped by a guard on drop — on success, on error, on panic — or by the signal handler on
//! Ctrl-C/SIGTERM. Nothing is ever stopped by name.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Process groups (= session leaders' pids) that are ours and alive.
static LIVE: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Set once an interrupt stops everything: nothing new may start after that.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Pid files that scripts wrote for processes we adopted: removed when the signal handler stops
/// those processes (the scripts' own stop functions would have, but do not run then).
static PID_FILES: Mutex<Vec<(u32, PathBuf)>> = Mutex::new(Vec::new());

/// A command that runs in a new session whose scheduler autogroup gets `nice` (see
/// `../shared/bench/lib.sh`, `boosted`): the kernel shares the CPU between sessions first and
/// applies plain `nice` only within a session, so only this protects the measured processes
/// from a compile running in another session. `setsid` does not fork here (the child is not a
/// group leader), so the pid we get is the process's own pid and its group id.
pub fn boosted(nice: Option<i32>, program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new("setsid");
    c.arg("bash")
        .arg("-c")
        .arg(r#"[ -n "$AUTOGROUP_NICE" ] && echo "$AUTOGROUP_NICE" >/proc/self/autogroup 2>/dev/null; exec "$@""#)
        .arg("_")
        .arg(program);
    match nice {
        Some(n) => c.env("AUTOGROUP_NICE", n.to_string()),
        None => c.env_remove("AUTOGROUP_NICE"),
    };
    c.stdin(Stdio::null());
    c
}

/// Sets this process's nice value (children inherit it). Negative values need root.
pub fn renice_self(nice: i32) -> bool {
    Command::new("renice")
        .args([
            "-n",
            &nice.to_string(),
            "-p",
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A process we started (or adopted from a pid file), stopped when dropped.
pub struct Guard {
    pub name: String,
    pub pid: u32,
    child: Option<Child>,
    /// Run instead of signalling, when the process came from a script that knows how to stop it.
    stop_script: Option<Command>,
}

impl Guard {
    /// Spawns `cmd` (made by [`boosted`]) with stdout and stderr to `log`.
    pub fn spawn(name: &str, cmd: Command, log: &Path) -> Result<Guard> {
        Guard::spawn_split(name, cmd, log, None)
    }

    /// Spawns `cmd` with stdout to `out` and stderr to `err` (or to `out` too).
    pub fn spawn_split(
        name: &str,
        mut cmd: Command,
        out: &Path,
        err: Option<&Path>,
    ) -> Result<Guard> {
        let create =
            |p: &Path| File::create(p).with_context(|| format!("could not create {}", p.display()));
        let out = create(out)?;
        let err = match err {
            Some(p) => create(p)?,
            None => out.try_clone()?,
        };
        let child = cmd
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("could not start {name}"))?;
        let pid = child.id();
        let mut guard = Guard {
            name: name.to_owned(),
            pid,
            child: Some(child),
            stop_script: None,
        };
        register(&mut guard)?;
        Ok(guard)
    }

    /// A process a script started in its own session (pid = process group), with the script
    /// that stops it.
    pub fn adopt(name: &str, pid: u32, stop_script: Option<Command>) -> Result<Guard> {
        let mut guard = Guard {
            name: name.to_owned(),
            pid,
            child: None,
            stop_script,
        };
        register(&mut guard)?;
        Ok(guard)
    }

    /// Removes `pid_file` if the signal handler has to stop this process.
    pub fn with_pid_file(self, pid_file: PathBuf) -> Guard {
        PID_FILES.lock().unwrap().push((self.pid, pid_file));
        self
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => Path::new(&format!("/proc/{}", self.pid)).exists(),
        }
    }

    /// Waits for the process to exit by itself, at most `limit`; then stops it. Returns
    /// whether it exited in time.
    pub fn wait_bounded(&mut self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(c) = &mut self.child
                && let Ok(Some(_)) = c.try_wait()
            {
                LIVE.lock().unwrap().remove(&self.pid);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut script) = self.stop_script.take() {
            let _ = script.stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
        if stop_group(self.pid, self.child.as_mut()) {
            eprintln!(
                "[sluice-bench] {} (pid {}) ignored SIGTERM for 5 s; killed",
                self.name, self.pid
            );
        }
        LIVE.lock().unwrap().remove(&self.pid);
    }
}

/// Whether an interrupt is stopping everything (the handler then ends the process).
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Records a started process for the signal handler, unless an interrupt is already stopping
/// everything (then it is stopped at once). The flag is set before the handler reads the
/// registry and checked here after writing it, so no process slips between the two.
fn register(guard: &mut Guard) -> Result<()> {
    LIVE.lock().unwrap().insert(guard.pid);
    if STOPPING.load(Ordering::SeqCst) {
        let _ = stop_group(guard.pid, guard.child.as_mut());
        LIVE.lock().unwrap().remove(&guard.pid);
        guard.stop_script = None;
        anyhow::bail!("interrupted: {} not started", guard.name);
    }
    Ok(())
}

/// Whether `pid` runs (a zombie waiting to be reaped does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(") ").map(|i| !s[i + 2..].starts_with('Z')))
        .unwrap_or(false)
}

/// TERM to the group, up to 5 s to exit, then KILL; returns whether KILL was needed.
fn stop_group(pid: u32, child: Option<&mut Child>) -> bool {
    let exited = |child: &mut Option<&mut Child>| match child {
        Some(c) => !matches!(c.try_wait(), Ok(None)),
        None => !running(pid),
    };
    let mut child = child;
    if exited(&mut child) {
        return false;
    }
    signal_group(pid, "TERM");
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if exited(&mut child) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_group(pid, "KILL");
    if let Some(c) = child {
        let _ = c.wait();
    }
    true
}

fn signal_group(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

/// On Ctrl-C or SIGTERM, or when our parent exits: stop every live process group of ours,
/// then exit 130. Guards cover every other way out (errors and panics unwind through them).
pub fn stop_all_on_signal(watch: Option<u32>) {
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("signal runtime");
        rt.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        stop_all_and_exit("interrupted");
    });
    // `cargo xtask bench` runs xtask, and xtask us, through `cargo run`, which can leave them
    // in a session of their own: a Ctrl-C that stops the outer cargo need not reach us. Our
    // parent, or the process xtask names with `--watch-pid`, going away counts as an interrupt.
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let watched_gone = watch.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
            if std::os::unix::process::parent_id() != parent || watched_gone {
                stop_all_and_exit("the command that started the bench exited");
            }
        }
    });
}

fn stop_all_and_exit(why: &str) -> ! {
    STOPPING.store(true, Ordering::SeqCst);
    eprintln!("\nsluice-bench: {why}; stopping everything it started");
    // All at once (TERM, up to 5 s, KILL), and again for anything the main thread registered
    // meanwhile, until nothing of ours is left.
    let mut stopped = BTreeSet::new();
    loop {
        let live: Vec<u32> = LIVE
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|p| !stopped.contains(p))
            .collect();
        if live.is_empty() {
            break;
        }
        for &pid in &live {
            signal_group(pid, "TERM");
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until && live.iter().any(|&p| running(p)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for &pid in live.iter().filter(|&&p| running(p)) {
            signal_group(pid, "KILL");
        }
        stopped.extend(live);
    }
    for (pid, file) in PID_FILES.lock().unwrap().iter() {
        if stopped.contains(pid) {
            let _ = std::fs::remove_file(file);
        }
    }
    std::process::exit(130);
}
