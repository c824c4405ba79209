//! Every process the bench starts, and how it is stopped: each runs in its own session (so its
//! whole tree is one process group, signalled by pid), is registered while it lives, and is
//! stopped by a guard on drop — on success, on error, on panic — or by the signal handler on
//! Ctrl-C/SIGTERM. Nothing is ever stopped by name.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Process groups (= session leaders' pids) that are ours and alive.
static LIVE: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

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
        LIVE.lock().unwrap().insert(pid);
        Ok(Guard {
            name: name.to_owned(),
            pid,
            child: Some(child),
            stop_script: None,
        })
    }

    /// A process a script started in its own session (pid = process group), with the script
    /// that stops it.
    pub fn adopt(name: &str, pid: u32, stop_script: Option<Command>) -> Guard {
        LIVE.lock().unwrap().insert(pid);
        Guard {
            name: name.to_owned(),
            pid,
            child: None,
            stop_script,
        }
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

/// TERM to the group, up to 5 s to exit, then KILL; returns whether KILL was needed.
fn stop_group(pid: u32, child: Option<&mut Child>) -> bool {
    let exited = |child: &mut Option<&mut Child>| match child {
        Some(c) => !matches!(c.try_wait(), Ok(None)),
        None => !Path::new(&format!("/proc/{pid}")).exists(),
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

/// On Ctrl-C or SIGTERM: stop every live process group of ours, then exit 130. Guards cover
/// every other way out (errors and panics unwind through them).
pub fn stop_all_on_signal() {
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
        let live: Vec<u32> = LIVE.lock().unwrap().iter().copied().collect();
        eprintln!(
            "\nsluice-bench: interrupted; stopping {} process group(s)",
            live.len()
        );
        for pid in live {
            let _ = stop_group(pid, None);
        }
        std::process::exit(130);
    });
}
