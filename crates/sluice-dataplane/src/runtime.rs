//! The data plane's lookup-ready form of a snapshot: per provider, its upstream client, prebuilt
//! extra headers and the health state of each key. Built once when a snapshot arrives and
//! swapped in with `ArcSwap`; health state carries over from the previous runtime by key name,
//! so a config change does not forget that a key is cooling down.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use sluice_core::{ProviderEntry, ProviderLookupError, Snapshot};

use crate::health::{KeyState, ProviderState};
use crate::selector::KeySelector;
use crate::upstream::{UpstreamClient, UpstreamPools};

pub struct Runtime {
    pub snapshot: Snapshot,
    providers: HashMap<String, Arc<ProviderRuntime>>,
}

pub struct ProviderRuntime {
    pub entry: Arc<ProviderEntry>,
    pub client: UpstreamClient,
    pub extra_headers: HeaderMap,
    /// Aligned with `entry.keys`.
    pub keys: Vec<Arc<KeyState>>,
    pub health: Arc<ProviderState>,
    pub selector: KeySelector,
}

impl Runtime {
    /// Builds the runtime for `snapshot`, keeping the health state of keys that still exist.
    pub fn build(snapshot: Snapshot, pools: &UpstreamPools, previous: Option<&Runtime>) -> Runtime {
        let mut providers = HashMap::new();
        for entry in snapshot.providers() {
            let prev = previous.and_then(|r| r.providers.get(&entry.name));
            let keys = entry
                .keys
                .iter()
                .map(|k| {
                    let kept = prev.and_then(|p| {
                        let i = p.entry.keys.iter().position(|pk| pk.name == k.name)?;
                        if p.entry.keys[i].value != k.value {
                            // A new value for the same key name: whatever disabled it is gone.
                            p.keys[i].enable();
                        }
                        Some(p.keys[i].clone())
                    });
                    kept.unwrap_or_else(|| Arc::new(KeyState::new(&snapshot.dispatch)))
                })
                .collect();
            let health = prev
                .map(|p| p.health.clone())
                .unwrap_or_else(|| Arc::new(ProviderState::new(&snapshot.dispatch)));
            let mut extra_headers = HeaderMap::new();
            for (name, value) in &entry.network.extra_headers {
                // Validated at config load; a header that still fails to parse is skipped.
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    extra_headers.insert(n, v);
                }
            }
            providers.insert(
                entry.name.clone(),
                Arc::new(ProviderRuntime {
                    entry: entry.clone(),
                    client: pools.client(entry.network.connect_timeout_ms),
                    extra_headers,
                    keys,
                    health,
                    selector: KeySelector::build(entry),
                }),
            );
        }
        Runtime {
            snapshot,
            providers,
        }
    }

    pub fn provider(&self, name: &str) -> Result<&Arc<ProviderRuntime>, ProviderLookupError> {
        self.providers
            .get(name)
            .ok_or_else(|| match self.snapshot.provider(name) {
                Err(e) => e,
                Ok(_) => ProviderLookupError::Unknown {
                    provider: name.to_string(),
                },
            })
    }
}
