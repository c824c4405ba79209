//! `cargo xtask`: every project chore, so that CI and a developer run the same thing.
//!
//! ```text
//! cargo xtask test [-- ARGS]   all tests: SDK venv, PostgreSQL, build, nextest (or cargo test),
//!                              doc tests
//! cargo xtask ci               fmt check, clippy -D warnings, then exactly `cargo xtask test`
//! cargo xtask sdk-venv         only prepare the Python venv with the official SDKs
//! cargo xtask bench [--quick]  benchmarks: release build, load tools, crates/sluice-bench
//! ```
//!
//! Only `anyhow` and `serde_json` as dependencies, so `cargo xtask` starts in seconds on a
//! fresh clone.

mod bench;
mod count;
mod postgres;
mod run;
mod sdk_venv;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::count::TestCounts;
use crate::run::{StepLog, cargo};
use crate::sdk_venv::SdkPython;
use crate::workspace::Workspace;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [-- ARGS]   run ALL tests: prepare the SDK venv (target/sdk-venv), find or start a
                   PostgreSQL, build the workspace, run `cargo nextest run --workspace` (or
                   `cargo test`) and the doc tests. ARGS go to the test runner (e.g. a
                   test-name filter).
  ci               `cargo fmt --check`, `cargo clippy -D warnings`, then exactly `test`
  sdk-venv         only create/refresh target/sdk-venv and print its python
  bench [--quick] [--peers] [--repeat N]
                   build the release gateway and measure it against the direct upstream
                   (and peers): results in target/bench/<UTC time>/ (docs/benchmarks.md)

environment:
  CI                  set (non-empty, not 0/false): a missing python3 is an error
  DATABASE_URL        PostgreSQL for the database tests; else 127.0.0.1:5432 when user
                      postgres gets in, else a throwaway cluster (initdb/pg_ctl) for this run
  SLUICE_SDK_PYTHON   use this python instead of preparing target/sdk-venv
  SLUICE_BIN          use this sluice binary instead of target/debug/sluice";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let (cmd, rest) = match args.split_first() {
        Some((cmd, rest)) => (cmd.as_str(), rest),
        None => {
            eprintln!("{USAGE}");
            bail!("no command given");
        }
    };
    match cmd {
        "test" => {
            let ws = Workspace::locate()?;
            let mut log = StepLog::new("cargo xtask test");
            let outcome = test(&ws, &mut log, runner_args(rest)?);
            log.finish(outcome)
        }
        "ci" => {
            if !rest.is_empty() {
                bail!("`cargo xtask ci` takes no arguments (got {rest:?})");
            }
            let ws = Workspace::locate()?;
            let mut log = StepLog::new("cargo xtask ci");
            let outcome = ci(&ws, &mut log);
            log.finish(outcome)
        }
        "sdk-venv" => {
            let ws = Workspace::locate()?;
            match sdk_venv::prepare(&ws)? {
                SdkPython::Ready(python) => {
                    println!("{}", python.display());
                    Ok(())
                }
                SdkPython::Unavailable(why) => bail!("SDK venv not available: {why}"),
            }
        }
        "bench" => {
            let ws = Workspace::locate()?;
            bench::bench(&ws, rest)
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

/// `cargo xtask test -- ARGS`: everything after `--` goes to the test runner.
fn runner_args(rest: &[String]) -> Result<Vec<String>> {
    match rest.split_first() {
        None => Ok(Vec::new()),
        Some((dd, args)) if dd == "--" => Ok(args.to_vec()),
        Some(_) => bail!(
            "unexpected arguments {rest:?}; pass test-runner arguments after `--`: cargo xtask test -- FILTER"
        ),
    }
}

/// What `cargo xtask test` did, for the closing summary.
pub struct Outcome {
    pub counts: TestCounts,
    /// Steps that failed, in order; empty means success.
    pub failed_steps: Vec<String>,
    /// Printed with the closing report (e.g. the SDK tests were skipped).
    pub warnings: Vec<String>,
}

fn ci(ws: &Workspace, log: &mut StepLog) -> Outcome {
    // fmt and clippy failures do not stop the run: one CI run reports every problem at once.
    let mut failed = Vec::new();
    let fmt = log.step("fmt", || {
        cargo(ws)
            .args(["fmt", "--all", "--", "--check"])
            .run_checked("formatting differs from rustfmt; run `cargo fmt --all`")
    });
    if fmt.is_err() {
        failed.push("fmt".to_owned());
    }
    let clippy = log.step("clippy", || {
        cargo(ws)
            .args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
            .run_checked("clippy found problems (warnings are errors)")
    });
    if clippy.is_err() {
        failed.push("clippy".to_owned());
    }
    let mut outcome = test(ws, log, Vec::new());
    failed.append(&mut outcome.failed_steps);
    outcome.failed_steps = failed;
    outcome
}

/// The one test command. `ci` calls exactly this, so both build with the same command shapes
/// (and so the same feature unification: nothing is rebuilt between them).
fn test(ws: &Workspace, log: &mut StepLog, runner_args: Vec<String>) -> Outcome {
    let mut outcome = Outcome {
        counts: TestCounts::default(),
        failed_steps: Vec::new(),
        warnings: Vec::new(),
    };

    // (a) The official Python SDKs, for the end-to-end SDK tests.
    let sdk_python = match std::env::var_os("SLUICE_SDK_PYTHON").filter(|v| !v.is_empty()) {
        Some(python) => {
            eprintln!(
                "==> sdk-venv: SLUICE_SDK_PYTHON is set; using {}",
                PathBuf::from(&python).display()
            );
            Some(PathBuf::from(python))
        }
        None => match log.step("sdk-venv", || sdk_venv::prepare(ws)) {
            Ok(SdkPython::Ready(python)) => Some(python),
            Ok(SdkPython::Unavailable(why)) => {
                outcome.warnings.push(format!(
                    "the Python SDK tests did not really run ({why}); they pass as skipped outside CI only"
                ));
                None
            }
            Err(_) => {
                outcome.failed_steps.push("sdk-venv".to_owned());
                return outcome;
            }
        },
    };

    // (b) PostgreSQL for the database tests, kept until the tests are done (a throwaway
    // cluster stops when `database` is dropped, on every return path below).
    let database = match log.step("postgres", postgres::ensure) {
        Ok(database) => database,
        Err(_) => {
            outcome.failed_steps.push("postgres".to_owned());
            return outcome;
        }
    };

    // (c) Build every binary and test target, so tests can spawn target/debug/sluice.
    // `--tests` makes this build activate dev-dependencies exactly like the test run below,
    // so the test run reuses these artifacts instead of rebuilding with other features.
    let build = log.step("build", || {
        cargo(ws)
            .args(["build", "--workspace", "--bins", "--tests"])
            .run_checked("the workspace does not build")
    });
    if build.is_err() {
        outcome.failed_steps.push("build".to_owned());
        return outcome;
    }
    let sluice_bin = match std::env::var_os("SLUICE_BIN").filter(|v| !v.is_empty()) {
        Some(bin) => PathBuf::from(bin),
        None => ws.debug_bin("sluice"),
    };
    if !sluice_bin.is_file() {
        outcome.failed_steps.push("build".to_owned());
        eprintln!(
            "xtask: error: `cargo build` succeeded but {} does not exist (is the `sluice` binary target declared?)",
            sluice_bin.display()
        );
        return outcome;
    }

    // (d) Run the tests.
    let use_nextest = run::nextest_available(ws);
    let test_env = |mut c: run::Cmd| {
        c = c
            .env("SLUICE_BIN", &sluice_bin)
            .env("DATABASE_URL", database.url());
        match &sdk_python {
            Some(python) => c.env("SLUICE_SDK_PYTHON", python),
            None => c.env_remove("SLUICE_SDK_PYTHON"),
        }
    };
    let runner = if use_nextest {
        test_env(cargo(ws))
            .args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(&runner_args)
    } else {
        eprintln!(
            "==> cargo-nextest not found; falling back to `cargo test` (install: cargo install cargo-nextest --locked)"
        );
        // `cargo test` runs the doc tests too.
        test_env(cargo(ws))
            .args(["test", "--workspace", "--no-fail-fast"])
            .args(&runner_args)
    };
    let tests = log.step("tests", || runner.run_counted(&mut outcome.counts));
    if tests.is_err() {
        outcome.failed_steps.push("tests".to_owned());
    }

    // nextest does not run doc tests; run them even if the tests failed, to report both.
    if use_nextest && runner_args.is_empty() {
        let doc = log.step("doctests", || {
            test_env(cargo(ws))
                .args(["test", "--workspace", "--doc", "--no-fail-fast"])
                .run_counted(&mut outcome.counts)
        });
        if doc.is_err() {
            outcome.failed_steps.push("doctests".to_owned());
        }
    } else if use_nextest {
        eprintln!("==> doctests: skipped because test-runner arguments were given");
    }
    outcome
}

/// Seconds with one decimal, or `XmYY.Ys` past a minute.
pub fn fmt_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let m = (secs / 60.0).floor();
        format!("{m:.0}m{:04.1}s", secs - m * 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(fmt_duration(Duration::from_millis(61_500)), "1m01.5s");
        assert_eq!(fmt_duration(Duration::from_secs(600)), "10m00.0s");
    }

    #[test]
    fn runner_args_come_after_double_dash() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(runner_args(&a(&[])).unwrap().is_empty());
        assert_eq!(runner_args(&a(&["--", "e2e"])).unwrap(), a(&["e2e"]));
        assert!(runner_args(&a(&["e2e"])).is_err());
    }
}
