//! Running commands as named, timed steps, and the closing report.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::count::TestCounts;
use crate::workspace::Workspace;
use crate::{Outcome, fmt_duration};

/// A command that remembers how to print itself, for error messages that say what failed.
pub struct Cmd {
    inner: Command,
    shown: Vec<OsString>,
}

/// `cargo` (the one that started xtask), run from the workspace root.
pub fn cargo(ws: &Workspace) -> Cmd {
    let mut inner = Command::new(&ws.cargo);
    inner.current_dir(&ws.root);
    forget_cargo_run_env(&mut inner);
    Cmd {
        inner,
        shown: vec!["cargo".into()],
    }
}

/// `cargo xtask` is `cargo run`, which gives us xtask's `CARGO_MANIFEST_DIR`, `CARGO_PKG_*`,
/// ... Build scripts that watch those (ring's does) would see them change between a build from
/// xtask and a plain `cargo build`, and rebuild half the tree each time; so children get the
/// environment of a plain shell.
fn forget_cargo_run_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key);
        }
    }
}

/// Any program, run from the workspace root.
pub fn program(ws: &Workspace, program: impl AsRef<OsStr>) -> Cmd {
    let mut inner = Command::new(program.as_ref());
    inner.current_dir(&ws.root);
    Cmd {
        inner,
        shown: vec![program.as_ref().to_owned()],
    }
}

impl Cmd {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.inner.arg(arg.as_ref());
        self.shown.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.inner.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Cmd {
        self.inner.env_remove(key);
        self
    }

    /// The command line as a person would type it.
    pub fn shown(&self) -> String {
        let words: Vec<String> = self
            .shown
            .iter()
            .map(|w| {
                let w = w.to_string_lossy();
                if w.is_empty() || w.contains(char::is_whitespace) {
                    format!("'{w}'")
                } else {
                    w.into_owned()
                }
            })
            .collect();
        words.join(" ")
    }

    /// Runs with inherited stdio; a non-zero exit is an error carrying `hint`.
    pub fn run_checked(mut self, hint: &str) -> Result<()> {
        let shown = self.shown();
        eprintln!("$ {shown}");
        let status = self
            .inner
            .status()
            .with_context(|| format!("could not start `{shown}`"))?;
        if !status.success() {
            bail!("{hint}: `{shown}` failed ({status})");
        }
        Ok(())
    }

    /// Runs with inherited stdio and returns its stdout, trimmed.
    pub fn output_text(mut self) -> Result<String> {
        let shown = self.shown();
        let out = self
            .inner
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("could not start `{shown}`"))?;
        if !out.status.success() {
            bail!("`{shown}` failed ({})", out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Runs a test runner, echoing its output as it comes while reading its result lines
    /// (nextest's `Summary`, libtest's `test result:`) into `counts`.
    pub fn run_counted(mut self, counts: &mut TestCounts) -> Result<()> {
        let shown = self.shown();
        eprintln!("$ {shown}");
        // Piping makes cargo and nextest think nobody is watching; keep colours for a person.
        if std::io::stderr().is_terminal() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
            self.inner.env("CARGO_TERM_COLOR", "always");
        }
        let mut child = self
            .inner
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start `{shown}`"))?;
        let out = child.stdout.take().expect("stdout is piped");
        let err = child.stderr.take().expect("stderr is piped");
        let out = std::thread::spawn(move || echo_lines(out, std::io::stdout()));
        let err = std::thread::spawn(move || echo_lines(err, std::io::stderr()));
        let status = child
            .wait()
            .with_context(|| format!("lost track of `{shown}`"))?;
        let mut lines = out.join().expect("echo thread panicked");
        lines.extend(err.join().expect("echo thread panicked"));
        counts.observe_run(lines.iter().map(String::as_str));
        if !status.success() {
            bail!("`{shown}` failed ({status})");
        }
        Ok(())
    }
}

/// Copies a child's stream to ours line by line; returns the lines that may carry test counts.
fn echo_lines(from: impl Read, mut to: impl Write) -> Vec<String> {
    let mut reader = BufReader::new(from);
    let mut buf = Vec::new();
    let mut kept = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                // Our own stdout/stderr going away is no reason to stop draining the child.
                let _ = to.write_all(&buf).and_then(|()| to.flush());
                let line = String::from_utf8_lossy(&buf);
                if TestCounts::may_count(&line) {
                    kept.push(line.into_owned());
                }
            }
        }
    }
    kept
}

/// Whether `cargo nextest` is installed.
pub fn nextest_available(ws: &Workspace) -> bool {
    Command::new(&ws.cargo)
        .args(["nextest", "--version"])
        .current_dir(&ws.root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The timed steps of one `cargo xtask` run, and its closing report.
pub struct StepLog {
    title: &'static str,
    start: Instant,
    steps: Vec<(String, Duration, bool)>,
}

impl StepLog {
    pub fn new(title: &'static str) -> StepLog {
        StepLog {
            title,
            start: Instant::now(),
            steps: Vec::new(),
        }
    }

    /// Runs one named step, printing its time, and on failure what failed.
    pub fn step<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        eprintln!("\n==> {name}");
        let t = Instant::now();
        let result = f();
        let took = t.elapsed();
        match &result {
            Ok(_) => eprintln!("==> {name}: ok ({})", fmt_duration(took)),
            Err(e) => eprintln!(
                "==> {name}: FAILED after {}\nxtask: step `{name}` failed: {e:#}",
                fmt_duration(took)
            ),
        }
        self.steps.push((name.to_owned(), took, result.is_ok()));
        result
    }

    /// Prints every step's time and the closing summary line; an error names the failed steps.
    pub fn finish(self, outcome: Outcome) -> Result<()> {
        let total = fmt_duration(self.start.elapsed());
        let times: Vec<String> = self
            .steps
            .iter()
            .map(|(name, took, ok)| {
                let failed = if *ok { "" } else { " FAILED" };
                format!("{name} {}{failed}", fmt_duration(*took))
            })
            .collect();
        let status = if outcome.failed_steps.is_empty() {
            "ok"
        } else {
            "FAILED"
        };
        eprintln!();
        for w in &outcome.warnings {
            eprintln!("xtask: warning: {w}");
        }
        eprintln!(
            "==> {}: {status} in {total} ({})",
            self.title,
            times.join(", ")
        );
        // Last on stdout, alone on its line: the plain `N passed, N failed, N skipped`.
        if let Some(line) = outcome.counts.summary_line() {
            println!("{line}");
        }
        if !outcome.failed_steps.is_empty() {
            bail!(
                "{} failed at step(s): {} (see the messages above)",
                self.title,
                outcome.failed_steps.join(", ")
            );
        }
        Ok(())
    }
}

/// The first `name` on `PATH`, if any.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether we run as root (`id -u` prints 0).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}
