use super::*;
use crate::wire::PromptTokensDetails;

fn table() -> &'static PriceTable {
    PriceTable::builtin()
}

fn price(input: f64, output: f64) -> ModelPrice {
    ModelPrice {
        input,
        output,
        cached_input: None,
        cache_write: None,
        effective_date: None,
    }
}

#[test]
fn builtin_table_is_valid() {
    let file: PriceFile = serde_json::from_str(include_str!("prices.json")).unwrap();
    for (provider, models) in &file.providers {
        for (model, p) in models {
            p.validate(&format!("{provider}/{model}")).unwrap();
            assert!(
                table().price(provider, model).is_some(),
                "{provider}/{model}"
            );
        }
    }
}

#[test]
fn builtin_table_prices_the_common_models() {
    let openai = [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o3-mini",
        "o4-mini",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ];
    let anthropic = [
        "claude-3-5-haiku-latest",
        "claude-3-5-sonnet-latest",
        "claude-3-7-sonnet-latest",
        "claude-sonnet-4",
        "claude-opus-4",
        "claude-3-haiku",
        "claude-sonnet-4-5",
    ];
    for m in openai {
        assert!(table().serves("openai", m), "openai/{m}");
    }
    for m in anthropic {
        assert!(table().serves("anthropic", m), "anthropic/{m}");
    }
    let p = table().price("openai", "gpt-4o").unwrap();
    assert_eq!(
        (p.input, p.output, p.cached_input),
        (2_500_000, 10_000_000, 1_250_000)
    );
    assert_eq!(p.effective_date.as_deref(), Some("2025-08-01"));
}

#[test]
fn cost_is_exact_integer_micro_usd() {
    // 1000 × $2.50 + 200 × $10.00 per 1M tokens = $0.0045.
    let cost = table().cost_micros("openai", "gpt-4o", &Usage::new(1_000, 200));
    assert_eq!(cost, Some(4_500));
}

#[test]
fn cost_rounds_up_to_the_next_micro_usd() {
    // One gpt-4o-mini input token is 0.15 micro-USD.
    assert_eq!(
        table().cost_micros("openai", "gpt-4o-mini", &Usage::new(1, 0)),
        Some(1)
    );
    assert_eq!(
        table().cost_micros("openai", "gpt-4o-mini", &Usage::new(0, 0)),
        Some(0)
    );
}

#[test]
fn cached_and_cache_write_tokens_use_their_own_prices() {
    let usage = Usage {
        prompt_tokens: 10_000,
        completion_tokens: 1_000,
        total_tokens: 11_000,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: 6_000,
            cache_creation_tokens: 2_000,
        }),
    };
    // claude-sonnet-4: 2000 × 3.00 + 6000 × 0.30 + 2000 × 3.75 + 1000 × 15.00 per 1M.
    let cost = table().cost_micros("anthropic", "claude-sonnet-4-20250514", &usage);
    assert_eq!(cost, Some(6_000 + 1_800 + 7_500 + 15_000));
}

#[test]
fn dated_snapshots_and_latest_aliases_find_their_base_price() {
    let haiku = table()
        .price("anthropic", "claude-3-5-haiku-latest")
        .unwrap();
    assert_eq!(
        table().price("anthropic", "claude-3-5-haiku-20241022"),
        Some(haiku)
    );
    assert_eq!(
        table().price("openai", "gpt-4o-mini-2024-07-18"),
        table().price("openai", "gpt-4o-mini")
    );
    // An explicitly priced snapshot keeps its own price.
    assert_eq!(
        table().price("openai", "gpt-4o-2024-05-13").unwrap().input,
        5_000_000
    );
}

#[test]
fn catalog_says_which_provider_serves_a_model() {
    assert!(table().serves("openai", "gpt-4o-mini"));
    assert!(!table().serves("openai", "claude-3-5-haiku-latest"));
    assert!(table().serves("anthropic", "claude-3-5-haiku-latest"));
    assert!(!table().serves("anthropic", "gpt-4o-mini"));
    assert!(
        table().serves("mock", "gpt-4o-mini"),
        "mock serves any model"
    );
    assert!(
        !table().serves("azure", "gpt-4o"),
        "bare prices are not a catalog"
    );
}

#[test]
fn any_provider_serving_a_known_model_name_gets_its_list_price() {
    let openai = table().price("openai", "gpt-4o");
    assert_eq!(table().price("my-azure", "gpt-4o"), openai);
    assert_eq!(table().price("openrouter", "openai/gpt-4o"), openai);
}

#[test]
fn mock_models_cost_something_so_tests_see_budgets_move() {
    // $1 per 1M input and $2 per 1M output tokens: 1 and 2 micro-USD per token.
    assert_eq!(
        table().cost_micros("mock", "gpt-4o-mini", &Usage::new(100, 50)),
        Some(200)
    );
}

#[test]
fn unknown_models_have_no_price() {
    assert_eq!(
        table().cost_micros("groq", "llama-3.1-8b", &Usage::new(10, 10)),
        None
    );
    assert!(!table().serves("groq", "llama-3.1-8b"));
}

#[test]
fn overrides_take_precedence_at_every_key_form() {
    let overrides: BTreeMap<String, ModelPrice> = [
        ("openai/gpt-4o".to_string(), price(1.0, 1.0)),
        ("ollama/*".to_string(), price(0.0, 0.0)),
        ("llama-3.1-8b".to_string(), price(0.05, 0.08)),
    ]
    .into();
    let t = table().with_overrides(&overrides).unwrap();
    assert_eq!(
        t.cost_micros("openai", "gpt-4o-2024-08-06", &Usage::new(1_000_000, 0)),
        Some(1_000_000)
    );
    assert_eq!(
        t.cost_micros("ollama", "llama3", &Usage::new(9, 9)),
        Some(0)
    );
    assert!(t.serves("ollama", "anything"));
    assert_eq!(
        t.cost_micros("groq", "llama-3.1-8b", &Usage::new(1_000_000, 0)),
        Some(50_000)
    );
    assert!(!t.serves("groq", "llama-3.1-8b"));
    // The builtin table itself is untouched.
    assert_eq!(table().price("openai", "gpt-4o").unwrap().input, 2_500_000);
}

#[test]
fn invalid_override_names_its_field() {
    let overrides: BTreeMap<String, ModelPrice> =
        [("openai/gpt-4o".to_string(), price(-1.0, 1.0))].into();
    let e = table().with_overrides(&overrides).unwrap_err();
    assert_eq!(e.field, "pricing.overrides.openai/gpt-4o.input");
    let overrides: BTreeMap<String, ModelPrice> = [("/x".to_string(), price(1.0, 1.0))].into();
    assert!(table().with_overrides(&overrides).is_err());
}

#[test]
fn pricing_config_parses_policy_and_overrides() {
    let cfg: PricingConfig = serde_json::from_str(
        r#"{"overrides": {"anthropic/claude-3-5-haiku-latest": {"input": 1, "output": 5, "effective_date": "2026-01-01"}},
            "unknown_model": "refuse"}"#,
    )
    .unwrap();
    assert_eq!(cfg.unknown_model, UnknownModelPolicy::Refuse);
    let t = PriceTable::from_config(&cfg).unwrap();
    assert_eq!(
        t.price("anthropic", "claude-3-5-haiku-20241022")
            .unwrap()
            .input,
        1_000_000
    );
    assert_eq!(
        PricingConfig::default().unknown_model,
        UnknownModelPolicy::Zero
    );
    let bad: Result<PricingConfig, _> = serde_json::from_str(r#"{"unknown_model": "free"}"#);
    assert!(bad.is_err());
}

#[test]
fn models_lists_a_providers_catalog() {
    let models = table().models("anthropic");
    assert!(models.contains(&"claude-3-5-haiku-latest"));
    assert!(table().models("mock").is_empty());
}
