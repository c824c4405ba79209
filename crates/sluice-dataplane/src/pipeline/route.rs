//! Stage 5, route: turn `model` and `fallbacks` into an ordered plan of `provider/model`
//! targets, each checked against the snapshot so a bad entry is a 400, never silently dropped.
//!
//! With a virtual key that has `provider_configs`, a bare model goes to one of its providers by
//! weight (the others become fallbacks, `model_map` applied), and only its providers and
//! `allowed_models` may be used (403 otherwise). A provider config is a candidate for a bare
//! model only if it maps it, allows it, or the catalog (the shipped price table, model-family
//! prefixes, the provider's configured `models`) says the provider serves it: a request never
//! reaches a provider that cannot serve it.

use std::sync::Arc;

use sluice_core::catalog::provider_serves;
use sluice_core::fallback::{FallbackPlan, WeightedProvider};
use sluice_core::governance::VkProviderConfig;
use sluice_core::{ModelRef, ProviderLookupError, VirtualKeyEntry};

use super::authenticate::Principal;
use crate::error::GatewayError;
use crate::runtime::{ProviderRuntime, Runtime};

/// One target of the plan: a provider and the upstream model name.
#[derive(Clone)]
pub struct RouteTarget {
    pub provider: Arc<ProviderRuntime>,
    pub model: String,
}

/// The primary target followed by its fallbacks, in order, without duplicates.
pub fn plan(
    rt: &Runtime,
    principal: &Principal,
    model: &str,
    fallbacks: &[String],
) -> Result<Vec<RouteTarget>, GatewayError> {
    let vk = principal
        .virtual_key()
        .filter(|vk| !vk.config.provider_configs.is_empty());
    let parsed = ModelRef::parse(model)
        .map_err(|e| GatewayError::bad_request(e.to_string(), Some("model")))?;
    let mut targets = Vec::with_capacity(1 + fallbacks.len());
    match (parsed.provider, vk) {
        (Some(provider), Some(vk)) => {
            let m = allowed(vk, provider, parsed.model, "model")?;
            push(rt, provider, &m, "model", &mut targets)?;
        }
        (Some(provider), None) => push(rt, provider, parsed.model, "model", &mut targets)?,
        (None, Some(vk)) => {
            for t in weighted(rt, vk, parsed.model)? {
                push(rt, &t.0, &t.1, "model", &mut targets)?;
            }
        }
        (None, None) => {
            let listing = rt.snapshot.providers_listing(parsed.model);
            let Some(p) = listing.first() else {
                return Err(GatewayError::BadRequest {
                    message: format!(
                        "model '{model}' names no provider; use 'provider/model' (configured providers: {})",
                        known(rt)
                    ),
                    param: Some("model".into()),
                    code: "model_not_found",
                });
            };
            let name = p.name.clone();
            push(rt, &name, parsed.model, "model", &mut targets)?;
        }
    }
    for (i, f) in fallbacks.iter().enumerate() {
        let param = format!("fallbacks[{i}]");
        let parsed = ModelRef::parse(f)
            .map_err(|e| GatewayError::bad_request(format!("{param}: {e}"), Some(&param)))?;
        let Some(provider) = parsed.provider else {
            return Err(GatewayError::bad_request(
                format!("{param}: '{f}' must be 'provider/model'"),
                Some(&param),
            ));
        };
        match vk {
            Some(vk) => {
                let m = allowed(vk, provider, parsed.model, &param)?;
                push(rt, provider, &m, &param, &mut targets)?;
            }
            None => push(rt, provider, parsed.model, &param, &mut targets)?,
        }
    }
    Ok(targets)
}

/// The upstream model for `provider/model` under the key's provider configs, or a 403.
fn allowed(
    vk: &VirtualKeyEntry,
    provider: &str,
    model: &str,
    param: &str,
) -> Result<String, GatewayError> {
    let Some(pc) = vk
        .config
        .provider_configs
        .iter()
        .find(|pc| pc.provider == provider)
    else {
        return Err(GatewayError::Forbidden {
            message: format!(
                "virtual key '{}' may not use provider '{provider}' ({param})",
                vk.id
            ),
            code: "provider_not_allowed",
        });
    };
    if !model_allowed(pc, model) {
        return Err(GatewayError::Forbidden {
            message: format!(
                "virtual key '{}' may not use model '{model}' on provider '{provider}' ({param})",
                vk.id
            ),
            code: "model_not_allowed",
        });
    }
    Ok(pc
        .model_map
        .get(model)
        .cloned()
        .unwrap_or_else(|| model.to_string()))
}

fn model_allowed(pc: &VkProviderConfig, model: &str) -> bool {
    pc.allowed_models.is_empty() || pc.allowed_models.iter().any(|m| m == model)
}

/// The key's provider configs that can serve a bare `model`, ordered: one by weight, then the
/// others by descending weight. Returns `(provider, upstream model)` pairs.
fn weighted(
    rt: &Runtime,
    vk: &VirtualKeyEntry,
    model: &str,
) -> Result<Vec<(String, String)>, GatewayError> {
    let configs = &vk.config.provider_configs;
    let candidates: Vec<WeightedProvider<'_>> = configs
        .iter()
        .filter(|pc| model_allowed(pc, model))
        .filter(|pc| {
            pc.model_map.contains_key(model)
                || pc.allowed_models.iter().any(|m| m == model)
                || rt
                    .provider(&pc.provider)
                    .is_ok_and(|p| provider_serves(&pc.provider, &p.entry.models, model))
        })
        .map(|pc| WeightedProvider {
            provider: pc.provider.as_str(),
            weight: pc.weight,
            model_map: Some(&pc.model_map),
        })
        .collect();
    if candidates.is_empty() {
        let restricted = configs.iter().all(|pc| !model_allowed(pc, model));
        return Err(if restricted {
            GatewayError::Forbidden {
                message: format!("virtual key '{}' may not use model '{model}'", vk.id),
                code: "model_not_allowed",
            }
        } else {
            GatewayError::BadRequest {
                message: format!(
                    "no provider of virtual key '{}' serves model '{model}'; name one as 'provider/model' or add a model_map",
                    vk.id
                ),
                param: Some("model".into()),
                code: "model_not_found",
            }
        });
    }
    let plan = FallbackPlan::from_weighted(model, &candidates, rand::random())
        .map_err(|e| GatewayError::bad_request(e.to_string(), Some("model")))?;
    Ok(plan
        .targets()
        .iter()
        .map(|t| (t.provider.to_string(), t.model.to_string()))
        .collect())
}

fn push(
    rt: &Runtime,
    provider: &str,
    model: &str,
    _param: &str,
    out: &mut Vec<RouteTarget>,
) -> Result<(), GatewayError> {
    let provider = match rt.provider(provider) {
        Ok(p) => p.clone(),
        Err(ProviderLookupError::MissingKey { provider, env_var }) => {
            return Err(GatewayError::MissingApiKey { provider, env_var });
        }
        Err(ProviderLookupError::Unknown { provider }) => {
            return Err(GatewayError::UnknownProvider {
                provider,
                known: known(rt),
            });
        }
    };
    let dup = out
        .iter()
        .any(|t| t.provider.entry.name == provider.entry.name && t.model == model);
    if !dup {
        out.push(RouteTarget {
            provider,
            model: model.to_string(),
        });
    }
    Ok(())
}

fn known(rt: &Runtime) -> String {
    let names: Vec<&str> = rt
        .snapshot
        .providers()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
