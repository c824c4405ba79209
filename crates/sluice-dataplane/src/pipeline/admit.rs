//! Stage 3, admit: reserve the request against every limit that applies, all or nothing, before
//! any upstream call: one request, the estimated prompt tokens plus the output ceiling, and the
//! estimated cost, at the virtual key, its team and its customer. Provider-config limits are
//! reserved per target at dispatch (an over-limit provider config is skipped, not fatal).
//!
//! Runs after route (the plan's primary target prices the estimate) and before dispatch. A
//! refusal is a 429 (requests, tokens) or 402 (budget) naming the limit and when it resets.

use sluice_core::limits::{ChargeList, MicroUsd, Reservation};
use sluice_core::pricing::UnknownModelPolicy;
use sluice_core::tokens::{self, TokenEstimate};

use super::authenticate::Principal;
use super::ingress::Operation;
use super::route::RouteTarget;
use crate::Gateway;
use crate::error::GatewayError;
use crate::runtime::Runtime;

/// What admission reserved; settled once the request ends.
pub struct Admission {
    pub principal: Principal,
    pub estimate: TokenEstimate,
    /// The key-level charges (for `x-ratelimit-*` headers); `None` for anonymous callers.
    pub charges: Option<ChargeList>,
    pub reservation: Option<Reservation>,
}

/// The token estimate of an operation for `model`.
pub fn estimate(rt: &Runtime, op: &Operation, model: &str) -> TokenEstimate {
    let default_max = rt.snapshot.default_max_output_tokens;
    match op {
        Operation::Chat(r) => tokens::estimate_chat_tokens(model, r, default_max),
        Operation::Completion(r) => tokens::estimate_completion_tokens(model, r, default_max),
        Operation::Embeddings(r) => tokens::estimate_embedding_tokens(model, r),
    }
}

/// The cost of `estimate` on `target`, or what the unknown-price policy says.
pub fn estimated_cost(
    rt: &Runtime,
    target: &RouteTarget,
    estimate: &TokenEstimate,
    budget_applies: bool,
) -> Result<MicroUsd, GatewayError> {
    let provider = &target.provider.entry.name;
    match rt
        .snapshot
        .prices
        .cost_micros(provider, &target.model, &estimate.as_usage())
    {
        Some(c) => Ok(c),
        None if budget_applies && rt.snapshot.unknown_model == UnknownModelPolicy::Refuse => {
            Err(GatewayError::BadRequest {
                message: format!(
                    "model '{provider}/{}' has no price and a budget applies (pricing.unknown_model = \"refuse\"); add a price under pricing.overrides",
                    target.model
                ),
                param: Some("model".into()),
                code: "model_price_unknown",
            })
        }
        None => Ok(0),
    }
}

pub fn admit(
    gw: &Gateway,
    rt: &Runtime,
    principal: Principal,
    op: &Operation,
    plan: &[RouteTarget],
) -> Result<Admission, GatewayError> {
    let Some(vk) = principal.virtual_key() else {
        return Ok(Admission {
            principal,
            estimate: TokenEstimate::default(),
            charges: None,
            reservation: None,
        });
    };
    let primary = &plan[0];
    let estimate = estimate(rt, op, &primary.model);
    let budget_applies = vk.charges.iter().any(|(_, s)| s.budget.is_some());
    let cost = estimated_cost(rt, primary, &estimate, budget_applies)?;
    let mut charges = ChargeList::new(estimate.total(), cost);
    for (scope, spec) in &vk.charges {
        charges = charges.with(scope.clone(), *spec);
    }
    let reservation = gw
        .limiter()
        .reserve(&charges)
        .map_err(|r| GatewayError::LimitExceeded(Box::new(r)))?;
    Ok(Admission {
        principal,
        estimate,
        charges: Some(charges),
        reservation: Some(reservation),
    })
}
