//! The Sluice configs under test, written next to the results so a run can be reproduced by
//! hand: one provider `bench` pointing at the mock, and for "governance on" a virtual key with
//! request and token limits and a budget (on the key and on its provider config), all set high
//! enough never to refuse a benchmark request.

use sha2::{Digest, Sha256};

/// The credential clients present when governance is on.
pub const VK_CREDENTIAL: &str = "sk-vk-bench-3f9c1e7a";
/// The provider key Sluice sends upstream (the mock accepts anything).
pub const PROVIDER_KEY: &str = "sk-bench";
/// The model clients ask for: provider `bench`, upstream model `gpt-4o-mini`.
pub const MODEL: &str = "bench/gpt-4o-mini";

/// Config for `sluice dataplane --config` / `sluice serve --config`.
pub fn toml(mock_port: u16, governance: bool) -> String {
    let mut s = format!(
        r#"# Written by sluice-bench: provider `bench` -> the mock upstream.
[mock]
enabled = false

[providers.bench]
base_provider_type = "openai"
models = ["gpt-4o-mini"]
keys = [{{ name = "k1", value = "{PROVIDER_KEY}" }}]

[providers.bench.network_config]
base_url = "http://127.0.0.1:{mock_port}/v1"
"#
    );
    if governance {
        let hash = hex::encode(Sha256::digest(VK_CREDENTIAL.as_bytes()));
        // Limits far above what a run can use: the point is the cost of checking them.
        let limits = r#"rate_limit = { request_max_limit = 1000000000, request_reset_duration = "1m", token_max_limit = 1000000000000, token_reset_duration = "1m" }
budget = { max_limit = 1000000000.0, reset_duration = "1M" }"#;
        s.push_str(&format!(
            r#"
[governance]
require_virtual_key = true

[governance.virtual_keys.vk-bench]
name = "bench"
value_hash = "{hash}"
{limits}

[[governance.virtual_keys.vk-bench.provider_configs]]
provider = "bench"
{limits}
"#
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governance_config_hashes_the_credential() {
        let t = toml(18000, true);
        assert!(t.contains(&hex::encode(Sha256::digest(VK_CREDENTIAL.as_bytes()))));
        assert!(!t.contains(VK_CREDENTIAL));
        assert!(toml(18000, false).contains("127.0.0.1:18000/v1"));
    }
}
