//! Weighted key selection, precomputed per snapshot: an alias table per model a key is
//! restricted to, and one for unrestricted models, so a pick among healthy keys is O(1).

use std::collections::HashMap;

use sluice_core::ProviderEntry;
use sluice_core::selection::WeightedIndex;

struct Table {
    index: WeightedIndex,
    /// Position in the alias table → position in the provider's key list.
    keys: Vec<usize>,
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
            WeightedIndex::new(&weights)
                .ok()
                .map(|index| Table { index, keys })
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

    /// A key for `model` by weight alone (health is the caller's business), or `None` when no
    /// key serves the model.
    pub fn pick(&self, model: &str, u1: f64, u2: f64) -> Option<usize> {
        let t = self.by_model.get(model).or(self.default.as_ref())?;
        Some(t.keys[t.index.pick(u1, u2)])
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
        for i in 0..100 {
            let u = i as f64 / 100.0;
            assert_eq!(s.pick("gpt-4o", u, u), Some(0));
        }
        let picks: std::collections::HashSet<_> = (0..100)
            .map(|i| s.pick("gpt-4o-mini", i as f64 / 100.0, 0.5).unwrap())
            .collect();
        assert_eq!(picks.len(), 2);
    }

    #[test]
    fn no_key_for_model_is_none() {
        let e = entry(&[("mini", 1.0, &["gpt-4o-mini"])]);
        assert_eq!(KeySelector::build(&e).pick("gpt-4o", 0.1, 0.1), None);
    }
}
