//! `sluice mock` flags: one per knob, each with a `SLUICE_MOCK_*` environment twin (the listen
//! address shares `SLUICE_LISTEN` with the other commands). Flags left out keep the
//! [`MockConfig`] defaults; `--config-json` sets anything else (per-key overrides, say).

use std::net::SocketAddr;

use crate::config::MockConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct MockArgs {
    /// Address to listen on.
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Requests per minute per key, rolling window (0 = unlimited).
    #[arg(long, env = "SLUICE_MOCK_RPM")]
    pub rpm: Option<u64>,
    /// Prompt + completion tokens per minute per key, rolling window (0 = unlimited).
    #[arg(long, env = "SLUICE_MOCK_TPM")]
    pub tpm: Option<u64>,
    /// Delay before every answer's head, in milliseconds.
    #[arg(long, env = "SLUICE_MOCK_LATENCY_MS")]
    pub latency_ms: Option<u64>,
    /// Streams: delay before the first token, in milliseconds.
    #[arg(long, env = "SLUICE_MOCK_TTFT_MS")]
    pub ttft_ms: Option<u64>,
    /// Streams: token pace (0 = as fast as possible).
    #[arg(long, env = "SLUICE_MOCK_TOKENS_PER_SECOND", value_parser = non_negative)]
    pub tokens_per_second: Option<f64>,
    /// Words in a text answer [default: 8].
    #[arg(long, env = "SLUICE_MOCK_OUTPUT_TOKENS", value_parser = clap::value_parser!(u32).range(1..))]
    pub output_tokens: Option<u32>,
    /// Cap on output words when a request sets no max_tokens.
    #[arg(long, env = "SLUICE_MOCK_MAX_TOKENS_DEFAULT", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens_default: Option<u32>,
    /// Length of embedding vectors [default: 8].
    #[arg(long, env = "SLUICE_MOCK_EMBEDDING_DIMS", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub embedding_dims: Option<u32>,
    /// Share of requests answered with --error-status (0..=1).
    #[arg(long, env = "SLUICE_MOCK_ERROR_RATE", value_parser = rate)]
    pub error_rate: Option<f64>,
    /// Status of injected errors [default: 500]; 529 gives Anthropic's overloaded_error.
    #[arg(long, env = "SLUICE_MOCK_ERROR_STATUS", value_parser = clap::value_parser!(u16).range(100..=599))]
    pub error_status: Option<u16>,
    /// Answer every request with this status (e.g. 429: every key limited).
    #[arg(long, env = "SLUICE_MOCK_ALWAYS_STATUS", value_parser = clap::value_parser!(u16).range(100..=599))]
    pub always_status: Option<u16>,
    /// retry-after seconds on injected 429/503/529 [default: 1].
    #[arg(long, env = "SLUICE_MOCK_ALWAYS_RETRY_AFTER_S")]
    pub always_retry_after_s: Option<u64>,
    /// Streams: close the connection after this many events.
    #[arg(long, env = "SLUICE_MOCK_DROP_STREAM_AFTER_CHUNKS")]
    pub drop_stream_after_chunks: Option<u32>,
    /// Serve requests without a key (as key "").
    #[arg(long, env = "SLUICE_MOCK_NO_AUTH", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub no_auth: bool,
    /// Accept only these keys (comma-separated or repeated); default: any non-empty key.
    #[arg(
        long = "allowed-key",
        env = "SLUICE_MOCK_ALLOWED_KEYS",
        value_delimiter = ','
    )]
    pub allowed_keys: Vec<String>,
    /// Models listed by GET /v1/models (comma-separated or repeated).
    #[arg(long = "model", env = "SLUICE_MOCK_MODELS", value_delimiter = ',')]
    pub models: Vec<String>,
    /// A JSON merge patch applied before the flags above, e.g.
    /// '{"keys":{"sk-a":{"requests_per_minute":5}}}'.
    #[arg(long, env = "SLUICE_MOCK_CONFIG_JSON", value_parser = config_patch)]
    pub config_json: Option<ConfigPatch>,
}

/// A validated `--config-json` value.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigPatch(pub serde_json::Value);

impl MockArgs {
    /// The config these flags describe.
    pub fn config(&self) -> MockConfig {
        let base = MockConfig::default();
        let mut c = match &self.config_json {
            // Validated against the defaults when parsed, so this cannot fail.
            Some(patch) => base.merged(&patch.0).unwrap_or(base),
            None => base,
        };
        set(&mut c.requests_per_minute, self.rpm.map(Some));
        set(&mut c.tokens_per_minute, self.tpm.map(Some));
        set(&mut c.latency_ms, self.latency_ms);
        set(&mut c.ttft_ms, self.ttft_ms);
        set(&mut c.tokens_per_second, self.tokens_per_second);
        set(&mut c.output_tokens, self.output_tokens);
        set(&mut c.max_tokens_default, self.max_tokens_default.map(Some));
        set(&mut c.embedding_dims, self.embedding_dims);
        set(&mut c.error_rate, self.error_rate);
        set(&mut c.error_status, self.error_status);
        set(&mut c.always_status, self.always_status.map(Some));
        set(&mut c.always_retry_after_s, self.always_retry_after_s);
        set(
            &mut c.drop_stream_after_chunks,
            self.drop_stream_after_chunks.map(Some),
        );
        if self.no_auth {
            c.require_auth = false;
        }
        if !self.allowed_keys.is_empty() {
            c.allowed_keys = self.allowed_keys.clone();
        }
        if !self.models.is_empty() {
            c.models = self.models.clone();
        }
        c
    }
}

fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *field = value;
    }
}

fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err("must be between 0 and 1".to_owned())
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if r.is_finite() && r >= 0.0 {
        Ok(r)
    } else {
        Err("must be 0 or a positive number".to_owned())
    }
}

fn config_patch(s: &str) -> Result<ConfigPatch, String> {
    let patch: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    MockConfig::default()
        .merged(&patch)
        .map_err(|e| e.to_string())?;
    Ok(ConfigPatch(patch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mock: MockArgs,
    }

    fn parse(args: &[&str]) -> Result<MockArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("sluice-mock").chain(args.iter().copied()))
            .map(|c| c.mock)
    }

    #[test]
    fn no_flags_give_the_default_config() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(args.config(), MockConfig::default());
    }

    #[test]
    fn flags_set_their_knobs() {
        let args = parse(&[
            "--rpm",
            "3",
            "--tpm",
            "1000",
            "--latency-ms",
            "20",
            "--tokens-per-second",
            "50",
            "--error-rate",
            "0.25",
            "--error-status",
            "529",
            "--always-status",
            "429",
            "--drop-stream-after-chunks",
            "2",
            "--no-auth",
            "--allowed-key",
            "a,b",
        ])
        .unwrap();
        let c = args.config();
        assert_eq!(c.requests_per_minute, Some(3));
        assert_eq!(c.tokens_per_minute, Some(1000));
        assert_eq!(c.latency_ms, 20);
        assert_eq!(c.tokens_per_second, 50.0);
        assert_eq!(c.error_rate, 0.25);
        assert_eq!(c.error_status, 529);
        assert_eq!(c.always_status, Some(429));
        assert_eq!(c.drop_stream_after_chunks, Some(2));
        assert!(!c.require_auth);
        assert_eq!(c.allowed_keys, ["a", "b"]);
    }

    #[test]
    fn config_json_sets_per_key_overrides_and_flags_win_over_it() {
        let args = parse(&[
            "--config-json",
            r#"{"requests_per_minute": 1, "keys": {"sk-a": {"requests_per_minute": 5}}}"#,
            "--rpm",
            "2",
        ])
        .unwrap();
        let c = args.config();
        assert_eq!(c.requests_per_minute, Some(2));
        assert_eq!(c.keys["sk-a"].requests_per_minute, Some(5));
    }

    #[test]
    fn bad_values_are_rejected_at_parse_time() {
        assert!(parse(&["--error-rate", "2"]).is_err());
        assert!(parse(&["--error-status", "42"]).is_err());
        assert!(parse(&["--config-json", r#"{"nope": 1}"#]).is_err());
        assert!(parse(&["--config-json", "{"]).is_err());
    }
}
