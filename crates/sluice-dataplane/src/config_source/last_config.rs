//! The last good config on disk, so a data plane restarted while the control plane is down still
//! serves what it served before.

use std::io::Write;
use std::path::{Path, PathBuf};

use sluice_core::VersionedConfig;

use super::ConfigSourceError;

/// `<data dir>/last-config.json`: the JSON of the last [`VersionedConfig`] this data plane
/// installed. It holds provider key values, so it is created readable by its owner only.
#[derive(Debug, Clone)]
pub struct LastConfig {
    path: PathBuf,
}

impl LastConfig {
    pub const FILE_NAME: &'static str = "last-config.json";

    pub fn in_dir(data_dir: &Path) -> Self {
        LastConfig {
            path: data_dir.join(Self::FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The persisted config, `None` if there is none yet.
    pub fn load(&self) -> Result<Option<VersionedConfig>, ConfigSourceError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.io_error(source)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|source| {
            ConfigSourceError::CorruptLastConfig {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// Replaces the persisted config atomically: written to a temporary file in the same
    /// directory, flushed, then renamed over the old one, so a crash mid-write leaves the old
    /// file or the new one, never half of either.
    pub fn store(&self, config: &VersionedConfig) -> Result<(), ConfigSourceError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io_error(e))?;
        let json =
            serde_json::to_vec(config).map_err(|source| ConfigSourceError::CorruptLastConfig {
                path: self.path.clone(),
                source,
            })?;
        // The process id keeps two data planes wrongly sharing a data dir from writing into one
        // temporary file; the rename still leaves one whole file.
        let tmp = dir.join(format!(".{}.{}.tmp", Self::FILE_NAME, std::process::id()));
        let written = (|| {
            let mut file = private_file(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.io_error(e));
        }
        // Makes the rename itself durable; not every platform can open a directory, and the
        // file is already complete either way, so failure here is not an error.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn io_error(&self, source: std::io::Error) -> ConfigSourceError {
        ConfigSourceError::LastConfigIo {
            path: self.path.clone(),
            source,
        }
    }
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Config;

    fn versioned(version: u64) -> VersionedConfig {
        let config: Config = serde_json::from_value(serde_json::json!({
            "providers": {"openai": {"keys": [{"name": "k", "value": format!("sk-{version}")}]}}
        }))
        .unwrap();
        VersionedConfig { version, config }
    }

    #[test]
    fn nothing_persisted_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(LastConfig::in_dir(dir.path()).load().unwrap().is_none());
    }

    #[test]
    fn a_stored_config_loads_back_and_the_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let last = LastConfig::in_dir(&dir.path().join("nested"));
        last.store(&versioned(1)).unwrap();
        last.store(&versioned(2)).unwrap();
        assert_eq!(last.load().unwrap(), Some(versioned(2)));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![LastConfig::FILE_NAME.to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let last = LastConfig::in_dir(dir.path());
        last.store(&versioned(1)).unwrap();
        let mode = std::fs::metadata(last.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let last = LastConfig::in_dir(dir.path());
        std::fs::write(last.path(), b"{\"version\": 1, \"config\": ").unwrap();
        let e = last.load().unwrap_err();
        assert!(e.to_string().contains(LastConfig::FILE_NAME), "{e}");
    }
}
