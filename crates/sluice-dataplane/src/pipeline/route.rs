//! Stage 5, route: turn `model` and `fallbacks` into an ordered plan of `provider/model`
//! targets, each checked against the snapshot so a bad entry is a 400, never silently dropped.

use std::sync::Arc;

use sluice_core::{ModelRef, ProviderLookupError};

use crate::error::GatewayError;
use crate::runtime::{ProviderRuntime, Runtime};

/// One target of the plan: a provider entry and the upstream model name.
#[derive(Clone)]
pub struct RouteTarget {
    pub provider: Arc<ProviderRuntime>,
    pub model: String,
}

/// The primary target followed by its fallbacks, in order, without duplicates.
pub fn plan(
    rt: &Runtime,
    model: &str,
    fallbacks: &[String],
) -> Result<Vec<RouteTarget>, GatewayError> {
    let mut targets = Vec::with_capacity(1 + fallbacks.len());
    resolve(rt, model, "model", &mut targets)?;
    for (i, f) in fallbacks.iter().enumerate() {
        let param = format!("fallbacks[{i}]");
        let parsed = ModelRef::parse(f)
            .map_err(|e| GatewayError::bad_request(format!("{param}: {e}"), Some(&param)))?;
        if parsed.provider.is_none() {
            return Err(GatewayError::bad_request(
                format!("{param}: '{f}' must be 'provider/model'"),
                Some(&param),
            ));
        }
        resolve(rt, f, &param, &mut targets)?;
    }
    Ok(targets)
}

fn resolve(
    rt: &Runtime,
    model: &str,
    param: &str,
    out: &mut Vec<RouteTarget>,
) -> Result<(), GatewayError> {
    let parsed = ModelRef::parse(model)
        .map_err(|e| GatewayError::bad_request(e.to_string(), Some(param)))?;
    let provider = match parsed.provider {
        Some(name) => match rt.provider(name) {
            Ok(p) => p.clone(),
            // A bare model name that contains '/' (e.g. `meta-llama/llama-3` on a single
            // configured provider) is not supported: the prefix always names the provider.
            Err(ProviderLookupError::MissingKey { provider, env_var }) => {
                return Err(GatewayError::MissingApiKey { provider, env_var });
            }
            Err(ProviderLookupError::Unknown { provider }) => {
                return Err(GatewayError::UnknownProvider {
                    provider,
                    known: known(rt),
                });
            }
        },
        None => {
            let listing = rt.snapshot.providers_listing(parsed.model);
            match listing.first().and_then(|p| rt.provider(&p.name).ok()) {
                Some(p) => p.clone(),
                None => {
                    return Err(GatewayError::BadRequest {
                        message: format!(
                            "model '{model}' names no provider; use 'provider/model' (configured providers: {})",
                            known(rt)
                        ),
                        param: Some(param.to_string()),
                        code: "model_not_found",
                    });
                }
            }
        }
    };
    let dup = out
        .iter()
        .any(|t| t.provider.entry.name == provider.entry.name && t.model == parsed.model);
    if !dup {
        out.push(RouteTarget {
            provider,
            model: parsed.model.to_string(),
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
