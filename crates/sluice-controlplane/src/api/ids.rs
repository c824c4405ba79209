//! Ids and credentials the API accepts and generates.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::error::ApiError;

/// Ids appear in URL paths, logs and metric labels: keep them short and plain.
pub(crate) fn check_id(param: &str, id: &str) -> Result<(), ApiError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-_.:@".contains(c);
    if id.is_empty() || id.len() > 128 || !id.chars().all(ok_char) {
        return Err(ApiError::invalid(
            param,
            format!("'{id}' is not a valid id: use 1 to 128 letters, digits and - _ . : @"),
        ));
    }
    Ok(())
}

/// A random UUID (version 4) as text.
pub(crate) fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A new virtual key credential: 256 random bits. `rand::rng()` is a CSPRNG seeded from the OS.
pub(crate) fn new_credential() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    format!("sk-sluice-{}", URL_SAFE_NO_PAD.encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_uuids_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        check_id("id", &a).unwrap();
    }

    #[test]
    fn ids_with_slashes_spaces_or_nothing_are_refused() {
        for bad in ["", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_id("id", bad).is_err(), "{bad:?}");
        }
        check_id("id", "vk-prod").unwrap();
    }

    #[test]
    fn credentials_are_long_and_distinct() {
        let (a, b) = (new_credential(), new_credential());
        assert_ne!(a, b);
        assert!(a.starts_with("sk-sluice-") && a.len() == 10 + 43, "{a}");
    }
}
