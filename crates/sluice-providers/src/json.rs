//! Serializing Sluice's own response, chunk and event types.
//!
//! These types hold only strings, numbers, booleans and string-keyed maps, for which
//! `serde_json` cannot fail; the failure arm documents that invariant instead of hiding it.

use bytes::Bytes;
use serde::Serialize;

/// `value` as compact JSON.
pub(crate) fn to_bytes(value: &impl Serialize) -> Bytes {
    let mut out = Vec::new();
    write(&mut out, value);
    Bytes::from(out)
}

/// Appends `value` as compact JSON to `out`.
pub(crate) fn write(out: &mut Vec<u8>, value: &impl Serialize) {
    if let Err(e) = serde_json::to_writer(&mut *out, value) {
        unreachable!("sluice wire types always serialize to JSON: {e}");
    }
}
