//! `cargo xtask bench`: builds the release gateway, makes sure the load tools are there, and
//! runs the harness (`crates/sluice-bench`, a separate crate so xtask stays light). The method
//! and how to read the results: docs/benchmarks.md.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::run::{StepLog, cargo, is_root, on_path, program};
use crate::workspace::Workspace;

pub const USAGE: &str = "\
usage: cargo xtask bench [--quick] [--peers] [--repeat N] [--secs N] [-- HARNESS-ARGS]

  --quick       under two minutes once built: 3 s runs, one repetition, c=32 + 1k/s + streaming
  --peers       also measure the peers ../shared/bench can start (nginx-proxy, portkey, litellm)
  --peer NAME   only this peer (repeatable), e.g. --peer nginx-proxy for the 60% target
  --repeat N    repetitions (default 3, quick 1); medians are quoted
  --secs N      seconds per measured run (default 10, quick 3)
  --no-build    use target/release/sluice as it is
  -- ARGS       passed to `sluice-bench run` (see `cargo run -p sluice-bench -- run --help`:
                --nice, --quiet-pct, --quiet-wait, --sluice-mock, --no-churn, ...)

Results: target/bench/<UTC time>/{summary.md,results.json,latency.png,logs/}.
Quick: ~75 s. Full: ~12 min on a quiet machine (17.5 with --peer nginx-proxy; longer while
the quiet gate waits for other work). Every load targets 127.0.0.1 only. See docs/benchmarks.md.";

/// Runs the benchmark.
pub fn bench(ws: &Workspace, args: &[String]) -> Result<()> {
    let mut harness: Vec<String> = Vec::new();
    let mut build = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" | "--peers" => harness.push(a.clone()),
            "--peer" => {
                let Some(v) = it.next() else {
                    bail!("--peer needs a name (nginx-proxy, portkey, litellm)")
                };
                harness.extend([a.clone(), v.clone()]);
            }
            "--repeat" | "--secs" => {
                let v = it.next().filter(|v| v.parse::<u32>().is_ok_and(|n| n > 0));
                let Some(v) = v else {
                    bail!("{a} needs a positive number")
                };
                harness.extend([a.clone(), v.clone()]);
            }
            "--no-build" => build = false,
            "--" => harness.extend(it.by_ref().cloned()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => {
                eprintln!("{USAGE}");
                bail!("unknown option `{other}` for `cargo xtask bench`")
            }
        }
    }

    let mut log = StepLog::new("cargo xtask bench");
    let result = (|| -> Result<()> {
        if build {
            log.step("build", || {
                cargo(ws)
                    .args(["build", "--release", "-p", "sluice"])
                    .run_checked("the release gateway does not build")
            })?;
        }
        let sluice = ws.target_dir.join("release").join("sluice");
        if !sluice.is_file() {
            bail!(
                "{} does not exist; run without --no-build",
                sluice.display()
            );
        }
        let tools = log.step("tools", || tools(ws))?;
        let shared = ws.root.join("../shared/bench");
        let mut run = cargo(ws).args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "sluice-bench",
            "--",
            "run",
            "--sluice",
        ]);
        run = run
            .arg(&sluice)
            .arg("--out-root")
            .arg(ws.target_dir.join("bench"));
        if shared.join("lib.sh").is_file() {
            run = run.arg("--shared").arg(shared);
        } else {
            eprintln!(
                "==> ../shared/bench not found beside the repository: the upstream will be `sluice mock --no-auth` and no peers can run"
            );
        }
        // `cargo xtask` is `cargo run`: a Ctrl-C may stop that cargo and not us or the harness,
        // so the harness watches it and cleans up when it goes.
        run = run
            .arg("--watch-pid")
            .arg(std::os::unix::process::parent_id().to_string());
        if let Some(oha) = &tools.oha {
            run = run.arg("--oha").arg(oha);
        }
        if !tools.nginx {
            run = run.arg("--sluice-mock");
        }
        log.step("bench", || {
            run.args(&harness)
                .run_checked("the benchmark failed (partial results may be in target/bench/)")
        })
    })();
    let outcome = crate::Outcome {
        counts: Default::default(),
        failed_steps: match &result {
            Ok(()) => Vec::new(),
            Err(_) => vec!["bench".into()],
        },
        warnings: Vec::new(),
    };
    if let Err(e) = &result {
        eprintln!("xtask: {e:#}");
    }
    log.finish(outcome)
}

/// What the harness can use.
struct Tools {
    oha: Option<PathBuf>,
    /// nginx with the echo module (the shared mock upstream).
    nginx: bool,
}

/// wrk and nginx from Debian when missing (as root), oha from crates.io into
/// target/bench-tools when missing.
fn tools(ws: &Workspace) -> Result<Tools> {
    let echo_module = Path::new("/usr/lib/nginx/modules/ngx_http_echo_module.so");
    let have = |p: &str| on_path(p).is_some();
    if !have("wrk") || !have("nginx") || !echo_module.exists() {
        if is_root() && have("apt-get") {
            let install = || {
                program(ws, "apt-get")
                    .args([
                        "install",
                        "-y",
                        "-q",
                        "nginx-light",
                        "libnginx-mod-http-echo",
                        "wrk",
                    ])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .run_checked("apt-get install failed")
            };
            if install().is_err() {
                program(ws, "apt-get")
                    .args(["update", "-q"])
                    .run_checked("apt-get update failed")?;
                install()?;
            }
        } else {
            eprintln!(
                "==> wrk/nginx missing and not root: install them with `apt-get install nginx-light libnginx-mod-http-echo wrk`"
            );
        }
    }
    if !have("wrk") {
        bail!(
            "wrk is not installed and could not be installed (apt-get install wrk); the closed-loop rows need it"
        );
    }
    let nginx = have("nginx") && echo_module.exists();
    let local = ws.target_dir.join("bench-tools/bin/oha");
    let oha = match on_path("oha") {
        Some(p) => Some(p),
        None if local.is_file() => Some(local),
        None => {
            eprintln!(
                "==> oha not found; installing it into target/bench-tools (one-time, a few minutes)"
            );
            let root = ws.target_dir.join("bench-tools");
            match cargo(ws)
                .args(["install", "oha", "--locked", "--root"])
                .arg(&root)
                .run_checked("cargo install oha failed")
            {
                Ok(()) if local.is_file() => Some(local),
                _ => {
                    eprintln!(
                        "==> oha could not be installed: the fixed-rate rows will be skipped"
                    );
                    None
                }
            }
        }
    };
    Ok(Tools { oha, nginx })
}
