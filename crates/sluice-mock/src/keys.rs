//! Per-key state (counters and limit window) in a sharded map: a lookup takes one shard's read
//! lock for a hash probe; only a key's first request takes a write lock. No lock here is ever
//! held across an await.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, RwLock};

use crate::limits::Window;
use crate::stats::{CountersSnapshot, KeyCounters};

const SHARDS: usize = 16;

/// Everything the mock tracks about one key.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    pub counters: KeyCounters,
    /// Locked only for one synchronous admission decision.
    pub window: Mutex<Window>,
}

#[derive(Debug)]
pub(crate) struct KeyRegistry {
    shards: [RwLock<HashMap<Box<str>, Arc<KeyState>>>; SHARDS],
    hasher: RandomState,
}

impl Default for KeyRegistry {
    fn default() -> Self {
        KeyRegistry {
            shards: std::array::from_fn(|_| RwLock::default()),
            hasher: RandomState::new(),
        }
    }
}

impl KeyRegistry {
    /// The state of `key`, created on first use.
    pub fn get(&self, key: &str) -> Arc<KeyState> {
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        if let Some(state) = shard.read().unwrap_or_else(|e| e.into_inner()).get(key) {
            return Arc::clone(state);
        }
        let mut map = shard.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(key.into()).or_default())
    }

    /// Forgets every key: counters and windows start from zero. Requests in flight finish
    /// against the state they already hold, which is no longer reported.
    pub fn clear(&self) {
        for shard in &self.shards {
            shard.write().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// Counters of every key seen since the last reset.
    pub fn snapshot(&self) -> Vec<(String, CountersSnapshot)> {
        let mut all = Vec::new();
        for shard in &self.shards {
            let map = shard.read().unwrap_or_else(|e| e.into_inner());
            all.extend(
                map.iter()
                    .map(|(k, s)| (k.to_string(), s.counters.snapshot())),
            );
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Outcome;

    #[test]
    fn the_same_key_gets_the_same_state_until_cleared() {
        let keys = KeyRegistry::default();
        let a = keys.get("sk-a");
        assert!(Arc::ptr_eq(&a, &keys.get("sk-a")));
        a.counters.record(Outcome::Error);
        assert_eq!(keys.snapshot()[0].1.errors, 1);
        keys.clear();
        assert!(keys.snapshot().is_empty());
        assert!(!Arc::ptr_eq(&a, &keys.get("sk-a")));
    }
}
