//! The state one mock server shares across connections: its config (swapped whole, read without
//! locks), per-key state, counters and sequences.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;

use crate::config::MockConfig;
use crate::faults::FaultSequence;
use crate::keys::KeyRegistry;
use crate::openai;
use crate::stats::{CountersSnapshot, KeyCounters, RouteCounters};

/// A config plus what is precomputed from it.
#[derive(Debug)]
pub(crate) struct Active {
    pub config: MockConfig,
    pub models_body: Bytes,
}

impl Active {
    fn new(config: MockConfig) -> Active {
        Active {
            models_body: openai::models_body(&config.models),
            config,
        }
    }
}

#[derive(Debug)]
pub(crate) struct MockState {
    pub active: ArcSwap<Active>,
    pub keys: KeyRegistry,
    pub routes: RouteCounters,
    /// Requests refused before a key was known (401s).
    pub unattributed: KeyCounters,
    pub faults: FaultSequence,
    /// Numbers responses; ids derive from it.
    seq: AtomicU64,
    /// Origin of the limiter's clock.
    epoch: Instant,
}

impl MockState {
    pub fn new(config: MockConfig) -> MockState {
        MockState {
            active: ArcSwap::from_pointee(Active::new(config)),
            keys: KeyRegistry::default(),
            routes: RouteCounters::default(),
            unattributed: KeyCounters::default(),
            faults: FaultSequence::default(),
            seq: AtomicU64::new(1),
            epoch: Instant::now(),
        }
    }

    pub fn config(&self) -> MockConfig {
        self.active.load().config.clone()
    }

    pub fn set_config(&self, config: MockConfig) {
        self.active.store(std::sync::Arc::new(Active::new(config)));
    }

    /// The limiter's clock.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Relaxed)
    }

    /// Zeroes counters and limit windows and restarts the fault sequence.
    pub fn reset(&self) {
        self.keys.clear();
        self.routes.reset();
        self.unattributed.reset();
        self.faults.reset();
    }

    /// `{"keys": {KEY: counters}, "totals": counters, "routes": {PATH: n}}`.
    pub fn stats(&self) -> serde_json::Value {
        let keys = self.keys.snapshot();
        let mut totals = self.unattributed.snapshot();
        let mut per_key = serde_json::Map::new();
        for (key, counters) in keys {
            totals += counters;
            per_key.insert(key, to_json(&counters));
        }
        serde_json::json!({
            "keys": per_key,
            "totals": to_json(&totals),
            "routes": self.routes.to_json(),
        })
    }
}

fn to_json(c: &CountersSnapshot) -> serde_json::Value {
    serde_json::to_value(c).expect("counters serialize")
}
