//! The Python virtual environment at `target/sdk-venv` with the official `openai` and
//! `anthropic` SDKs (pinned in `tests/sdk/requirements.txt`), for the end-to-end SDK tests.
//!
//! A stamp file in the venv records the requirements and the interpreter version it was
//! installed for; while both are unchanged, nothing is installed again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::run::program;
use crate::workspace::{Workspace, in_ci};

/// The SDKs need at least this Python (openai 3.x and anthropic 2.x ride on httpx2: 3.11+).
const MIN_PYTHON: (u32, u32) = (3, 11);
const STAMP: &str = "sluice-sdk.stamp";
const INSTALL_PYTHON: &str = "apt-get install -y python3 python3-venv python3-pip";

pub enum SdkPython {
    /// The venv's interpreter, with the SDKs installed.
    Ready(PathBuf),
    /// Why there is none (outside CI only; in CI that is an error).
    Unavailable(String),
}

pub fn prepare(ws: &Workspace) -> Result<SdkPython> {
    let requirements_path = ws.root.join("tests/sdk/requirements.txt");
    let requirements = fs::read_to_string(&requirements_path)
        .with_context(|| format!("cannot read {}", requirements_path.display()))?;
    let venv = ws.target_dir.join("sdk-venv");
    let python = venv_python(&venv);

    match python_version(&python) {
        Some(version) => {
            let stamp = stamp_text(&requirements, &version);
            if fs::read_to_string(venv.join(STAMP)).is_ok_and(|s| s == stamp) {
                eprintln!(
                    "SDK venv is up to date (requirements unchanged): {}",
                    python.display()
                );
                return Ok(SdkPython::Ready(python));
            }
        }
        None if venv.exists() => {
            // Its interpreter is gone or broken (the base Python was moved or upgraded).
            eprintln!("SDK venv at {} is broken; recreating it", venv.display());
            fs::remove_dir_all(&venv)
                .with_context(|| format!("cannot remove {}", venv.display()))?;
        }
        None => {}
    }

    if !python.exists() {
        let base = match find_base_python() {
            Ok(base) => base,
            Err(why) => return unavailable(why),
        };
        let created = program(ws, &base)
            .args(["-m", "venv"])
            .arg(&venv)
            .run_checked(
                "could not create the SDK venv (on Debian/Ubuntu: apt-get install -y python3-venv)",
            );
        if let Err(e) = created {
            let _ = fs::remove_dir_all(&venv);
            return unavailable(format!("{e:#}"));
        }
    }

    let installed = program(ws, &python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--requirement",
        ])
        .arg(&requirements_path)
        .run_checked(
            "pip could not install the SDKs from tests/sdk/requirements.txt (PyPI unreachable?)",
        );
    if let Err(e) = installed {
        return unavailable(format!("{e:#}"));
    }
    let versions = program(ws, &python)
        .args([
            "-c",
            "import openai, anthropic, httpx; print(f'openai {openai.__version__}, anthropic {anthropic.__version__}, httpx {httpx.__version__}')",
        ])
        .output_text()
        .context("the SDKs were installed but do not import")?;
    let version = python_version(&python).context("the venv's python stopped working")?;
    fs::write(venv.join(STAMP), stamp_text(&requirements, &version))
        .with_context(|| format!("cannot write {}", venv.join(STAMP).display()))?;
    eprintln!(
        "SDK venv ready (python {version}; {versions}): {}",
        python.display()
    );
    Ok(SdkPython::Ready(python))
}

/// In CI a missing SDK environment is an error; on a developer's machine a warning, and the
/// SDK tests report themselves skipped.
fn unavailable(why: String) -> Result<SdkPython> {
    if in_ci() {
        bail!("{why}\nCI runs the official-SDK tests, so this is an error here.");
    }
    eprintln!("xtask: warning: {why}\nxtask: warning: continuing without the Python SDK tests");
    Ok(SdkPython::Unavailable(why))
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// `3.11.7`, if `python` runs.
fn python_version(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args(["-c", "import sys; print(sys.version.split()[0])"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The first `python3` / `python` on PATH that is new enough.
fn find_base_python() -> std::result::Result<String, String> {
    let mut too_old = Vec::new();
    for candidate in ["python3", "python"] {
        let Some(version) = python_version(Path::new(candidate)) else {
            continue;
        };
        if parse_major_minor(&version).is_some_and(|v| v >= MIN_PYTHON) {
            return Ok(candidate.to_owned());
        }
        too_old.push(format!("{candidate} is {version}"));
    }
    let (major, minor) = MIN_PYTHON;
    let found = if too_old.is_empty() {
        "python3 was not found on PATH".to_owned()
    } else {
        too_old.join(", ")
    };
    Err(format!(
        "the SDK tests need Python {major}.{minor} or newer, but {found}; install it with `{INSTALL_PYTHON}`"
    ))
}

fn parse_major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn stamp_text(requirements: &str, python_version: &str) -> String {
    format!("python {python_version}\n{requirements}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_versions_compare_by_major_minor() {
        assert_eq!(parse_major_minor("3.11.7"), Some((3, 11)));
        assert_eq!(parse_major_minor("3.13.0rc1"), Some((3, 13)));
        assert!(parse_major_minor("3.10.12").is_some_and(|v| v < MIN_PYTHON));
        assert_eq!(parse_major_minor("garbage"), None);
    }

    #[test]
    fn stamp_changes_with_requirements_or_interpreter() {
        let a = stamp_text("openai==1\n", "3.11.7");
        assert_ne!(a, stamp_text("openai==2\n", "3.11.7"));
        assert_ne!(a, stamp_text("openai==1\n", "3.12.1"));
    }
}
