//! Weighted selection of keys (and providers): an alias table for the common case where every
//! entry is eligible, and a linear pick for when health excludes or down-weights some.
//!
//! Randomness is an input (`u` in `[0, 1)`), so picks are reproducible in tests and the core
//! needs no random number generator.

use thiserror::Error;

/// Why weights cannot be turned into a [`WeightedIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum WeightError {
    #[error("there must be at least one weight")]
    Empty,
    /// Validation in `Config::validate` rejects these first; this guards other callers.
    #[error("weight[{index}] is {weight}; weights must be finite numbers greater than 0")]
    Invalid { index: usize, weight: f64 },
}

/// A Vose alias table: built once per config snapshot from the configured weights, then every
/// pick is O(1) whatever the number of entries.
///
/// ```
/// use sluice_core::selection::WeightedIndex;
/// let keys = WeightedIndex::new(&[3.0, 1.0]).unwrap();
/// // Two uniforms in [0, 1): one chooses a column, the other a side of it.
/// assert_eq!(keys.pick(0.1, 0.5), 0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedIndex {
    weights: Vec<f64>,
    /// Probability of keeping column `i` rather than taking `alias[i]`.
    keep: Vec<f64>,
    alias: Vec<usize>,
}

impl WeightedIndex {
    /// Builds the table. Every weight must be finite and greater than 0.
    pub fn new(weights: &[f64]) -> Result<Self, WeightError> {
        if weights.is_empty() {
            return Err(WeightError::Empty);
        }
        if let Some((index, &weight)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w > 0.0))
        {
            return Err(WeightError::Invalid { index, weight });
        }
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        // Scaled so that the mean column holds exactly 1.0.
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut keep = vec![1.0; n];
        let mut alias: Vec<usize> = (0..n).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s] = scaled[s];
            alias[s] = l;
            scaled[l] = (scaled[l] + scaled[s]) - 1.0;
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever remains is 1.0 up to rounding: those columns always keep themselves.
        for i in small.into_iter().chain(large) {
            keep[i] = 1.0;
            alias[i] = i;
        }
        Ok(WeightedIndex {
            weights: weights.to_vec(),
            keep,
            alias,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Always false: a table has at least one entry.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The configured weights, in order.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Picks an entry with probability proportional to its weight, in O(1). `u1` and `u2` are
    /// independent uniforms in `[0, 1)`; out-of-range values are clamped.
    pub fn pick(&self, u1: f64, u2: f64) -> usize {
        let n = self.weights.len();
        let column = ((unit(u1) * n as f64) as usize).min(n - 1);
        if unit(u2) < self.keep[column] {
            column
        } else {
            self.alias[column]
        }
    }

    /// Picks among the entries that are eligible now, each with weight
    /// `weights[i] * factor(i)`; a factor of 0 (or less, or NaN) excludes the entry. `None` when no
    /// entry is eligible. O(n): used only when health has excluded or down-weighted some entry,
    /// otherwise [`WeightedIndex::pick`] is the fast path.
    ///
    /// `factor` is called up to twice per entry and must return the same value each time (derive
    /// it from state read at one `now`, e.g. `KeyHealth::availability`).
    ///
    /// ```
    /// use sluice_core::selection::WeightedIndex;
    /// let keys = WeightedIndex::new(&[1.0, 1.0, 1.0]).unwrap();
    /// // Key 0 is cooling down; key 2 is nearly out of upstream quota.
    /// let factor = |i: usize| [0.0, 1.0, 0.05][i];
    /// assert_eq!(keys.pick_filtered(0.5, factor), Some(1));
    /// assert_eq!(keys.pick_filtered(0.99, factor), Some(2));
    /// ```
    pub fn pick_filtered(&self, u: f64, factor: impl Fn(usize) -> f64) -> Option<usize> {
        pick_weighted(
            self.weights.iter().enumerate().map(|(i, w)| w * factor(i)),
            u,
        )
    }
}

/// Picks an index with probability proportional to its weight in one linear scan over a cloneable
/// iterator (it is walked twice: once for the total, once to find the pick). Weights that are not
/// finite and positive exclude their entry; `None` when none is eligible. `u` is a uniform in
/// `[0, 1)`.
///
/// ```
/// use sluice_core::selection::pick_weighted;
/// assert_eq!(pick_weighted([0.0, 2.0, 2.0], 0.25), Some(1));
/// assert_eq!(pick_weighted([0.0, 2.0, 2.0], 0.75), Some(2));
/// assert_eq!(pick_weighted([0.0, f64::NAN], 0.5), None);
/// ```
pub fn pick_weighted<I>(weights: I, u: f64) -> Option<usize>
where
    I: IntoIterator<Item = f64>,
    I::IntoIter: Clone,
{
    let weights = weights.into_iter();
    let eligible = |w: f64| w.is_finite() && w > 0.0;
    let total: f64 = weights.clone().filter(|&w| eligible(w)).sum();
    if total <= 0.0 {
        return None;
    }
    let target = unit(u) * total;
    let mut cumulative = 0.0;
    let mut last = None;
    for (i, w) in weights.enumerate().filter(|&(_, w)| eligible(w)) {
        cumulative += w;
        if target < cumulative {
            return Some(i);
        }
        last = Some(i);
    }
    // Rounding can leave `target` a hair above the last cumulative sum.
    last
}

/// Clamps a supposed uniform into `[0, 1)`; NaN becomes 0 so a bad input cannot panic the pick.
fn unit(u: f64) -> f64 {
    if u.is_nan() || u < 0.0 {
        0.0
    } else if u >= 1.0 {
        1.0 - f64::EPSILON
    } else {
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The exact probability the table gives entry `i`, summed over all columns.
    fn table_probability(t: &WeightedIndex, i: usize) -> f64 {
        let n = t.len() as f64;
        let own = t.keep[i];
        let aliased: f64 = (0..t.len())
            .filter(|&c| c != i && t.alias[c] == i)
            .map(|c| 1.0 - t.keep[c])
            .sum();
        (own + aliased) / n
    }

    #[test]
    fn alias_picks_follow_weights_within_tolerance() {
        let weights = [1.0, 2.0, 3.0, 4.0, 0.5];
        let table = WeightedIndex::new(&weights).unwrap();
        let mut rng = StdRng::seed_from_u64(0x5EED);
        let samples = 200_000;
        let mut counts = [0usize; 5];
        for _ in 0..samples {
            counts[table.pick(rng.random(), rng.random())] += 1;
        }
        let total: f64 = weights.iter().sum();
        for (i, &c) in counts.iter().enumerate() {
            let observed = c as f64 / samples as f64;
            let expected = weights[i] / total;
            assert!(
                (observed - expected).abs() < 0.005,
                "entry {i}: observed {observed:.4}, expected {expected:.4}"
            );
        }
    }

    #[test]
    fn filtered_picks_follow_effective_weights_within_tolerance() {
        let table = WeightedIndex::new(&[1.0, 1.0, 2.0, 4.0]).unwrap();
        // Entry 1 excluded, entry 3 down-weighted to 1.0 effective.
        let factor = |i: usize| [1.0, 0.0, 1.0, 0.25][i];
        let mut rng = StdRng::seed_from_u64(42);
        let samples = 100_000;
        let mut counts = [0usize; 4];
        for _ in 0..samples {
            counts[table.pick_filtered(rng.random(), factor).unwrap()] += 1;
        }
        let expected = [0.25, 0.0, 0.5, 0.25];
        for i in 0..4 {
            let observed = counts[i] as f64 / samples as f64;
            assert!(
                (observed - expected[i]).abs() < 0.006,
                "entry {i}: observed {observed:.4}, expected {}",
                expected[i]
            );
        }
        assert_eq!(counts[1], 0, "an excluded entry is never picked");
    }

    #[test]
    fn filtered_pick_is_none_when_every_entry_is_excluded() {
        let table = WeightedIndex::new(&[1.0, 2.0]).unwrap();
        assert_eq!(table.pick_filtered(0.3, |_| 0.0), None);
    }

    #[test]
    fn single_entry_is_always_picked() {
        let table = WeightedIndex::new(&[7.0]).unwrap();
        for u in [0.0, 0.5, 0.999_999] {
            assert_eq!(table.pick(u, u), 0);
        }
    }

    #[test]
    fn out_of_range_uniforms_are_clamped_not_panicking() {
        let table = WeightedIndex::new(&[1.0, 1.0]).unwrap();
        assert!(table.pick(1.0, 1.0) < 2);
        assert!(table.pick(-3.0, f64::NAN) < 2);
        assert_eq!(pick_weighted([1.0, 1.0], 1.0), Some(1));
        assert_eq!(pick_weighted([1.0, 1.0], f64::NAN), Some(0));
    }

    #[test]
    fn invalid_weights_name_the_entry() {
        assert_eq!(WeightedIndex::new(&[]), Err(WeightError::Empty));
        assert!(matches!(
            WeightedIndex::new(&[1.0, 0.0]),
            Err(WeightError::Invalid { index: 1, .. })
        ));
        assert!(matches!(
            WeightedIndex::new(&[f64::INFINITY]),
            Err(WeightError::Invalid { index: 0, .. })
        ));
    }

    #[test]
    fn linear_pick_walks_cumulative_weights_in_order() {
        let w = [1.0, 0.0, 3.0];
        assert_eq!(pick_weighted(w, 0.0), Some(0));
        assert_eq!(pick_weighted(w, 0.249), Some(0));
        assert_eq!(pick_weighted(w, 0.25), Some(2));
        assert_eq!(pick_weighted(w, 0.999), Some(2));
        assert_eq!(pick_weighted(std::iter::empty::<f64>(), 0.5), None);
    }

    proptest! {
        #[test]
        fn alias_table_gives_each_entry_exactly_its_share(
            weights in prop::collection::vec(0.001f64..1000.0, 1..40)
        ) {
            let table = WeightedIndex::new(&weights).unwrap();
            let total: f64 = weights.iter().sum();
            for (i, w) in weights.iter().enumerate() {
                let p = table_probability(&table, i);
                prop_assert!((p - w / total).abs() < 1e-9, "entry {}: {} vs {}", i, p, w / total);
            }
        }

        #[test]
        fn picks_are_always_in_range(
            weights in prop::collection::vec(0.001f64..1000.0, 1..40),
            u1 in any::<f64>(),
            u2 in any::<f64>(),
        ) {
            let table = WeightedIndex::new(&weights).unwrap();
            prop_assert!(table.pick(u1, u2) < weights.len());
            prop_assert!(table.pick_filtered(u1, |_| 1.0).unwrap() < weights.len());
        }
    }
}

/// A smooth weighted round-robin order of `len` picks over `weights` (nginx's algorithm): each
/// entry appears in proportion to its weight, and the picks of one entry are spread as evenly as
/// possible instead of bunching. Cycling through it spaces requests to each key, which keeps a
/// key under a per-second upstream limit far better than independent random picks. Weights
/// that are not finite and positive never appear; all-invalid weights give an empty order.
///
/// ```
/// use sluice_core::selection::smooth_order;
/// assert_eq!(smooth_order(&[1.0, 1.0, 1.0], 6), vec![0, 1, 2, 0, 1, 2]);
/// assert_eq!(smooth_order(&[2.0, 1.0], 3), vec![0, 1, 0]);
/// ```
pub fn smooth_order(weights: &[f64], len: usize) -> Vec<usize> {
    let w: Vec<f64> = weights
        .iter()
        .map(|&w| if w.is_finite() && w > 0.0 { w } else { 0.0 })
        .collect();
    let total: f64 = w.iter().sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let mut current = vec![0.0f64; w.len()];
    let mut order = Vec::with_capacity(len);
    for _ in 0..len {
        let mut best = usize::MAX;
        for (i, wi) in w.iter().enumerate() {
            if *wi <= 0.0 {
                continue;
            }
            current[i] += wi;
            if best == usize::MAX || current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        order.push(best);
    }
    order
}

#[cfg(test)]
mod smooth_order_tests {
    use super::smooth_order;

    #[test]
    fn smooth_order_matches_weights_and_spreads_picks() {
        let order = smooth_order(&[3.0, 1.0, 1.0], 500);
        let count = |k| order.iter().filter(|&&i| i == k).count();
        assert_eq!((count(0), count(1), count(2)), (300, 100, 100));
        // Key 1 never appears twice in a row: its picks are spread out.
        assert!(order.windows(2).all(|w| !(w[0] == 1 && w[1] == 1)));
    }

    #[test]
    fn invalid_weights_never_appear() {
        let order = smooth_order(&[0.0, f64::NAN, 2.0], 10);
        assert!(order.iter().all(|&i| i == 2));
        assert!(smooth_order(&[0.0], 5).is_empty());
    }
}
