//! `POST /v1/embeddings`: one deterministic unit vector per input, derived from a hash of the
//! input, so equal inputs embed equally and different ones are nearly orthogonal. Honours
//! `dimensions` and `encoding_format: "base64"` (the OpenAI Python SDK's default).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::body::MockBody;
use crate::error::{ApiError, from_json, invalid};
use crate::exchange::{Exchange, ParseCtx, Render};
use crate::faults::{splitmix64, unit_interval};
use crate::reply::{Finish, Output, Reply, prompt_tokens};

#[derive(Deserialize)]
struct EmbeddingRequest<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    input: Option<Input>,
    dimensions: Option<u32>,
    #[serde(borrow)]
    encoding_format: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

pub(crate) fn parse(body: &[u8], ctx: &ParseCtx<'_>) -> Result<Exchange, ApiError> {
    let req: EmbeddingRequest = serde_json::from_slice(body).map_err(from_json)?;
    let model = req
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ApiError::MissingModel)?;
    let input = req.input.ok_or(ApiError::MissingParam("input"))?;
    let dims = req.dimensions.unwrap_or(ctx.knobs.embedding_dims);
    if !(1..=65_536).contains(&dims) {
        return Err(invalid(
            "dimensions",
            "dimensions must be between 1 and 65536",
        ));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(invalid(
                "encoding_format",
                format!("'{other}' is not one of ['float', 'base64'] - 'encoding_format'"),
            ));
        }
    };
    // Each input: its hash and its prompt tokens.
    let items: Vec<(u64, u32)> = match &input {
        Input::One(s) => vec![text_item(s)],
        Input::Many(all) => all.iter().map(|s| text_item(s)).collect(),
        Input::Tokens(ids) => vec![token_item(ids)],
        Input::TokenLists(lists) => lists.iter().map(|ids| token_item(ids)).collect(),
    };
    if items.is_empty() {
        return Err(invalid(
            "input",
            "'$.input' is invalid: it must not be empty",
        ));
    }
    let prompt_tokens = items
        .iter()
        .map(|&(_, t)| t)
        .fold(0u32, u32::saturating_add);
    Ok(Exchange {
        model: model.into_owned(),
        stream: false,
        include_usage: false,
        base64,
        reply: Reply {
            output: Output::Vectors(items.iter().map(|&(h, _)| vector(h, dims)).collect()),
            finish: Finish::Stop,
            prompt_tokens,
            completion_tokens: 0,
        },
    })
}

fn text_item(s: &str) -> (u64, u32) {
    (fnv1a(s.as_bytes()), prompt_tokens(s.chars().count()))
}

fn token_item(ids: &[u32]) -> (u64, u32) {
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    (fnv1a(&bytes), (ids.len() as u32).max(1))
}

/// FNV-1a: stable across runs and platforms, unlike the std hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A unit vector seeded by `hash`.
pub(crate) fn vector(hash: u64, dims: u32) -> Vec<f32> {
    let raw: Vec<f64> = (0..u64::from(dims))
        .map(|i| {
            unit_interval(splitmix64(hash ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15))) * 2.0 - 1.0
        })
        .collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    raw.iter().map(|x| (x / norm) as f32).collect()
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u32,
    total_tokens: u32,
}

pub(crate) fn render(ex: &Exchange, _r: &Render) -> MockBody {
    let Output::Vectors(vectors) = &ex.reply.output else {
        return MockBody::full(&b"{}"[..]);
    };
    let data = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| Embedding {
            object: "embedding",
            index,
            embedding: if ex.base64 {
                Vector::Base64(base64(
                    &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(),
                ))
            } else {
                Vector::Floats(v.clone())
            },
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model: &ex.model,
        usage: EmbeddingUsage {
            prompt_tokens: ex.reply.prompt_tokens,
            total_tokens: ex.reply.prompt_tokens,
        },
    };
    MockBody::full(serde_json::to_vec(&list).expect("embeddings serialize"))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn vectors_are_unit_length_deterministic_and_input_dependent() {
        let a = vector(fnv1a(b"hello"), 8);
        assert_eq!(a, vector(fnv1a(b"hello"), 8));
        assert_ne!(a, vector(fnv1a(b"hello!"), 8));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(vector(1, 3).len(), 3);
    }
}
