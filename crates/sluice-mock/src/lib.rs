//! `sluice mock`: a fast mock LLM provider speaking the OpenAI and Anthropic wire formats, for
//! tests, demos and benchmarks.
//!
//! Routes: `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `GET /v1/models`
//! (OpenAI), `POST /v1/messages` (Anthropic), streaming included; plus `GET /health`,
//! `GET|POST /mock/config`, `GET /mock/stats`, `POST /mock/reset`.
//!
//! Answers are deterministic ("Hello from Sluice mock (model M, key K)." padded to
//! `output_tokens` words), with realistic `usage`. Tools are exercised end to end: offered tools
//! plus "weather" in the last user message (or a forcing `tool_choice`) give a tool call; a tool
//! result last gives text that quotes it. Per-key rolling-window limits answer 429 with the
//! provider's headers; latency, stream pace, error injection and dropped streams are knobs of
//! [`MockConfig`], changeable at run time.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use sluice_mock::{MockConfig, MockServer};
//!
//! let config = MockConfig { requests_per_minute: Some(2), ..MockConfig::default() };
//! let mock = MockServer::start("127.0.0.1:0".parse().unwrap(), config).await?;
//! // POST {base_url}/v1/chat/completions with `Authorization: Bearer sk-test` twice: 200, 200;
//! // the third answer is a 429 with retry-after and x-ratelimit-* headers.
//! println!("{}", mock.base_url());
//! mock.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod anthropic;
mod auth;
mod body;
mod cli;
mod config;
mod error;
mod exchange;
mod faults;
mod headers;
mod keys;
mod limits;
mod openai;
mod pipeline;
mod reply;
mod router;
mod server;
mod state;
mod stats;
mod stream;
mod text;

pub use cli::{ConfigPatch, MockArgs};
pub use config::{ConfigError, KeyOverrides, MockConfig};
pub use server::MockServer;

/// Runs the mock until ctrl-c (`sluice mock`).
pub async fn run(args: MockArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;

    let server = MockServer::start(args.listen, args.config())
        .await
        .with_context(|| format!("starting the sluice mock on {}", args.listen))?;
    tracing::info!(
        url = %server.base_url(),
        "sluice mock listening (OpenAI /v1/chat/completions, Anthropic /v1/messages, /mock/stats)"
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    tracing::info!("sluice mock shutting down");
    server.shutdown().await;
    Ok(())
}
