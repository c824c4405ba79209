//! `sluice`: the gateway binary.
//!
//! - `sluice serve`: both planes in one process (SQLite in the data dir, admin API at `/api`),
//!   with the built-in mock provider `mock`.
//! - `sluice controlplane`: the admin API and the gRPC config feed over PostgreSQL.
//! - `sluice dataplane`: a data plane fed by a control plane, or by a config file.
//! - `sluice migrate`: applies the database migrations.
//! - `sluice mock`: the mock provider on its own.

mod admin;
mod builtin_mock;
mod controlplane;
mod dataplane;
mod ledger;
mod serve;
mod telemetry;

use std::path::Path;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sluice_dataplane::Gateway;
use sluice_store::EncryptionKey;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "An LLM gateway: one OpenAI/Anthropic endpoint in front of many providers and keys"
)]
struct Cli {
    /// Log format: `text` (default on a terminal) or `json` (default otherwise).
    #[arg(long, global = true, env = "SLUICE_LOG_FORMAT")]
    log_format: Option<telemetry::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole gateway in one process, with the built-in mock provider `mock`.
    Serve(serve::ServeArgs),
    /// Run the control plane: admin API and config feed over PostgreSQL.
    Controlplane(controlplane::ControlplaneArgs),
    /// Run a data plane fed by a control plane (--controlplane) or a config file (--config).
    Dataplane(dataplane::DataplaneArgs),
    /// Apply the database migrations and exit.
    Migrate(controlplane::MigrateArgs),
    /// Run the mock LLM provider.
    Mock(sluice_mock::MockArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    // Inside the runtime: the OTLP exporter's gRPC channel runs on it.
    let telemetry = {
        let _runtime = rt.enter();
        telemetry::init(cli.log_format)?
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args, Shutdown::on_signal()).await,
            Command::Controlplane(args) => controlplane::run(args, Shutdown::on_signal()).await,
            Command::Dataplane(args) => dataplane::run(args, Shutdown::on_signal()).await,
            Command::Migrate(args) => controlplane::migrate(args).await,
            Command::Mock(args) => sluice_mock::run(args).await,
        }
    });
    // Flushes queued spans while the runtime still runs the exporter's channel.
    telemetry.shutdown();
    result
}

/// The store's encryption key: `SLUICE_ENCRYPTION_KEY`, else the key file in the data dir
/// (created on first use).
fn encryption_key(data_dir: &Path) -> Result<EncryptionKey> {
    match EncryptionKey::from_env()? {
        Some(key) => Ok(key),
        None => Ok(EncryptionKey::load_or_create(data_dir)?),
    }
}

fn log_providers(gateway: &Gateway) {
    let runtime = gateway.runtime();
    for p in runtime.snapshot.providers() {
        tracing::info!(provider = %p.name, kind = p.kind.as_str(), base_url = %p.base_url, keys = p.keys.len(), "provider ready");
    }
}

/// Ctrl-C or SIGTERM, observed by every server of the process (a control plane runs two).
#[derive(Clone)]
struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    fn on_signal() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            signal().await;
            let _ = tx.send(true);
        });
        Shutdown(rx)
    }

    async fn wait(mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}

async fn signal() {
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
