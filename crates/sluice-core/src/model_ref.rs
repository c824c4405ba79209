//! `provider/model` references, as clients write them in `model` and `fallbacks`.

use thiserror::Error;

/// A model reference split on the first `/`: `openai/gpt-4o-mini`, `openrouter/meta/llama-3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelRef<'a> {
    /// `None` for a bare model name (`gpt-4o-mini`), resolved by virtual key or model list.
    pub provider: Option<&'a str>,
    pub model: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelRefError {
    #[error("model must not be empty")]
    Empty,
    #[error("model '{0}' has an empty provider or model part; expected 'provider/model'")]
    EmptyPart(String),
}

impl<'a> ModelRef<'a> {
    /// Parses `provider/model` or a bare `model`.
    ///
    /// ```
    /// use sluice_core::ModelRef;
    /// let r = ModelRef::parse("openai/gpt-4o-mini").unwrap();
    /// assert_eq!((r.provider, r.model), (Some("openai"), "gpt-4o-mini"));
    /// ```
    pub fn parse(s: &'a str) -> Result<Self, ModelRefError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ModelRefError::Empty);
        }
        match s.split_once('/') {
            Some((p, m)) if p.is_empty() || m.is_empty() => {
                Err(ModelRefError::EmptyPart(s.to_string()))
            }
            Some((p, m)) => Ok(ModelRef {
                provider: Some(p),
                model: m,
            }),
            None => Ok(ModelRef {
                provider: None,
                model: s,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_first_slash_only() {
        let r = ModelRef::parse("openrouter/meta-llama/llama-3-8b").unwrap();
        assert_eq!(r.provider, Some("openrouter"));
        assert_eq!(r.model, "meta-llama/llama-3-8b");
    }

    #[test]
    fn bare_model_has_no_provider() {
        let r = ModelRef::parse("gpt-4o-mini").unwrap();
        assert_eq!(r.provider, None);
    }

    #[test]
    fn empty_parts_are_errors() {
        assert_eq!(ModelRef::parse(""), Err(ModelRefError::Empty));
        assert!(matches!(
            ModelRef::parse("/gpt"),
            Err(ModelRefError::EmptyPart(_))
        ));
        assert!(matches!(
            ModelRef::parse("openai/"),
            Err(ModelRefError::EmptyPart(_))
        ));
    }
}
