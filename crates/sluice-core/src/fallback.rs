//! The route stage's output: which provider/model targets a request tries, in order.
//!
//! A plan has a primary target and zero or more fallbacks. It comes either from the request
//! (`"model": "openai/gpt-4o-mini"` plus its `"fallbacks"` list) or from a virtual key's weighted
//! provider configs (one picked by weight, the others as fallbacks); request fallbacks can be
//! appended to either. The dispatch stage moves to the next target on
//! [`Next::FailOver`](crate::dispatch::Next::FailOver).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

use crate::model_ref::{ModelRef, ModelRefError};
use crate::selection::pick_weighted;

/// One provider/model pair of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlanTarget<'a> {
    pub provider: Cow<'a, str>,
    /// The model name as the provider knows it (after any `model_map`).
    pub model: Cow<'a, str>,
}

impl<'a> PlanTarget<'a> {
    pub fn new(provider: impl Into<Cow<'a, str>>, model: impl Into<Cow<'a, str>>) -> Self {
        PlanTarget {
            provider: provider.into(),
            model: model.into(),
        }
    }

    /// The same target, owning its strings.
    pub fn into_owned(self) -> PlanTarget<'static> {
        PlanTarget {
            provider: Cow::Owned(self.provider.into_owned()),
            model: Cow::Owned(self.model.into_owned()),
        }
    }
}

impl fmt::Display for PlanTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Why a plan cannot be built. Request errors name the `fallbacks[i]` entry at fault and are
/// answered 400.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FallbackError {
    #[error("fallbacks[{index}]: {source}")]
    Malformed {
        index: usize,
        #[source]
        source: ModelRefError,
    },
    #[error(
        "fallbacks[{index}]: '{entry}' names no provider; write it as 'provider/model', e.g. 'openai/{entry}'"
    )]
    MissingProvider { index: usize, entry: String },
    #[error("no provider config can serve model '{model}'")]
    NoCandidate { model: String },
}

impl FallbackError {
    /// The request field at fault (`fallbacks[2]`), for the error body's `param`.
    pub fn field(&self) -> Option<String> {
        match self {
            FallbackError::Malformed { index, .. }
            | FallbackError::MissingProvider { index, .. } => Some(format!("fallbacks[{index}]")),
            FallbackError::NoCandidate { .. } => None,
        }
    }
}

/// A virtual key's provider config as the weighted constructor needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedProvider<'a> {
    pub provider: &'a str,
    /// Share of the primary picks; 0 (or less) makes it a fallback only.
    pub weight: f64,
    /// Requested model → this provider's model (`{"gpt-4o-mini": "claude-3-5-haiku-latest"}`);
    /// an unmapped model is sent under its own name.
    pub model_map: Option<&'a BTreeMap<String, String>>,
}

/// The ordered targets of one request: never empty, no target twice.
///
/// ```
/// use sluice_core::fallback::{FallbackPlan, PlanTarget};
/// let plan = FallbackPlan::from_request(
///     PlanTarget::new("openai", "gpt-4o-mini"),
///     ["anthropic/claude-3-5-haiku-latest", "openai/gpt-4o-mini"],
/// ).unwrap();
/// assert_eq!(plan.primary().to_string(), "openai/gpt-4o-mini");
/// // The duplicate of the primary is dropped.
/// assert_eq!(plan.fallbacks().len(), 1);
/// assert_eq!(plan.fallbacks()[0].provider, "anthropic");
///
/// let err = FallbackPlan::from_request(PlanTarget::new("openai", "gpt-4o"), ["gpt-4o-mini"])
///     .unwrap_err();
/// assert_eq!(err.field().as_deref(), Some("fallbacks[0]"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackPlan<'a> {
    targets: Vec<PlanTarget<'a>>,
}

impl<'a> FallbackPlan<'a> {
    /// A plan with only a primary target.
    pub fn new(primary: PlanTarget<'a>) -> Self {
        FallbackPlan {
            targets: vec![primary],
        }
    }

    /// The request's resolved primary target, then its `fallbacks` entries in order. Each entry
    /// must be `provider/model`: a bare model name is an error here, because a fallback is the
    /// caller saying exactly where to go.
    pub fn from_request<I>(primary: PlanTarget<'a>, fallbacks: I) -> Result<Self, FallbackError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut plan = FallbackPlan::new(primary);
        plan.extend_from_request(fallbacks)?;
        Ok(plan)
    }

    /// A virtual key's weighted provider configs for `model`: the primary is picked by weight with
    /// the uniform `u` in `[0, 1)`; the others follow as fallbacks in descending weight (ties in
    /// config order). The caller passes only the configs that can serve `model`.
    ///
    /// ```
    /// use sluice_core::fallback::{FallbackPlan, WeightedProvider};
    /// let map = [("gpt-4o-mini".to_string(), "claude-3-5-haiku-latest".to_string())].into();
    /// let configs = [
    ///     WeightedProvider { provider: "openai", weight: 0.8, model_map: None },
    ///     WeightedProvider { provider: "anthropic", weight: 0.2, model_map: Some(&map) },
    /// ];
    /// let plan = FallbackPlan::from_weighted("gpt-4o-mini", &configs, 0.9).unwrap();
    /// assert_eq!(plan.primary().to_string(), "anthropic/claude-3-5-haiku-latest");
    /// assert_eq!(plan.fallbacks()[0].to_string(), "openai/gpt-4o-mini");
    /// ```
    pub fn from_weighted(
        model: &'a str,
        candidates: &[WeightedProvider<'a>],
        u: f64,
    ) -> Result<Self, FallbackError> {
        let weight = |c: &WeightedProvider<'_>| {
            if c.weight.is_finite() && c.weight > 0.0 {
                c.weight
            } else {
                0.0
            }
        };
        let target = |c: &WeightedProvider<'a>| {
            let mapped = c
                .model_map
                .and_then(|m| m.get(model))
                .map_or(model, String::as_str);
            PlanTarget::new(c.provider, mapped)
        };
        if candidates.is_empty() {
            return Err(FallbackError::NoCandidate {
                model: model.to_string(),
            });
        }
        // With no positive weight at all, the first config is the primary.
        let primary = pick_weighted(candidates.iter().map(weight), u).unwrap_or(0);
        let mut rest: Vec<&WeightedProvider<'a>> = candidates
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != primary)
            .map(|(_, c)| c)
            .collect();
        rest.sort_by(|a, b| weight(b).total_cmp(&weight(a)));
        let mut plan = FallbackPlan::new(target(&candidates[primary]));
        for c in rest {
            plan.push(target(c));
        }
        Ok(plan)
    }

    /// Appends the request's `fallbacks` entries (see [`FallbackPlan::from_request`]). All entries
    /// are checked before any is added, so an error leaves the plan as it was.
    pub fn extend_from_request<I>(&mut self, fallbacks: I) -> Result<(), FallbackError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let parsed = fallbacks
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                let r = ModelRef::parse(entry)
                    .map_err(|source| FallbackError::Malformed { index, source })?;
                match r.provider {
                    Some(provider) => Ok(PlanTarget::new(provider, r.model)),
                    None => Err(FallbackError::MissingProvider {
                        index,
                        entry: r.model.to_string(),
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        for target in parsed {
            self.push(target);
        }
        Ok(())
    }

    /// Appends `target` unless the plan already has it; returns whether it was added.
    pub fn push(&mut self, target: PlanTarget<'a>) -> bool {
        if self.targets.contains(&target) {
            return false;
        }
        self.targets.push(target);
        true
    }

    /// The first target tried.
    pub fn primary(&self) -> &PlanTarget<'a> {
        &self.targets[0]
    }

    /// The targets tried after the primary, in order.
    pub fn fallbacks(&self) -> &[PlanTarget<'a>] {
        &self.targets[1..]
    }

    /// Every target, primary first.
    pub fn targets(&self) -> &[PlanTarget<'a>] {
        &self.targets
    }

    /// Number of targets (at least 1).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Always false: a plan has a primary.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The same plan, owning its strings (to outlive the request body it borrows from).
    pub fn into_owned(self) -> FallbackPlan<'static> {
        FallbackPlan {
            targets: self
                .targets
                .into_iter()
                .map(PlanTarget::into_owned)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(plan: &FallbackPlan<'_>) -> Vec<String> {
        plan.targets().iter().map(ToString::to_string).collect()
    }

    fn openai() -> PlanTarget<'static> {
        PlanTarget::new("openai", "gpt-4o-mini")
    }

    #[test]
    fn request_fallbacks_follow_the_primary_in_order() {
        let plan = FallbackPlan::from_request(
            openai(),
            [
                "anthropic/claude-3-5-haiku-latest",
                "groq/llama-3.1-8b-instant",
            ],
        )
        .unwrap();
        assert_eq!(
            names(&plan),
            [
                "openai/gpt-4o-mini",
                "anthropic/claude-3-5-haiku-latest",
                "groq/llama-3.1-8b-instant"
            ]
        );
    }

    #[test]
    fn fallback_model_keeps_everything_after_the_first_slash() {
        let plan =
            FallbackPlan::from_request(openai(), ["openrouter/meta-llama/llama-3-8b"]).unwrap();
        assert_eq!(plan.fallbacks()[0].provider, "openrouter");
        assert_eq!(plan.fallbacks()[0].model, "meta-llama/llama-3-8b");
    }

    #[test]
    fn bare_model_fallback_is_an_error_naming_its_index() {
        let err = FallbackPlan::from_request(openai(), ["anthropic/claude", "gpt-4o"]).unwrap_err();
        assert_eq!(
            err,
            FallbackError::MissingProvider {
                index: 1,
                entry: "gpt-4o".into()
            }
        );
        assert_eq!(err.field().as_deref(), Some("fallbacks[1]"));
        assert!(
            err.to_string()
                .starts_with("fallbacks[1]: 'gpt-4o' names no provider")
        );
    }

    #[test]
    fn malformed_fallbacks_are_errors_naming_their_index() {
        for (entries, index) in [
            (vec![""], 0),
            (vec!["openai/gpt-4o", "/gpt-4o"], 1),
            (vec!["a/b", "c/d", "anthropic/"], 2),
        ] {
            let err = FallbackPlan::from_request(openai(), entries).unwrap_err();
            assert!(
                matches!(err, FallbackError::Malformed { index: i, .. } if i == index),
                "{err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("fallbacks[{index}]: "))
            );
        }
    }

    #[test]
    fn a_failed_extension_leaves_the_plan_unchanged() {
        let mut plan = FallbackPlan::new(openai());
        let err = plan.extend_from_request(["anthropic/claude", "bad"]);
        assert!(err.is_err());
        assert_eq!(names(&plan), ["openai/gpt-4o-mini"]);
    }

    #[test]
    fn identical_targets_appear_once() {
        let plan = FallbackPlan::from_request(
            openai(),
            [
                "openai/gpt-4o-mini",
                "anthropic/claude",
                " anthropic/claude ",
            ],
        )
        .unwrap();
        assert_eq!(names(&plan), ["openai/gpt-4o-mini", "anthropic/claude"]);
    }

    fn configs<'a>(map: &'a BTreeMap<String, String>) -> [WeightedProvider<'a>; 3] {
        [
            WeightedProvider {
                provider: "openai",
                weight: 0.6,
                model_map: None,
            },
            WeightedProvider {
                provider: "anthropic",
                weight: 0.1,
                model_map: Some(map),
            },
            WeightedProvider {
                provider: "groq",
                weight: 0.3,
                model_map: None,
            },
        ]
    }

    fn claude_map() -> BTreeMap<String, String> {
        [(
            "gpt-4o-mini".to_string(),
            "claude-3-5-haiku-latest".to_string(),
        )]
        .into()
    }

    #[test]
    fn weighted_primary_follows_the_uniform_and_the_rest_descend_by_weight() {
        let map = claude_map();
        let c = configs(&map);
        // Cumulative weights: openai [0, 0.6), anthropic [0.6, 0.7), groq [0.7, 1.0).
        let plan = FallbackPlan::from_weighted("gpt-4o-mini", &c, 0.1).unwrap();
        assert_eq!(
            names(&plan),
            [
                "openai/gpt-4o-mini",
                "groq/gpt-4o-mini",
                "anthropic/claude-3-5-haiku-latest"
            ]
        );
        let plan = FallbackPlan::from_weighted("gpt-4o-mini", &c, 0.65).unwrap();
        assert_eq!(
            names(&plan),
            [
                "anthropic/claude-3-5-haiku-latest",
                "openai/gpt-4o-mini",
                "groq/gpt-4o-mini"
            ]
        );
        let plan = FallbackPlan::from_weighted("gpt-4o-mini", &c, 0.95).unwrap();
        assert_eq!(plan.primary().provider, "groq");
    }

    #[test]
    fn unmapped_model_keeps_its_name() {
        let map = claude_map();
        let c = configs(&map);
        let plan = FallbackPlan::from_weighted("gpt-4o", &c, 0.65).unwrap();
        assert_eq!(plan.primary().to_string(), "anthropic/gpt-4o");
    }

    #[test]
    fn zero_weight_configs_are_fallbacks_only() {
        let c = [
            WeightedProvider {
                provider: "backup",
                weight: 0.0,
                model_map: None,
            },
            WeightedProvider {
                provider: "openai",
                weight: 1.0,
                model_map: None,
            },
        ];
        for u in [0.0, 0.5, 0.999] {
            let plan = FallbackPlan::from_weighted("m", &c, u).unwrap();
            assert_eq!(names(&plan), ["openai/m", "backup/m"]);
        }
    }

    #[test]
    fn no_candidates_is_an_error() {
        assert_eq!(
            FallbackPlan::from_weighted("gpt-4o-mini", &[], 0.5),
            Err(FallbackError::NoCandidate {
                model: "gpt-4o-mini".into()
            })
        );
    }

    #[test]
    fn weighted_plan_takes_request_fallbacks_after_its_own() {
        let map = claude_map();
        let c = configs(&map);
        let mut plan = FallbackPlan::from_weighted("gpt-4o-mini", &c, 0.1).unwrap();
        plan.extend_from_request(["groq/gpt-4o-mini", "mistral/mistral-small"])
            .unwrap();
        assert_eq!(plan.len(), 4);
        assert_eq!(plan.targets()[3].to_string(), "mistral/mistral-small");
    }

    #[test]
    fn owned_plan_outlives_the_request_body() {
        let plan = {
            let body = String::from("anthropic/claude");
            FallbackPlan::from_request(openai(), [body.as_str()])
                .unwrap()
                .into_owned()
        };
        assert_eq!(plan.fallbacks()[0].to_string(), "anthropic/claude");
    }
}
