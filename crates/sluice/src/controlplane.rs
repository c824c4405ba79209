//! `sluice controlplane` (REST admin API + gRPC config push over PostgreSQL) and `sluice migrate`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sluice_controlplane::ControlPlane;
use sluice_dataplane::settings;

use crate::admin::AdminAccess;
use crate::{Shutdown, encryption_key, ledger};

#[derive(clap::Args)]
pub struct ControlplaneArgs {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (SQLite URLs work too, for one replica).
    #[arg(long, env = "SLUICE_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The REST admin API (`/api/*`).
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// gRPC `ConfigService` and `UsageService` for the data planes (plain HTTP/2: keep it on a
    /// private network).
    #[arg(long, env = "SLUICE_GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    grpc_listen: SocketAddr,
    /// TOML config file imported into an empty store on first start; ignored once it has data.
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Holds `encryption.key` when SLUICE_ENCRYPTION_KEY is not set.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = ".sluice")]
    data_dir: PathBuf,
    /// Bearer token for `/api/*`; without one the admin API is served only on a loopback address.
    #[arg(long, env = "SLUICE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    #[arg(long, env = "SLUICE_DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

pub async fn run(args: ControlplaneArgs, shutdown: Shutdown) -> Result<()> {
    let seed = match &args.config {
        Some(path) => {
            // Checked at every start, like `sluice serve`'s; imported only into an empty store.
            let mut seed = settings::load(Some(path))?;
            // The built-in mock belongs to `sluice serve`; production never offers it.
            seed.mock.enabled = false;
            Some(seed)
        }
        None => None,
    };
    if std::env::var_os(sluice_store::EncryptionKey::ENV).is_none() {
        tracing::warn!(
            "SLUICE_ENCRYPTION_KEY is not set: provider keys are encrypted with {}/encryption.key; every control-plane replica must use the same key",
            args.data_dir.display()
        );
    }
    let control_plane =
        ControlPlane::open(&args.database_url, encryption_key(&args.data_dir)?, seed)
            .await
            .context("could not open the control-plane store")?;

    let access = AdminAccess::decide(args.listen, args.admin_token);
    let rest = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let grpc = tokio::net::TcpListener::bind(args.grpc_listen)
        .await
        .with_context(|| format!("could not listen on {}", args.grpc_listen))?;
    access.log(rest.local_addr()?);
    if !args.grpc_listen.ip().is_loopback() {
        tracing::warn!(grpc_listen = %args.grpc_listen, "the config feed is unauthenticated plain HTTP/2 and carries provider keys: keep this address on a private network");
    }
    tracing::info!(listen = %rest.local_addr()?, grpc_listen = %grpc.local_addr()?, version = control_plane.subscribe().borrow().version, "control plane is serving");

    let api = access.router(&control_plane);
    let rest_shutdown = shutdown.clone();
    let rest_task = async move {
        axum::serve(rest, api)
            .with_graceful_shutdown(rest_shutdown.wait())
            .await
            .context("admin API server failed")
    };
    let grpc_task = async {
        let ledger = ledger::GrpcLedger::new(control_plane.clone());
        sluice_proto::server::serve_with_usage(
            grpc,
            control_plane.subscribe(),
            ledger,
            shutdown.wait(),
        )
        .await
        .context("gRPC server failed")
    };
    tokio::try_join!(rest_task, grpc_task)?;
    tracing::info!("stopped");
    Ok(())
}

pub async fn migrate(args: MigrateArgs) -> Result<()> {
    // Migrations never read or write secrets; the store only needs some key to open.
    let key = sluice_store::EncryptionKey::generate()?;
    let store = sluice_store::Store::connect(&args.database_url, key)
        .await
        .context("could not connect to the database")?;
    store.migrate().await.context("migration failed")?;
    let version = store.version().await?;
    store.close().await;
    tracing::info!(config_version = version, "database is migrated");
    Ok(())
}
