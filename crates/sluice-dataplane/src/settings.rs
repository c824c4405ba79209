//! Loading the one config schema with figment: defaults, then the TOML file, then
//! `SLUICE_<SECTION>__<FIELD>` environment variables; validated before use.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use sluice_core::{Config, ConfigError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("config file {0} does not exist")]
    MissingFile(String),
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] ConfigError),
}

/// Loads the configuration: embedded defaults, the TOML file if given, then environment
/// variables such as `SLUICE_SERVER__MAX_BODY_BYTES=1048576` (a double underscore separates
/// nesting levels; single-level `SLUICE_*` variables are command-line flags, not config).
pub fn load(file: Option<&Path>) -> Result<Config, SettingsError> {
    let config = load_unvalidated(file)?;
    config.validate()?;
    Ok(config)
}

/// [`load`] without the final [`Config::validate`], for callers that add to the config first
/// (`sluice serve` adds its built-in mock provider, which keys may reference) and validate after.
pub fn load_unvalidated(file: Option<&Path>) -> Result<Config, SettingsError> {
    parse_with_env(file, Env::prefixed("SLUICE_"))
}

#[cfg(test)]
fn load_with_env(file: Option<&Path>, env: Env) -> Result<Config, SettingsError> {
    let config = parse_with_env(file, env)?;
    config.validate()?;
    Ok(config)
}

fn parse_with_env(file: Option<&Path>, env: Env) -> Result<Config, SettingsError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(SettingsError::MissingFile(path.display().to_string()));
        }
        figment = figment.merge(Toml::file(path));
    }
    let env = env.filter(|k| k.as_str().contains("__")).split("__");
    let config: Config = figment.merge(env).extract().map_err(|e| {
        // figment's message names the key path (`providers.openai.keys`); keep all of them.
        SettingsError::Parse(
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(toml: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(toml.as_bytes()).unwrap();
        f
    }

    #[test]
    fn file_values_are_loaded() {
        let f = write(
            r#"
            [providers.openai]
            keys = [{ name = "k1", value = "sk-1", weight = 2.0 }]
            [providers.openai.network_config]
            max_retries = 4
            "#,
        );
        let c = load_with_env(Some(f.path()), Env::prefixed("SLUICE_TEST_NONE_")).unwrap();
        assert_eq!(c.providers["openai"].keys[0].weight, 2.0);
        assert_eq!(c.providers["openai"].network_config.max_retries, 4);
    }

    #[test]
    fn unknown_field_in_file_is_named() {
        let f = write("[server]\nmax_body_byte = 5\n");
        let e = load_with_env(Some(f.path()), Env::prefixed("SLUICE_TEST_NONE_")).unwrap_err();
        assert!(e.to_string().contains("max_body_byte"), "{e}");
    }

    #[test]
    fn invalid_value_names_the_field() {
        let f =
            write("[providers.openai]\nkeys = [{ name = \"a\", value = \"x\", weight = -1.0 }]\n");
        let e = load_with_env(Some(f.path()), Env::prefixed("SLUICE_TEST_NONE_")).unwrap_err();
        assert!(
            e.to_string().contains("providers.openai.keys[0].weight"),
            "{e}"
        );
    }

    #[test]
    fn env_overrides_nested_fields_and_ignores_flag_twins() {
        // SAFETY: this test's variables are unique to it; no other test reads them.
        unsafe {
            std::env::set_var("SLUICE_T1_SERVER__MAX_BODY_BYTES", "1234");
            std::env::set_var("SLUICE_T1_LISTEN", "127.0.0.1:1");
        }
        let c = load_with_env(None, Env::prefixed("SLUICE_T1_")).unwrap();
        assert_eq!(c.server.max_body_bytes, 1234);
    }

    #[test]
    fn missing_file_is_an_error() {
        let e = load(Some(Path::new("/nonexistent/sluice.toml"))).unwrap_err();
        assert!(matches!(e, SettingsError::MissingFile(_)));
    }
}
