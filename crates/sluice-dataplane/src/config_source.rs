//! Where a running data plane gets its config from, other than a file read once at start:
//!
//! - [`ControlPlaneSource`]: `ConfigService.Watch` on a control plane over gRPC (`sluice
//!   dataplane --controlplane`). Every snapshot received is built, swapped in and persisted to
//!   `<data dir>/last-config.json` ([`LastConfig`]); at start the persisted one is served until
//!   the control plane answers, so a data plane restarted during a control-plane outage still
//!   serves. The stream is re-established with capped, jittered backoff ([`Reconnect`]).
//! - [`follow`]: an in-process watch channel (`sluice serve`, where both planes share a
//!   process and the database is the durable copy).
//!
//! Either way a config that does not build (say an `env.VAR` missing on this host) is logged and
//! skipped: the previous one keeps serving.

mod last_config;
mod reconnect;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::{Config, ConfigError, Snapshot, VersionedConfig};
use sluice_proto::v1::WatchRequest;
use sluice_proto::v1::config_service_client::ConfigServiceClient;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Gateway;

pub use last_config::LastConfig;
pub use reconnect::Reconnect;

/// Reads environment variables for `env.VAR` key references and zero-config providers;
/// injected so tests need no process environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment.
pub fn process_env() -> EnvLookup {
    Arc::new(|k| std::env::var(k).ok())
}

#[derive(Debug, Error)]
pub enum ConfigSourceError {
    #[error(
        "control plane address '{0}' is not an http:// URL with a host and port (e.g. http://10.0.0.5:50051); TLS to the control plane is not built in, so put it behind a private network or a service mesh"
    )]
    BadEndpoint(String),
    #[error("could not read or write {}: {source}", path.display())]
    LastConfigIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid saved config (delete it to start without one): {source}", path.display())]
    CorruptLastConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("config version {version} does not build: {source}")]
    Invalid {
        version: u64,
        #[source]
        source: ConfigError,
    },
}

/// Builds the snapshot of `config` and swaps it in, whatever its version: the source is the
/// authority (a control plane whose store was restored from a backup goes back in versions, and
/// its data planes must follow rather than keep a config nobody can see or edit).
pub fn apply(
    gateway: &Gateway,
    config: &VersionedConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigSourceError> {
    let snapshot = Snapshot::build(&config.config, env, config.version).map_err(|source| {
        ConfigSourceError::Invalid {
            version: config.version,
            source,
        }
    })?;
    gateway.replace(snapshot);
    Ok(())
}

/// What [`follow`] started: the task that installs every later config, and whether the
/// current one was installed.
pub struct Following {
    pub task: JoinHandle<()>,
    /// The current config's fate. On an error the gateway keeps what it had (nothing, at
    /// start-up: not ready) and the task still installs the next config that builds, so the
    /// caller decides whether to stop or to serve on and let the admin API fix it.
    pub initial: Result<(), ConfigSourceError>,
}

/// Follows an in-process channel of configs (`sluice serve`): the current one is installed
/// before this returns, every later one by a task. `prepare` adjusts each config before it is
/// built (`sluice serve` points its built-in mock provider at the mock's address).
pub fn follow(
    gateway: Arc<Gateway>,
    mut configs: watch::Receiver<Arc<VersionedConfig>>,
    env: EnvLookup,
    prepare: impl Fn(&mut Config) + Send + Sync + 'static,
) -> Following {
    let prepared = move |versioned: &VersionedConfig| {
        let mut config = versioned.config.clone();
        prepare(&mut config);
        VersionedConfig {
            version: versioned.version,
            config,
        }
    };
    let current = configs.borrow_and_update().clone();
    let initial = apply(&gateway, &prepared(&current), &*env);
    let task = tokio::spawn(async move {
        while configs.changed().await.is_ok() {
            let latest = configs.borrow_and_update().clone();
            match apply(&gateway, &prepared(&latest), &*env) {
                Ok(()) => tracing::info!(version = latest.version, "config installed"),
                Err(e) => {
                    tracing::error!(error = %e, serving = gateway.runtime().snapshot.version, "config skipped; still serving the previous one")
                }
            }
        }
    });
    Following { task, initial }
}

/// The data plane's side of `ConfigService.Watch`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use sluice_dataplane::{Gateway, config_source::ControlPlaneSource};
/// let gateway = Gateway::waiting_for_config();
/// let source = ControlPlaneSource::new("http://10.0.0.5:50051", ".sluice".as_ref(), "dp-1")?;
/// source.restore(&gateway); // the persisted config, if any, serves until the control plane answers
/// source.spawn(gateway.clone());
/// # Ok(()) }
/// ```
pub struct ControlPlaneSource {
    endpoint: String,
    dataplane_id: String,
    last_config: LastConfig,
    env: EnvLookup,
    reconnect: Reconnect,
}

/// Largest config accepted from the control plane; tonic's default of 4 MiB is too small for a
/// store with tens of thousands of virtual keys.
const MAX_SNAPSHOT_BYTES: usize = 256 << 20;

impl ControlPlaneSource {
    pub fn new(
        endpoint: &str,
        data_dir: &Path,
        dataplane_id: impl Into<String>,
    ) -> Result<Self, ConfigSourceError> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|_| ConfigSourceError::BadEndpoint(endpoint.to_string()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(ConfigSourceError::BadEndpoint(endpoint.to_string()));
        }
        Ok(ControlPlaneSource {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            dataplane_id: dataplane_id.into(),
            last_config: LastConfig::in_dir(data_dir),
            env: process_env(),
            reconnect: Reconnect::default(),
        })
    }

    pub fn with_env(mut self, env: EnvLookup) -> Self {
        self.env = env;
        self
    }

    pub fn with_reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Installs the persisted config, if there is one that builds, and returns its version.
    /// Problems are logged: without a persisted config the data plane simply waits (not ready)
    /// for the control plane.
    pub fn restore(&self, gateway: &Gateway) -> Option<u64> {
        let path = self.last_config.path().display();
        match self.last_config.load() {
            Ok(Some(config)) => match apply(gateway, &config, &*self.env) {
                Ok(()) => {
                    tracing::info!(version = config.version, file = %path, "serving the persisted config until the control plane answers");
                    Some(config.version)
                }
                Err(e) => {
                    tracing::warn!(error = %e, file = %path, "the persisted config does not build; waiting for the control plane");
                    None
                }
            },
            Ok(None) => {
                tracing::info!(file = %path, "no persisted config; not ready until the control plane answers");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the persisted config; waiting for the control plane");
                None
            }
        }
    }

    /// Runs [`ControlPlaneSource::run`] on a task.
    pub fn spawn(self, gateway: Arc<Gateway>) -> JoinHandle<()> {
        tokio::spawn(self.run(gateway))
    }

    /// Watches the control plane for ever: connect, install every snapshot, and on any failure
    /// wait (backoff) and reconnect. Only state changes are logged above debug level.
    pub async fn run(mut self, gateway: Arc<Gateway>) {
        // What the control plane need not resend: what this source installed (or restored).
        let mut known = if gateway.is_ready() {
            gateway.runtime().snapshot.version
        } else {
            0
        };
        let mut down_since: Option<Instant> = None;
        loop {
            let (established, error) = self.watch_once(&gateway, &mut known, &mut down_since).await;
            if established {
                self.reconnect.connected();
            }
            let delay = self.reconnect.failed(rand::random::<f64>());
            if down_since.is_none() {
                down_since = Some(Instant::now());
                if gateway.is_ready() {
                    tracing::warn!(controlplane = %self.endpoint, error = %error, serving_version = known, "control plane unreachable; serving the last config and retrying with backoff");
                } else {
                    tracing::warn!(controlplane = %self.endpoint, error = %error, "control plane unreachable and no config yet (not ready); retrying with backoff");
                }
            } else {
                tracing::debug!(controlplane = %self.endpoint, error = %error, attempt = self.reconnect.failures(), retry_in = ?delay, "control plane still unreachable");
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// One connection: returns whether the stream was established, and why it ended.
    async fn watch_once(
        &self,
        gateway: &Gateway,
        known: &mut u64,
        down_since: &mut Option<Instant>,
    ) -> (bool, String) {
        let mut client = match self.connect().await {
            Ok(c) => c,
            Err(e) => return (false, e),
        };
        let request = WatchRequest {
            known_version: *known,
            dataplane_id: self.dataplane_id.clone(),
        };
        let mut stream = match client.watch(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => return (false, format!("watch refused: {status}")),
        };
        match down_since.take() {
            Some(since) => {
                tracing::info!(controlplane = %self.endpoint, after = ?since.elapsed(), "reconnected to the control plane")
            }
            None => tracing::info!(controlplane = %self.endpoint, "connected to the control plane"),
        }
        loop {
            match stream.message().await {
                Ok(Some(snapshot)) => self.install(gateway, &snapshot, known).await,
                Ok(None) => return (true, "the control plane closed the stream".into()),
                Err(status) => return (true, format!("stream failed: {status}")),
            }
        }
    }

    async fn connect(&self) -> Result<ConfigServiceClient<tonic::transport::Channel>, String> {
        let endpoint = tonic::transport::Endpoint::from_shared(self.endpoint.clone())
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            // Finds a control plane that vanished without closing the connection (host down,
            // partition) within ~15 s, so the data plane starts reconnecting.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect().await.map_err(|e| {
            // tonic's transport error says only "transport error"; its source says why.
            match std::error::Error::source(&e) {
                Some(src) => format!("{e}: {src}"),
                None => e.to_string(),
            }
        })?;
        Ok(ConfigServiceClient::new(channel).max_decoding_message_size(MAX_SNAPSHOT_BYTES))
    }

    /// Builds, swaps in and persists one received snapshot; a bad one is logged and skipped.
    async fn install(
        &self,
        gateway: &Gateway,
        snapshot: &sluice_proto::v1::ConfigSnapshot,
        known: &mut u64,
    ) {
        let config = match sluice_proto::decode_snapshot(snapshot) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, serving = *known, "config skipped; still serving the previous one");
                return;
            }
        };
        if config.version < *known {
            tracing::warn!(
                version = config.version,
                previous = *known,
                "the control plane's config version went backwards (its store was restored or recreated?); following it"
            );
        }
        if let Err(e) = apply(gateway, &config, &*self.env) {
            tracing::error!(error = %e, serving = *known, "config skipped; still serving the previous one");
            return;
        }
        *known = config.version;
        tracing::info!(version = config.version, "config installed");
        // Persisting is blocking file I/O; off the async workers. Serving comes first: a config
        // that cannot be saved is still served, and the failure is only a warning.
        let last = self.last_config.clone();
        let saved = tokio::task::spawn_blocking(move || last.store(&config)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not persist the config; a restart during a control-plane outage would not have it")
            }
            Err(e) => tracing::warn!(error = %e, "persisting the config panicked"),
        }
    }
}

#[cfg(test)]
mod tests;
