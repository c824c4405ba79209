//! The Sluice control plane: owns the configuration (in [`sluice_store`]), serves the REST admin
//! API under `/api`, and publishes every committed change as a [`VersionedConfig`] on a watch
//! channel that the config push (gRPC, or in-process for `sluice serve`) streams to data planes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_controlplane::{ControlPlane, EncryptionKey, admin_token_from_env, check_admin_exposure};
//! let listen = "127.0.0.1:8080".parse()?;
//! let token = admin_token_from_env();
//! check_admin_exposure(listen, token.as_deref())?;
//! let key = EncryptionKey::load_or_create(std::path::Path::new(".sluice"))?;
//! let cp = ControlPlane::open("sqlite://.sluice/sluice.db?mode=rwc", key, None).await?;
//! let mut configs = cp.subscribe(); // current config, then every change
//! let app = cp.router(token);       // mount next to the inference routes
//! # let _ = (app, configs.borrow_and_update()); Ok(()) }
//! ```

mod api;
mod auth;
mod change_listener;
mod error;
mod ledger;
mod log_retention;

use std::sync::{Arc, Mutex, RwLock};

use sluice_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use api::CONFIG_VERSION_HEADER;
pub use auth::{
    ADMIN_TOKEN_ENV, AdminExposure, UnprotectedAdminApi, admin_token_from_env, check_admin_exposure,
};
pub use error::ControlPlaneError;
pub use ledger::{BudgetScope, BudgetUsage, LiveUsage, budget_scopes};
pub use sluice_core::VersionedConfig;
pub use sluice_store::{EncryptionKey, EncryptionKeyError};

/// The configuration authority: store, admin API and the live config feed.
pub struct ControlPlane {
    store: Store,
    feed: watch::Sender<Arc<VersionedConfig>>,
    /// PostgreSQL change listener tasks and request-log retention; stopped when the control plane is dropped.
    background: Mutex<Vec<JoinHandle<()>>>,
    /// Live limiter counters of a data plane in this process (`sluice serve`), if any.
    usage_view: RwLock<Option<Arc<dyn LiveUsage>>>,
}

impl ControlPlane {
    /// Opens the store (runs migrations), seeds it from `seed` on first start, and loads the
    /// current config.
    ///
    /// Precedence: `seed` (a config file) is imported only into a store that has never been
    /// changed (version 0). Once the store has data, the store wins and `seed` is ignored, so
    /// changes made through the API survive restarts with the same config file.
    ///
    /// On PostgreSQL it also starts listening for other replicas' changes (see
    /// [`refresh`](Self::refresh)); call it inside a Tokio runtime.
    pub async fn open(
        database_url: &str,
        encryption: EncryptionKey,
        seed: Option<sluice_core::Config>,
    ) -> Result<Arc<ControlPlane>, ControlPlaneError> {
        let store = Store::connect(database_url, encryption).await?;
        store.migrate().await?;
        if let Some(seed) = seed
            && store.version().await? == 0
        {
            // Validated only when it will be used: a stale file must not block a running store.
            seed.validate().map_err(ControlPlaneError::InvalidSeed)?;
            match store.seed_if_empty(&seed).await? {
                Some(v) => {
                    tracing::info!(version = v, "seeded the config store from the config file")
                }
                None => tracing::info!(
                    "config store already has data; the config file's providers and governance are ignored"
                ),
            }
        }
        let (version, config) = store.load_config().await?;
        let (feed, _) = watch::channel(Arc::new(VersionedConfig { version, config }));
        let cp = Arc::new(ControlPlane {
            store,
            feed,
            background: Mutex::new(Vec::new()),
            usage_view: RwLock::new(None),
        });
        if let Ok(mut background) = cp.background.lock() {
            background.push(log_retention::spawn(Arc::downgrade(&cp)));
        }
        if let Some(pool) = cp.store.postgres_pool() {
            let tasks = change_listener::spawn(Arc::downgrade(&cp), pool.clone());
            if let Ok(mut background) = cp.background.lock() {
                background.extend(tasks);
            }
        }
        Ok(cp)
    }

    /// The current config, then every later committed change (versions only increase).
    pub fn subscribe(&self) -> watch::Receiver<Arc<VersionedConfig>> {
        self.feed.subscribe()
    }

    /// The config being published now.
    pub fn current(&self) -> Arc<VersionedConfig> {
        self.feed.borrow().clone()
    }

    /// The axum router with every `/api` route, behind admin auth: with `admin_token`, every
    /// request needs `Authorization: Bearer <token>` (401 otherwise); without one, requests whose
    /// connection info shows a non-loopback peer get 403 (bind loopback; see
    /// [`check_admin_exposure`]).
    pub fn router(self: &Arc<Self>, admin_token: Option<String>) -> axum::Router {
        api::router(self.clone(), auth::AdminAuth::new(admin_token))
    }

    /// Re-reads the store and publishes its config if its version is newer than the published
    /// one (another replica wrote). Cheap when nothing changed: one version read.
    pub async fn refresh(&self) -> Result<(), ControlPlaneError> {
        if self.store.version().await? <= self.feed.borrow().version {
            return Ok(());
        }
        let (version, config) = self.store.load_config().await?;
        self.publish(version, config);
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// After a commit of ours: publish it before the API answers. If the re-read fails the
    /// write still stands; the change listener or the next write publishes it.
    pub(crate) async fn publish_committed(&self, version: u64) {
        if self.feed.borrow().version >= version {
            return;
        }
        match self.store.load_config().await {
            Ok((v, config)) => {
                self.publish(v, config);
            }
            Err(e) => {
                tracing::error!(error = %e, version, "committed a config change but could not re-read it")
            }
        }
    }

    /// Replaces the published config if `version` is newer: concurrent refreshes may finish out
    /// of order, and subscribers must never see the version go back.
    fn publish(&self, version: u64, config: sluice_core::Config) -> bool {
        self.feed.send_if_modified(|current| {
            if version <= current.version {
                return false;
            }
            *current = Arc::new(VersionedConfig { version, config });
            true
        })
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Ok(tasks) = self.background.get_mut() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("store", &self.store)
            .field("version", &self.feed.borrow().version)
            .finish_non_exhaustive()
    }
}
