//! The official `openai` and `anthropic` Python SDKs against the gateway. `cargo xtask test`
//! installs them into a virtual environment and sets `SLUICE_SDK_PYTHON`; without it these tests
//! fail under CI and are skipped (loudly) elsewhere.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Proc, start_gateway, start_mock};

fn python() -> Option<String> {
    match std::env::var("SLUICE_SDK_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "SLUICE_SDK_PYTHON is not set under CI: run the tests with `cargo xtask test`"
                );
            }
            eprintln!(
                "SKIPPED: SLUICE_SDK_PYTHON is not set; run `cargo xtask test` to run the SDK tests"
            );
            None
        }
    }
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/sdk")
        .join(name)
}

fn run(python: &str, name: &str, env: &[(&str, String)]) -> serde_json::Value {
    let out = Command::new(python)
        .arg(script(name))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!("{name} printed no JSON line: {stdout}");
        });
    serde_json::from_str(line).expect("JSON result line")
}

async fn gateway_with_anthropic_upstream() -> (Proc, Proc) {
    let mock = start_mock(&[]).await;
    let gw = start_gateway(
        "",
        &[
            ("ANTHROPIC_API_KEY", "sk-ant-sdk"),
            ("ANTHROPIC_BASE_URL", &mock.url("")),
        ],
    )
    .await;
    (mock, gw)
}

#[tokio::test]
async fn openai_sdk_against_openai_and_anthropic_upstreams() {
    let Some(py) = python() else { return };
    let (_mock, gw) = gateway_with_anthropic_upstream().await;
    for model in ["mock/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"] {
        let v = run(
            &py,
            "openai_chat.py",
            &[
                ("SLUICE_BASE_URL", gw.url("/v1")),
                ("SLUICE_MODEL", model.to_string()),
            ],
        );
        assert!(!v["text"].as_str().unwrap_or("").is_empty(), "{model}: {v}");
        assert!(
            !v["stream_text"].as_str().unwrap_or("").is_empty(),
            "{model}: {v}"
        );
    }
}

#[tokio::test]
async fn anthropic_sdk_against_openai_and_anthropic_upstreams() {
    let Some(py) = python() else { return };
    let (_mock, gw) = gateway_with_anthropic_upstream().await;
    for model in ["mock/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"] {
        let v = run(
            &py,
            "anthropic_messages.py",
            &[
                ("SLUICE_ANTHROPIC_BASE_URL", gw.url("/anthropic")),
                ("SLUICE_MODEL", model.to_string()),
            ],
        );
        assert!(!v["text"].as_str().unwrap_or("").is_empty(), "{model}: {v}");
        assert!(
            !v["stream_text"].as_str().unwrap_or("").is_empty(),
            "{model}: {v}"
        );
    }
}
