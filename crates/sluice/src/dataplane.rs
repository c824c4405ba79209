//! `sluice dataplane`: a data plane fed by a control plane (`--controlplane`) or by a config
//! file read once at start (`--config`, or defaults and `SLUICE_*`/provider env vars alone).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sluice_core::Snapshot;
use sluice_dataplane::config_source::ControlPlaneSource;
use sluice_dataplane::request_log::{RequestLogReporter, RequestLogReporterConfig};
use sluice_dataplane::usage::{GrpcUsageTransport, ReporterConfig, UsageReporter};
use sluice_dataplane::{Gateway, settings};

use crate::{Shutdown, log_providers};

#[derive(clap::Args)]
pub struct DataplaneArgs {
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// TOML config file (see docs/configuration.md).
    #[arg(long, env = "SLUICE_CONFIG", conflicts_with = "controlplane")]
    config: Option<PathBuf>,
    /// The control plane's gRPC address, `http://HOST:PORT`: config comes from there, live.
    #[arg(long, env = "SLUICE_CONTROLPLANE")]
    controlplane: Option<String>,
    /// Where the last config from the control plane is kept (`last-config.json`), and usage
    /// not yet delivered to it (`usage-spill.jsonl`).
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = ".sluice")]
    data_dir: PathBuf,
    /// How this data plane names itself to the control plane (default: host name and pid).
    #[arg(long, env = "SLUICE_DATAPLANE_ID")]
    dataplane_id: Option<String>,
}

pub async fn run(args: DataplaneArgs, shutdown: Shutdown) -> Result<()> {
    let mut reporter = None;
    let mut log_reporter = None;
    let gateway = match &args.controlplane {
        Some(url) => {
            let id = args.dataplane_id.clone().unwrap_or_else(default_id);
            let source = ControlPlaneSource::new(url, &args.data_dir, id.clone())?;
            let gateway = Gateway::waiting_for_config();
            source.restore(&gateway);
            source.spawn(gateway.clone());
            // Settled usage to the control plane's ledger, spilled to the data dir while it is
            // away; budgets restored from the ledger after each (re)connection.
            let transport = GrpcUsageTransport::new(url, id)?;
            // Request logs share the channel, best-effort (dropped and counted, never spilled).
            let (log_sink, log_handle) =
                RequestLogReporter::spawn(transport.clone(), RequestLogReporterConfig::default());
            gateway.set_request_log_sink(log_sink);
            log_reporter = Some(log_handle);
            let (sink, handle) = UsageReporter::spawn(
                transport,
                ReporterConfig::spilling_in(&args.data_dir),
                Some(&gateway),
            );
            gateway.set_usage_sink(sink);
            reporter = Some(handle);
            gateway
        }
        None => {
            let mut config = settings::load(args.config.as_deref())?;
            // The production data plane never offers the mock, whatever the file says.
            config.mock.enabled = false;
            let snapshot = Snapshot::build(&config, &|k| std::env::var(k).ok(), 1)
                .context("invalid configuration")?;
            let gateway = Gateway::new(snapshot);
            log_providers(&gateway);
            gateway
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "sluice is serving");
    sluice_dataplane::serve(listener, gateway, shutdown.wait()).await?;
    if let Some(reporter) = reporter {
        reporter.close().await;
    }
    if let Some(reporter) = log_reporter {
        reporter.close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "dataplane".into());
    format!("{host}-{}", std::process::id())
}
