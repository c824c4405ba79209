//! Weighted key selection, precomputed per snapshot: a smooth weighted round-robin order per
//! model a key is restricted to, and one for unrestricted models. A pick is one atomic increment
//! and an index (O(1), no lock). Round-robin rather than independent random picks because it
//! spaces the requests to each key evenly: a burst does not land twice on one key while another
//! idles, which is what trips per-second upstream limits (see the rate-limit spike scenario).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use sluice_core::ProviderEntry;
use sluice_core::selection::smooth_order;

/// Picks per cycle per key: long enough that float weights come out within 1/64 of their share.
const ORDER_PER_KEY: usize = 64;

struct Table {
    /// Positions in the provider's key list, in smooth weighted round-robin order.
    order: Vec<usize>,
    cursor: AtomicUsize,
}

#[derive(Default)]
pub struct KeySelector {
    by_model: HashMap<String, Table>,
    default: Option<Table>,
}

impl KeySelector {
    pub fn build(entry: &ProviderEntry) -> KeySelector {
        let table = |filter: &dyn Fn(usize) -> bool| {
            let keys: Vec<usize> = (0..entry.keys.len()).filter(|&i| filter(i)).collect();
            let weights: Vec<f64> = keys.iter().map(|&i| entry.keys[i].weight).collect();
            let order: Vec<usize> = smooth_order(&weights, keys.len() * ORDER_PER_KEY)
                .into_iter()
                .map(|i| keys[i])
                .collect();
            // Start at a random place so replicas (and restarts) do not all begin on key 0.
            let start = rand::random::<u32>() as usize % order.len().max(1);
            (!order.is_empty()).then(|| Table {
                order,
                cursor: AtomicUsize::new(start),
            })
        };
        let mut by_model = HashMap::new();
        for k in &entry.keys {
            for m in &k.models {
                if !by_model.contains_key(m)
                    && let Some(t) = table(&|i| entry.keys[i].serves(m))
                {
                    by_model.insert(m.clone(), t);
                }
            }
        }
        KeySelector {
            by_model,
            default: table(&|i| entry.keys[i].models.is_empty()),
        }
    }

    /// The next key for `model` in weighted round-robin order (health is the caller's
    /// business), or `None` when no key serves the model.
    pub fn pick(&self, model: &str) -> Option<usize> {
        let t = self.by_model.get(model).or(self.default.as_ref())?;
        let n = t.cursor.fetch_add(1, Ordering::Relaxed);
        Some(t.order[n % t.order.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::KeyEntry;

    fn entry(keys: &[(&str, f64, &[&str])]) -> ProviderEntry {
        ProviderEntry {
            name: "p".into(),
            kind: sluice_core::ProviderKind::Openai,
            base_url: "http://x".into(),
            network: Default::default(),
            keys: keys
                .iter()
                .map(|(n, w, m)| KeyEntry {
                    name: n.to_string(),
                    value: Some("v".into()),
                    weight: *w,
                    models: m.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            models: vec![],
        }
    }

    #[test]
    fn restricted_key_serves_only_its_models() {
        let e = entry(&[("all", 1.0, &[]), ("mini", 1.0, &["gpt-4o-mini"])]);
        let s = KeySelector::build(&e);
        for _ in 0..100 {
            assert_eq!(s.pick("gpt-4o"), Some(0));
        }
        let picks: std::collections::HashSet<_> =
            (0..100).map(|_| s.pick("gpt-4o-mini").unwrap()).collect();
        assert_eq!(picks.len(), 2);
    }

    #[test]
    fn no_key_for_model_is_none() {
        let e = entry(&[("mini", 1.0, &["gpt-4o-mini"])]);
        assert_eq!(KeySelector::build(&e).pick("gpt-4o"), None);
    }

    #[test]
    fn consecutive_picks_rotate_through_equal_keys() {
        let e = entry(&[("a", 1.0, &[]), ("b", 1.0, &[]), ("c", 1.0, &[])]);
        let s = KeySelector::build(&e);
        let picks: Vec<usize> = (0..9).map(|_| s.pick("m").unwrap()).collect();
        for w in picks.windows(3) {
            let set: std::collections::HashSet<_> = w.iter().collect();
            assert_eq!(set.len(), 3, "{picks:?}");
        }
    }

    #[test]
    fn picks_follow_weights() {
        let e = entry(&[("heavy", 3.0, &[]), ("light", 1.0, &[])]);
        let s = KeySelector::build(&e);
        let heavy = (0..400).filter(|_| s.pick("m") == Some(0)).count();
        assert_eq!(heavy, 300);
    }
}
