//! `sluice`: the gateway binary.
//!
//! - `sluice serve`: the whole gateway in one process, with the built-in mock provider `mock`.
//! - `sluice dataplane`: a standalone data plane reading its config from a file.
//! - `sluice mock`: the mock provider on its own.

mod logging;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sluice_core::config::{KeyConfig, ProviderConfig, ProviderKind, Secret};
use sluice_core::{Config, Snapshot};
use sluice_dataplane::{Gateway, settings};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "An LLM gateway: one OpenAI/Anthropic endpoint in front of many providers and keys"
)]
struct Cli {
    /// Log format: `text` (default on a terminal) or `json` (default otherwise).
    #[arg(long, global = true, env = "SLUICE_LOG_FORMAT")]
    log_format: Option<logging::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway in one process, with the built-in mock provider `mock`.
    Serve(ServeArgs),
    /// Run a standalone data plane from a config file (no built-in mock).
    Dataplane(DataplaneArgs),
    /// Run the mock LLM provider.
    Mock(sluice_mock::MockArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// TOML config file (see docs/configuration.md).
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Where `sluice serve` keeps its state.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = ".sluice")]
    data_dir: PathBuf,
}

#[derive(clap::Args)]
struct DataplaneArgs {
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// TOML config file (see docs/configuration.md).
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Dataplane(args) => dataplane(args).await,
            Command::Mock(args) => sluice_mock::run(args).await,
        }
    })
}

async fn serve(args: ServeArgs) -> Result<()> {
    let mut config = settings::load_unvalidated(args.config.as_deref())?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("could not create data dir {}", args.data_dir.display()))?;
    let _mock = if config.mock.enabled && !config.providers.contains_key("mock") {
        let mock = sluice_mock::MockServer::start(
            "127.0.0.1:0".parse().expect("literal address"),
            sluice_mock::MockConfig::default(),
        )
        .await
        .context("could not start the built-in mock provider")?;
        add_mock_provider(&mut config, &mock.base_url());
        tracing::info!(base_url = %mock.base_url(), "built-in mock provider 'mock' is on (mock.enabled = false turns it off)");
        Some(mock)
    } else {
        None
    };
    run_gateway(args.listen, &config).await
}

async fn dataplane(args: DataplaneArgs) -> Result<()> {
    let mut config = settings::load(args.config.as_deref())?;
    // The production data plane never offers the mock, whatever the file says.
    config.mock.enabled = false;
    run_gateway(args.listen, &config).await
}

/// Registers the in-process mock as an OpenAI-compatible provider named `mock`.
fn add_mock_provider(config: &mut Config, base_url: &str) {
    let mut provider = ProviderConfig {
        base_provider_type: Some(ProviderKind::Openai),
        keys: vec![KeyConfig {
            name: "mock-key".into(),
            value: Secret::new("sk-sluice-mock"),
            weight: 1.0,
            models: Vec::new(),
        }],
        models: vec![
            "gpt-4o-mini".into(),
            "gpt-4o".into(),
            "text-embedding-3-small".into(),
        ],
        ..Default::default()
    };
    provider.network_config.base_url = Some(format!("{base_url}/v1"));
    config.providers.insert("mock".into(), provider);
}

async fn run_gateway(listen: SocketAddr, config: &Config) -> Result<()> {
    let snapshot =
        Snapshot::build(config, &|k| std::env::var(k).ok(), 1).context("invalid configuration")?;
    for p in snapshot.providers() {
        tracing::info!(provider = %p.name, kind = p.kind.as_str(), base_url = %p.base_url, keys = p.keys.len(), "provider ready");
    }
    let gateway = Gateway::new(snapshot);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("could not listen on {listen}"))?;
    tracing::info!(listen = %listener.local_addr()?, "sluice is serving");
    sluice_dataplane::serve(listener, gateway, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
