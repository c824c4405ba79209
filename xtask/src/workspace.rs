//! Where things are: the workspace root, cargo's target directory, the cargo to call.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub struct Workspace {
    /// The directory of the root `Cargo.toml`.
    pub root: PathBuf,
    /// Cargo's target directory (honours `CARGO_TARGET_DIR` and `build.target-dir`).
    pub target_dir: PathBuf,
    /// The cargo that started us (`$CARGO`), so a toolchain override carries through.
    pub cargo: OsString,
}

impl Workspace {
    pub fn locate() -> Result<Workspace> {
        // xtask/ sits directly under the workspace root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask's manifest directory has no parent")?
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(&cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(&root)
            .output()
            .with_context(|| format!("could not run `{} metadata`", cargo.to_string_lossy()))?;
        if !out.status.success() {
            bail!(
                "`cargo metadata` failed in {}:\n{}",
                root.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("`cargo metadata` printed invalid JSON")?;
        let target_dir = meta["target_directory"]
            .as_str()
            .map(PathBuf::from)
            .context("`cargo metadata` did not report a target_directory")?;
        Ok(Workspace {
            root,
            target_dir,
            cargo,
        })
    }

    /// `target/debug/NAME` (with `.exe` on Windows).
    pub fn debug_bin(&self, name: &str) -> PathBuf {
        self.target_dir
            .join("debug")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    }
}

/// Whether we run under CI: `CI` set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => {
            let v = v.trim();
            !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
        }
        Err(_) => false,
    }
}
