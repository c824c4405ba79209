//! The Sluice data plane: a hyper server whose every inference route runs the same pipeline
//! (`pipeline`), reading configuration from one atomically swapped [`Runtime`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sluice_dataplane::{Gateway, serve};
//! let config = sluice_dataplane::settings::load(None)?;
//! let snapshot = sluice_core::Snapshot::build(&config, &|k| std::env::var(k).ok(), 1)?;
//! let gateway = Gateway::new(snapshot);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, gateway, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod body;
pub mod config_source;
pub mod error;
pub mod health;
pub mod limiter;
pub mod metrics;
pub mod pipeline;
pub mod request_log;
pub mod router;
pub mod runtime;
pub mod selector;
pub mod server;
pub mod settings;
pub mod spans;
pub mod upstream;
pub mod usage;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use sluice_core::{Config, Snapshot};

pub use runtime::Runtime;
pub use server::{serve, serve_with};

/// The data plane's shared state: the current runtime and the upstream pools.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    pools: upstream::UpstreamPools,
    retry_budget: health::RetryBudgetState,
    limiter: Arc<dyn limiter::LimiterBackend>,
    usage_sink: arc_swap::ArcSwap<usage::SharedUsageSink>,
    request_log_sink: arc_swap::ArcSwap<request_log::SharedRequestLogSink>,
    /// False until the first config is installed: a data plane that starts with neither a
    /// reachable control plane nor a persisted config must not look ready to a load balancer.
    ready: AtomicBool,
}

impl Gateway {
    pub fn new(snapshot: Snapshot) -> Arc<Gateway> {
        Self::with_readiness(snapshot, true)
    }

    /// A gateway that has no config yet: `/ready` and the inference routes answer 503 until
    /// the first [`Gateway::install`].
    pub fn waiting_for_config() -> Arc<Gateway> {
        let empty =
            Snapshot::build(&Config::default(), &|_| None, 0).expect("the default config is valid");
        Self::with_readiness(empty, false)
    }

    fn with_readiness(snapshot: Snapshot, ready: bool) -> Arc<Gateway> {
        metrics::install();
        warm_up_tokenizer(&snapshot);
        let pools = upstream::UpstreamPools::default();
        let retry_budget = health::RetryBudgetState::new(&snapshot.dispatch);
        let runtime = Runtime::build(snapshot, &pools, None);
        Arc::new(Gateway {
            runtime: ArcSwap::from_pointee(runtime),
            pools,
            retry_budget,
            limiter: Arc::new(limiter::LocalLimiter::default()),
            usage_sink: arc_swap::ArcSwap::from_pointee(
                Arc::new(usage::DiscardUsage) as usage::SharedUsageSink
            ),
            request_log_sink: arc_swap::ArcSwap::from_pointee(Arc::new(
                request_log::DiscardRequestLogs,
            )
                as request_log::SharedRequestLogSink),
            ready: AtomicBool::new(ready),
        })
    }

    /// The limiter every admission goes through.
    pub fn limiter(&self) -> &Arc<dyn limiter::LimiterBackend> {
        &self.limiter
    }

    /// Sends settled usage to `sink` from now on (the control plane's ledger).
    pub fn set_usage_sink(&self, sink: usage::SharedUsageSink) {
        self.usage_sink.store(Arc::new(sink));
    }

    pub(crate) fn usage_sink(&self) -> usage::SharedUsageSink {
        usage::SharedUsageSink::clone(&self.usage_sink.load())
    }

    /// Sends request-log records to `sink` from now on (the control plane's log store).
    pub fn set_request_log_sink(&self, sink: request_log::SharedRequestLogSink) {
        self.request_log_sink.store(Arc::new(sink));
    }

    pub(crate) fn request_log_sink(&self) -> request_log::SharedRequestLogSink {
        request_log::SharedRequestLogSink::clone(&self.request_log_sink.load())
    }

    /// Whether a config has been installed (what `/ready` reports).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
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
        self.swap_in(snapshot);
        true
    }

    /// Swaps in `snapshot` even if its version is older: for a config source whose authority
    /// went back in versions (a control plane whose store was restored or recreated).
    pub fn replace(&self, snapshot: Snapshot) {
        self.swap_in(snapshot);
    }

    fn swap_in(&self, snapshot: Snapshot) {
        warm_up_tokenizer(&snapshot);
        let current = self.runtime.load();
        let next = Runtime::build(snapshot, &self.pools, Some(&current));
        self.runtime.store(Arc::new(next));
        self.ready.store(true, Ordering::Release);
    }
}

/// Admission estimates prompts with the BPE tokenizer, whose tables take ~150 ms to build: build
/// them in the background as soon as a config with virtual keys arrives, not on the first
/// governed request. Configs without virtual keys never pay for them.
fn warm_up_tokenizer(snapshot: &Snapshot) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    if snapshot.virtual_keys().next().is_some() {
        STARTED.call_once(|| {
            let _ = std::thread::Builder::new()
                .name("sluice-tokenizer-warm-up".into())
                .spawn(sluice_core::tokens::warm_up);
        });
    }
}
