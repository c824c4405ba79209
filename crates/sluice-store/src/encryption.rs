//! Provider key values at rest: AES-256-GCM under one 32-byte key, a fresh random nonce per value.
//!
//! A sealed value is `enc:v1:` + base64(nonce ‖ ciphertext ‖ tag). The associated data names the
//! value's place (`providers.NAME.keys.KEY`), so a ciphertext copied into another row does not
//! decrypt there. `env.VAR` references are not secrets and are stored as they are.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Nonce, Payload};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use thiserror::Error;

const SEALED_PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;

/// The key that encrypts provider key values in the store.
///
/// ```
/// use sluice_store::EncryptionKey;
/// let key = EncryptionKey::parse(&"11".repeat(32)).unwrap(); // hex; base64 works too
/// assert_eq!(format!("{key:?}"), "EncryptionKey(***)");
/// ```
#[derive(Clone)]
pub struct EncryptionKey {
    key: Arc<[u8; 32]>,
}

#[derive(Debug, Error)]
pub enum EncryptionKeyError {
    #[error(
        "{source_name} must be 32 random bytes written as 64 hex characters or as base64 (e.g. `openssl rand -base64 32`)"
    )]
    Malformed { source_name: String },
    #[error("cannot {action} the encryption key file {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the system random number generator failed: {0}")]
    Rng(String),
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(***)")
    }
}

impl EncryptionKey {
    /// The environment variable that holds the key.
    pub const ENV: &'static str = "SLUICE_ENCRYPTION_KEY";
    /// The file `load_or_create` keeps in the data dir when the variable is unset.
    pub const FILE_NAME: &'static str = "encryption.key";

    pub fn from_bytes(bytes: [u8; 32]) -> EncryptionKey {
        EncryptionKey {
            key: Arc::new(bytes),
        }
    }

    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<EncryptionKey, EncryptionKeyError> {
        let key =
            Key::<Aes256Gcm>::try_generate().map_err(|e| EncryptionKeyError::Rng(e.to_string()))?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key.as_slice());
        Ok(EncryptionKey::from_bytes(bytes))
    }

    /// Parses 32 bytes written as 64 hex characters or as base64 (standard or URL-safe alphabet,
    /// padded or not). Surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<EncryptionKey, EncryptionKeyError> {
        Self::parse_named(text, Self::ENV)
    }

    fn parse_named(text: &str, source_name: &str) -> Result<EncryptionKey, EncryptionKeyError> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        decoded
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .map(EncryptionKey::from_bytes)
            .ok_or_else(|| EncryptionKeyError::Malformed {
                source_name: source_name.to_string(),
            })
    }

    /// The key from `SLUICE_ENCRYPTION_KEY`, or `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<EncryptionKey>, EncryptionKeyError> {
        match std::env::var(Self::ENV) {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// For `sluice serve`: the key from `SLUICE_ENCRYPTION_KEY` if set; otherwise the one stored in
    /// `data_dir/encryption.key`; otherwise a new key, written there with mode 0600.
    ///
    /// Losing that file makes stored provider keys unreadable, so back it up with the database
    /// (or set `SLUICE_ENCRYPTION_KEY` from a secret manager instead).
    pub fn load_or_create(data_dir: &Path) -> Result<EncryptionKey, EncryptionKeyError> {
        if let Some(key) = Self::from_env()? {
            return Ok(key);
        }
        let path = data_dir.join(Self::FILE_NAME);
        if let Some(key) = Self::read_file(&path)? {
            return Ok(key);
        }
        std::fs::create_dir_all(data_dir).map_err(|source| EncryptionKeyError::Io {
            action: "create the directory of",
            path: path.clone(),
            source,
        })?;
        let key = Self::generate()?;
        // Written to a private temp file, then hard-linked into place: linking fails if another
        // process created the file meanwhile, and then both use that one key (a rename would
        // silently replace it and orphan whatever the other process had encrypted).
        let tmp = data_dir.join(format!(".{}.{}.tmp", Self::FILE_NAME, std::process::id()));
        let io = |action| {
            let path = path.clone();
            move |source| EncryptionKeyError::Io {
                action,
                path,
                source,
            }
        };
        write_private(&tmp, format!("{}\n", key.to_base64()).as_bytes()).map_err(io("write"))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "generated a new encryption key for provider secrets");
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::read_file(&path)?
                .ok_or_else(|| io("read")(std::io::ErrorKind::NotFound.into())),
            Err(e) => Err(io("store")(e)),
        }
    }

    fn read_file(path: &Path) -> Result<Option<EncryptionKey>, EncryptionKeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_named(&text, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(EncryptionKeyError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The key as standard base64 (what the key file holds, and a valid `SLUICE_ENCRYPTION_KEY`).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key.as_slice())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.key))
    }

    /// Encrypts `plaintext`, bound to `place` (associated data).
    pub(crate) fn seal(&self, plaintext: &str, place: &str) -> Result<String, EncryptionKeyError> {
        let nonce = Nonce::<Aes256Gcm>::try_generate()
            .map_err(|e| EncryptionKeyError::Rng(e.to_string()))?;
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: place.as_bytes(),
        };
        // Encryption fails only for inputs beyond 64 GiB; report it rather than panic.
        let ciphertext = self
            .cipher()
            .encrypt(&nonce, payload)
            .map_err(|_| EncryptionKeyError::Rng("AES-GCM refused the input".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ciphertext);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    /// Decrypts a value made by [`seal`](Self::seal) for the same `place`; `None` when it is not
    /// a sealed value, was sealed under another key or place, or is damaged.
    pub(crate) fn open(&self, sealed: &str, place: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).ok()?;
        let payload = Payload {
            msg: ciphertext,
            aad: place.as_bytes(),
        };
        let plain = self.cipher().decrypt(&nonce, payload).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Creates `path` readable and writable by its owner only (0600 on Unix).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EncryptionKey {
        EncryptionKey::from_bytes([7; 32])
    }

    #[test]
    fn sealed_values_round_trip_and_differ_every_time() {
        let a = key().seal("sk-secret", "providers.openai.keys.k1").unwrap();
        let b = key().seal("sk-secret", "providers.openai.keys.k1").unwrap();
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.contains("sk-secret"));
        assert_eq!(
            key().open(&a, "providers.openai.keys.k1").as_deref(),
            Some("sk-secret")
        );
    }

    #[test]
    fn a_value_does_not_open_under_another_key_or_place() {
        let sealed = key().seal("sk-secret", "providers.openai.keys.k1").unwrap();
        let other = EncryptionKey::from_bytes([8; 32]);
        assert_eq!(other.open(&sealed, "providers.openai.keys.k1"), None);
        assert_eq!(key().open(&sealed, "providers.groq.keys.k1"), None);
        assert_eq!(key().open("enc:v1:AAAA", "x"), None);
        assert_eq!(key().open("sk-plain", "x"), None);
    }

    #[test]
    fn keys_parse_from_hex_and_every_base64_spelling() {
        let bytes = [0xfbu8; 32];
        for text in [
            hex::encode(bytes),
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            format!("  {}\n", URL_SAFE_NO_PAD.encode(bytes)),
        ] {
            let k = EncryptionKey::parse(&text).unwrap();
            assert_eq!(*k.key, bytes, "{text}");
        }
    }

    #[test]
    fn short_or_garbled_keys_are_refused_with_the_expected_format() {
        for text in ["", "abcd", &"zz".repeat(32), &STANDARD.encode([1u8; 16])] {
            let e = EncryptionKey::parse(text).unwrap_err();
            assert!(e.to_string().contains("64 hex characters"), "{e}");
        }
    }

    #[test]
    fn load_or_create_stores_a_private_key_file_and_reuses_it() {
        if std::env::var_os(EncryptionKey::ENV).is_some() {
            eprintln!("SKIPPED: {} is set in this environment", EncryptionKey::ENV);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let first = EncryptionKey::load_or_create(&data_dir).unwrap();
        let again = EncryptionKey::load_or_create(&data_dir).unwrap();
        assert_eq!(first.key, again.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(data_dir.join(EncryptionKey::FILE_NAME)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(&data_dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }
}
