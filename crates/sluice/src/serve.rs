//! `sluice serve`: both planes in one process. The control plane keeps the config in SQLite
//! under the data dir (seeded from the config file on first start) and answers `/api/*`; the
//! data plane answers everything else on the same listener. Config changes reach the gateway
//! through the control plane's watch channel in-process (no gRPC).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use http_body_util::Either;
use sluice_controlplane::ControlPlane;
use sluice_dataplane::config_source::{self, process_env};
use sluice_dataplane::request_log::{RequestLogReporter, RequestLogReporterConfig};
use sluice_dataplane::usage::{ReporterConfig, UsageReporter};
use sluice_dataplane::{Gateway, settings};
use tower::ServiceExt;

use crate::admin::{AdminAccess, is_admin_path};
use crate::{Shutdown, builtin_mock, encryption_key, ledger, log_providers};

#[derive(clap::Args)]
pub struct ServeArgs {
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// TOML config file: seeds the store on first start (see docs/deployment.md).
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Where `sluice serve` keeps its state (`sluice.db`, `encryption.key`, and
    /// `usage-spill.jsonl` while usage cannot be written to the database).
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = ".sluice")]
    data_dir: PathBuf,
    /// Bearer token for `/api/*`; without one the admin API is served only on a loopback address.
    #[arg(long, env = "SLUICE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

pub async fn run(args: ServeArgs, shutdown: Shutdown) -> Result<()> {
    let mut seed = settings::load_unvalidated(args.config.as_deref())?;
    builtin_mock::add_to(&mut seed);
    // Checked at every start, before the data dir is touched, even when the store already has
    // data and the file will not be imported: a broken file is an error, as it always was.
    seed.validate().context("invalid configuration")?;

    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("could not create data dir {}", args.data_dir.display()))?;
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        args.data_dir.join("sluice.db").display()
    );
    let control_plane =
        ControlPlane::open(&database_url, encryption_key(&args.data_dir)?, Some(seed))
            .await
            .with_context(|| format!("could not open the store in {}", args.data_dir.display()))?;
    let configs = control_plane.subscribe();

    // Whether the mock runs follows the stored config, which wins over the file after the
    // first start.
    let mock = if builtin_mock::wanted(&configs.borrow().config) {
        Some(builtin_mock::start().await?)
    } else {
        None
    };
    let mock_url = mock.as_ref().map(|m| m.base_url());
    let gateway = Gateway::waiting_for_config();
    let following = config_source::follow(gateway.clone(), configs, process_env(), move |c| {
        if let Some(url) = &mock_url {
            builtin_mock::point_at(c, url);
        }
    });
    // The stored config can fail to build on this host (an `env.VAR` that is not set): stop,
    // naming the variable, as with a config file.
    following.initial.context("invalid configuration")?;
    log_providers(&gateway);

    // Budgets as the ledger has them, before the first request; then settled usage goes to the
    // ledger (spilled to the data dir if the store fails), and the usage route reads the live
    // limiter.
    let restored = ledger::restore_budgets(&control_plane, &gateway)
        .await
        .context("could not read budget usage from the ledger")?;
    tracing::info!(budgets = restored, "budget usage restored from the ledger");
    let (sink, reporter) = UsageReporter::spawn(
        ledger::InProcessLedger::new(control_plane.clone()),
        ReporterConfig::spilling_in(&args.data_dir),
        Some(&gateway),
    );
    gateway.set_usage_sink(sink);
    // Request logs beside the usage, best-effort: dropped (and counted), never spilled.
    let (log_sink, log_reporter) = RequestLogReporter::spawn(
        ledger::InProcessLedger::new(control_plane.clone()),
        RequestLogReporterConfig::default(),
    );
    gateway.set_request_log_sink(log_sink);
    control_plane.set_usage_view(Arc::new(ledger::GatewayUsage(gateway.clone())));

    let access = AdminAccess::decide(args.listen, args.admin_token);
    let api = access.router(&control_plane);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let listen = listener.local_addr()?;
    access.log(listen);
    tracing::info!(%listen, "sluice is serving");
    let handler = move |req: http::Request<hyper::body::Incoming>| {
        let gateway = gateway.clone();
        let api = api.clone();
        async move {
            if is_admin_path(req.uri().path()) {
                let res = api.oneshot(req).await.unwrap_or_else(|e| match e {});
                res.map(Either::Right)
            } else {
                sluice_dataplane::router::route(gateway, req)
                    .await
                    .map(Either::Left)
            }
        }
    };
    sluice_dataplane::serve_with(listener, handler, shutdown.wait()).await?;
    reporter.close().await;
    log_reporter.close().await;
    following.task.abort();
    drop(mock);
    tracing::info!("stopped");
    Ok(())
}
