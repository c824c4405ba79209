//! The Sluice data plane: a hyper server whose every inference route runs the same pipeline
//! (`pipeline`), reading configuration from one atomically swapped [`Runtime`].
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use sluice_dataplane::{Gateway, serve};
//! let config = sluice_dataplane::settings::load(None)?;
//! let snapshot = sluice_core::Snapshot::build(&config, &|k| std::env::var(k).ok(), 1)?;
//! let gateway = Gateway::new(snapshot);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, gateway, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod body;
pub mod error;
pub mod health;
pub mod pipeline;
pub mod router;
pub mod runtime;
pub mod selector;
pub mod server;
pub mod settings;
pub mod upstream;

use std::sync::Arc;

use arc_swap::ArcSwap;
use sluice_core::Snapshot;

pub use runtime::Runtime;
pub use server::serve;

/// The data plane's shared state: the current runtime and the upstream pools.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    pools: upstream::UpstreamPools,
    retry_budget: health::RetryBudgetState,
}

impl Gateway {
    pub fn new(snapshot: Snapshot) -> Arc<Gateway> {
        let pools = upstream::UpstreamPools::default();
        let retry_budget = health::RetryBudgetState::new(&snapshot.dispatch);
        let runtime = Runtime::build(snapshot, &pools, None);
        Arc::new(Gateway {
            runtime: ArcSwap::from_pointee(runtime),
            pools,
            retry_budget,
        })
    }

    /// The current runtime: one atomic load; never blocks a writer or a reader.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Swaps in a new snapshot unless it is older than the one being served. Health state of
    /// keys that still exist carries over.
    pub fn install(&self, snapshot: Snapshot) -> bool {
        let current = self.runtime.load();
        if snapshot.version < current.snapshot.version {
            return false;
        }
        let next = Runtime::build(snapshot, &self.pools, Some(&current));
        self.runtime.store(Arc::new(next));
        true
    }
}
