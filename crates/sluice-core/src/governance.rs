//! Governance configuration: virtual keys, teams and customers, their rate limits and budgets.
//! Part of the one config schema: the control plane's store, a config file and the admin API
//! all use these types (field names follow Bifrost's).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::ConfigError;

/// A reset period: `30s`, `1m`, `5m`, `1h`, `1d`, `1w`, `1M` (calendar month), `1Y` (year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetDuration {
    /// A fixed length (seconds, minutes, hours, days, weeks).
    Fixed(Duration),
    /// Calendar months (UTC).
    Months(u32),
    /// Calendar years (UTC).
    Years(u32),
}

impl ResetDuration {
    /// The fixed length, for sliding windows; calendar periods are `None`.
    pub fn fixed(&self) -> Option<Duration> {
        match self {
            ResetDuration::Fixed(d) => Some(*d),
            _ => None,
        }
    }
}

impl FromStr for ResetDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("'{s}' has no unit; use e.g. 30s, 1m, 1h, 1d, 1w, 1M, 1Y"))?;
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("'{s}' must start with a whole number, e.g. 1m"))?;
        if n == 0 {
            return Err(format!("'{s}' must be greater than zero"));
        }
        let secs = |mult: u64| {
            n.checked_mul(mult)
                .map(|v| ResetDuration::Fixed(Duration::from_secs(v)))
                .ok_or_else(|| format!("'{s}' is too long"))
        };
        let count = || u32::try_from(n).map_err(|_| format!("'{s}' is too long"));
        match unit {
            "s" => secs(1),
            "m" => secs(60),
            "h" => secs(3600),
            "d" => secs(86_400),
            "w" => secs(7 * 86_400),
            "M" => Ok(ResetDuration::Months(count()?)),
            "Y" | "y" => Ok(ResetDuration::Years(count()?)),
            _ => Err(format!(
                "'{s}' has an unknown unit '{unit}'; use s, m, h, d, w, M (month) or Y (year)"
            )),
        }
    }
}

impl fmt::Display for ResetDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResetDuration::Fixed(d) => {
                let s = d.as_secs();
                for (unit, len) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
                    if s % len == 0 {
                        return write!(f, "{}{unit}", s / len);
                    }
                }
                write!(f, "{s}s")
            }
            ResetDuration::Months(n) => write!(f, "{n}M"),
            ResetDuration::Years(n) => write!(f, "{n}Y"),
        }
    }
}

impl Serialize for ResetDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResetDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Request and token limits over sliding windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_max_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_reset_duration: Option<ResetDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_max_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_reset_duration: Option<ResetDuration>,
}

/// A spending limit in USD per period (calendar periods reset at UTC boundaries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub max_limit: f64,
    pub reset_duration: ResetDuration,
}

/// One provider a virtual key may use, with its weight and its own limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VkProviderConfig {
    pub provider: String,
    #[serde(default = "one")]
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_models: Vec<String>,
    /// Requested model → this provider's model (`{"gpt-4o-mini": "claude-3-5-haiku-latest"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_map: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

/// A virtual key: the credential an app presents, and everything that governs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualKeyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// SHA-256 (hex) of the credential; the credential itself is never stored.
    pub value_hash: String,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider_configs: Vec<VkProviderConfig>,
    /// Keep the request messages and the response text in this key's request-log records
    /// (truncated; see docs/observability.md). Off by default: prompts may hold personal data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log_content: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// The governance section of the config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernanceConfig {
    /// Whether requests without a virtual key are refused. Unset: on as soon as any virtual key
    /// exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_virtual_key: Option<bool>,
    /// By id.
    pub virtual_keys: BTreeMap<String, VirtualKeyConfig>,
    pub teams: BTreeMap<String, TeamConfig>,
    pub customers: BTreeMap<String, CustomerConfig>,
    /// Output tokens reserved for a request that sets no `max_tokens` (default 4096). Actual
    /// usage replaces the reservation when the request settles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_max_output_tokens: Option<u64>,
}

/// The default of `governance.default_max_output_tokens`.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;

impl RateLimit {
    /// Checks limits and durations; `at` is the field path of this rate limit.
    pub fn validate(&self, at: &str) -> Result<(), ConfigError> {
        let pair = |max: Option<u64>, dur: Option<ResetDuration>, kind: &str| match (max, dur) {
            (Some(0), _) => Err(ConfigError::new(
                format!("{at}.{kind}_max_limit"),
                "must be greater than 0",
            )),
            (Some(_), None) => Err(ConfigError::new(
                format!("{at}.{kind}_reset_duration"),
                "is required with a max limit",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                format!("{at}.{kind}_max_limit"),
                "is required with a reset duration",
            )),
            (_, Some(d)) if d.fixed().is_none() => Err(ConfigError::new(
                format!("{at}.{kind}_reset_duration"),
                "rate limits slide over a fixed window (s, m, h, d, w); months and years are for budgets",
            )),
            _ => Ok(()),
        };
        pair(
            self.request_max_limit,
            self.request_reset_duration,
            "request",
        )?;
        pair(self.token_max_limit, self.token_reset_duration, "token")
    }
}

impl Budget {
    pub fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if !(self.max_limit.is_finite() && self.max_limit > 0.0) {
            return Err(ConfigError::new(
                format!("{at}.max_limit"),
                "must be a positive number of USD",
            ));
        }
        Ok(())
    }
}

impl GovernanceConfig {
    /// Checks every entity and every reference between them.
    pub fn validate(&self, providers: &dyn Fn(&str) -> bool) -> Result<(), ConfigError> {
        for (id, c) in &self.customers {
            let at = format!("governance.customers.{id}");
            check_opt(&c.budget, &c.rate_limit, &at)?;
        }
        for (id, t) in &self.teams {
            let at = format!("governance.teams.{id}");
            if let Some(c) = &t.customer_id
                && !self.customers.contains_key(c)
            {
                return Err(ConfigError::new(
                    format!("{at}.customer_id"),
                    format!("unknown customer '{c}'"),
                ));
            }
            check_opt(&t.budget, &t.rate_limit, &at)?;
        }
        for (id, vk) in &self.virtual_keys {
            let at = format!("governance.virtual_keys.{id}");
            if let Some(t) = &vk.team_id
                && !self.teams.contains_key(t)
            {
                return Err(ConfigError::new(
                    format!("{at}.team_id"),
                    format!("unknown team '{t}'"),
                ));
            }
            if let Some(c) = &vk.customer_id
                && !self.customers.contains_key(c)
            {
                return Err(ConfigError::new(
                    format!("{at}.customer_id"),
                    format!("unknown customer '{c}'"),
                ));
            }
            if vk.team_id.is_some() && vk.customer_id.is_some() {
                return Err(ConfigError::new(
                    format!("{at}.customer_id"),
                    "a key belongs to a team or directly to a customer, not both",
                ));
            }
            check_opt(&vk.budget, &vk.rate_limit, &at)?;
            for (i, pc) in vk.provider_configs.iter().enumerate() {
                let pat = format!("{at}.provider_configs[{i}]");
                if !providers(&pc.provider) {
                    return Err(ConfigError::new(
                        format!("{pat}.provider"),
                        format!("unknown provider '{}'", pc.provider),
                    ));
                }
                if !(pc.weight.is_finite() && pc.weight >= 0.0) {
                    return Err(ConfigError::new(
                        format!("{pat}.weight"),
                        "must be a number of at least 0",
                    ));
                }
                check_opt(&pc.budget, &pc.rate_limit, &pat)?;
            }
        }
        Ok(())
    }
}

fn check_opt(b: &Option<Budget>, r: &Option<RateLimit>, at: &str) -> Result<(), ConfigError> {
    if let Some(b) = b {
        b.validate(&format!("{at}.budget"))?;
    }
    if let Some(r) = r {
        r.validate(&format!("{at}.rate_limit"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_every_documented_unit() {
        for (s, want) in [
            ("30s", ResetDuration::Fixed(Duration::from_secs(30))),
            ("1m", ResetDuration::Fixed(Duration::from_secs(60))),
            ("5m", ResetDuration::Fixed(Duration::from_secs(300))),
            ("1h", ResetDuration::Fixed(Duration::from_secs(3600))),
            ("1d", ResetDuration::Fixed(Duration::from_secs(86_400))),
            ("1w", ResetDuration::Fixed(Duration::from_secs(604_800))),
            ("1M", ResetDuration::Months(1)),
            ("1Y", ResetDuration::Years(1)),
        ] {
            assert_eq!(s.parse::<ResetDuration>().unwrap(), want, "{s}");
            assert_eq!(want.to_string(), s);
        }
    }

    #[test]
    fn bad_durations_are_explained() {
        assert!(
            "m".parse::<ResetDuration>()
                .unwrap_err()
                .contains("whole number")
        );
        assert!("10".parse::<ResetDuration>().unwrap_err().contains("unit"));
        assert!(
            "0m".parse::<ResetDuration>()
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!(
            "3q".parse::<ResetDuration>()
                .unwrap_err()
                .contains("unknown unit")
        );
    }

    #[test]
    fn zero_limit_names_the_field() {
        let r = RateLimit {
            request_max_limit: Some(0),
            request_reset_duration: Some("1m".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            r.validate("vk.rate_limit").unwrap_err().field,
            "vk.rate_limit.request_max_limit"
        );
    }

    #[test]
    fn unknown_team_reference_is_named() {
        let mut g = GovernanceConfig::default();
        g.virtual_keys.insert(
            "vk".into(),
            VirtualKeyConfig {
                name: None,
                description: None,
                value_hash: "h".into(),
                is_active: true,
                team_id: Some("nope".into()),
                customer_id: None,
                rate_limit: None,
                budget: None,
                provider_configs: vec![],
                log_content: false,
            },
        );
        let e = g.validate(&|_| true).unwrap_err();
        assert_eq!(e.field, "governance.virtual_keys.vk.team_id");
    }
}
