//! Fixture helpers shared by the integration tests.
//!
//! Fixtures live in `tests/fixtures/`: upstream bytes exactly as the provider documents them,
//! and the exact bytes (or JSON) Sluice must produce. `SLUICE_BLESS=1 cargo test -p
//! sluice-providers` rewrites the expected files from the current output; review the diff.

#![allow(dead_code)]

use std::path::PathBuf;

use http::HeaderMap;
use serde_json::Value;
use sluice_core::ProviderKind;
use sluice_providers::ingress::openai::{SSE_DONE, sse_chunk};
use sluice_providers::{ChunkDecoder, StreamItem, Target, UpstreamError};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn bless() -> bool {
    std::env::var_os("SLUICE_BLESS").is_some()
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// `actual` must equal the fixture byte for byte.
pub fn assert_bytes(name: &str, actual: &[u8]) {
    if bless() {
        std::fs::write(path(name), actual).expect("write fixture");
        return;
    }
    let expected = fixture(name);
    assert!(
        actual == expected.as_slice(),
        "output differs from {name}\n--- expected\n{}\n--- actual\n{}",
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual),
    );
}

/// `actual` must equal the fixture as JSON (key order aside).
pub fn assert_json(name: &str, actual: &Value) {
    if bless() {
        let mut text = serde_json::to_string_pretty(actual).expect("json");
        text.push('\n');
        std::fs::write(path(name), text).expect("write fixture");
        return;
    }
    let expected = fixture_json(name);
    assert!(
        *actual == expected,
        "output differs from {name}\n--- expected\n{}\n--- actual\n{}",
        serde_json::to_string_pretty(&expected).expect("json"),
        serde_json::to_string_pretty(actual).expect("json"),
    );
}

pub fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("output is JSON")
}

pub fn target<'a>(
    kind: ProviderKind,
    base_url: &'a str,
    api_key: Option<&'a str>,
    extra_headers: &'a HeaderMap,
    model: &'a str,
) -> Target<'a> {
    Target {
        kind,
        base_url,
        api_key,
        extra_headers,
        model,
    }
}

fn decode_in_pieces(
    mut decoder: Box<dyn ChunkDecoder + Send>,
    bytes: &[u8],
    piece: usize,
) -> Vec<StreamItem> {
    let mut out = Vec::new();
    for part in bytes.chunks(piece.max(1)) {
        decoder.push(part, &mut out);
    }
    decoder.finish(&mut out);
    out
}

/// Decodes `bytes` whole, byte by byte and in 7-byte pieces; all three must agree.
pub fn decode(make: impl Fn() -> Box<dyn ChunkDecoder + Send>, bytes: &[u8]) -> Vec<StreamItem> {
    let whole = decode_in_pieces(make(), bytes, bytes.len());
    assert_eq!(
        decode_in_pieces(make(), bytes, 1),
        whole,
        "byte-by-byte split"
    );
    assert_eq!(decode_in_pieces(make(), bytes, 7), whole, "7-byte split");
    whole
}

/// What an OpenAI client receives for these items: chunks as `data:` events, `[DONE]`.
/// Errors are left to [`errors`] (the data plane decides how to report them).
pub fn openai_client_bytes(items: &[StreamItem]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        match item {
            StreamItem::Chunk(chunk) => out.extend_from_slice(&sse_chunk(chunk)),
            StreamItem::Done => out.extend_from_slice(SSE_DONE),
            StreamItem::Error(_) => {}
        }
    }
    out
}

pub fn errors(items: &[StreamItem]) -> Vec<&UpstreamError> {
    items
        .iter()
        .filter_map(|item| match item {
            StreamItem::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}
