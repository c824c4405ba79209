use super::*;
use crate::wire::{ChatMessage, FunctionCall, FunctionDef, ImageUrl, Role, Tool, ToolCall};
use serde_json::json;

fn chat(model: &str, messages: Vec<ChatMessage>) -> ChatCompletionRequest {
    ChatCompletionRequest {
        model: model.into(),
        messages,
        ..Default::default()
    }
}

#[test]
fn openai_models_are_counted_with_their_bpe_not_characters() {
    let text = "hello ".repeat(100);
    let bpe = count_text_tokens("openai/gpt-4o", &text);
    let approx = count_text_tokens("anthropic/claude-3-5-haiku-latest", &text);
    assert_eq!(approx, 150, "600 characters / 4");
    assert!((99..=101).contains(&bpe), "{bpe}");
    assert!(uses_bpe("gpt-4.1-mini") && uses_bpe("mock/gpt-4o-mini") && uses_bpe("o3-mini"));
    assert!(!uses_bpe("claude-sonnet-4"));
}

#[test]
fn o200k_and_cl100k_are_chosen_by_model() {
    // Words o200k has as one token and cl100k splits.
    let text = "Привет, как дела? 你好世界";
    let o200k = count_text_tokens("gpt-4o", text);
    let cl100k = count_text_tokens("gpt-4", text);
    assert!(o200k < cl100k, "o200k {o200k} vs cl100k {cl100k}");
}

#[test]
fn chat_adds_openai_framing_per_message_and_for_the_reply() {
    let req = chat(
        "gpt-4o-mini",
        vec![
            ChatMessage::text(Role::System, "hello world"),
            ChatMessage::text(Role::User, "hello world"),
        ],
    );
    // 2 × (3 framing + 1 role + 2 text) + 3 reply priming.
    assert_eq!(estimate_prompt_tokens("gpt-4o-mini", &req), 15);
}

#[test]
fn names_and_tool_calls_are_counted() {
    let mut m = ChatMessage::text(Role::Assistant, "");
    m.name = Some("bob".into());
    m.tool_calls = Some(vec![ToolCall {
        id: "call_1".into(),
        kind: "function".into(),
        function: FunctionCall {
            name: "lookup".into(),
            arguments: r#"{"q":"x"}"#.into(),
        },
    }]);
    let with = estimate_prompt_tokens("gpt-4o", &chat("gpt-4o", vec![m]));
    let without = estimate_prompt_tokens(
        "gpt-4o",
        &chat("gpt-4o", vec![ChatMessage::text(Role::Assistant, "")]),
    );
    assert!(with >= without + 1 + 1 + 1 + 3, "{with} vs {without}");
}

#[test]
fn tool_definitions_add_to_the_prompt() {
    let mut req = chat("gpt-4o", vec![ChatMessage::text(Role::User, "hi")]);
    let bare = estimate_prompt_tokens("gpt-4o", &req);
    req.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "get_weather".into(),
            description: Some("Weather for a city".into()),
            parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
            strict: None,
        },
    }]);
    assert!(estimate_prompt_tokens("gpt-4o", &req) > bare + 10);
}

#[test]
fn images_cost_a_fixed_estimate_by_detail() {
    let image = |detail: Option<&str>| {
        let mut m = ChatMessage::text(Role::User, "");
        m.content = Some(MessageContent::Parts(vec![ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: "data:image/png;base64,AAAA".into(),
                detail: detail.map(String::from),
            },
        }]));
        estimate_prompt_tokens("gpt-4o", &chat("gpt-4o", vec![m]))
    };
    let framing = TOKENS_PER_MESSAGE + ROLE_TOKENS + REPLY_PRIMING_TOKENS;
    assert_eq!(image(None), framing + IMAGE_TOKENS);
    assert_eq!(image(Some("low")), framing + IMAGE_TOKENS_LOW_DETAIL);
}

#[test]
fn other_models_use_characters_over_four_rounded_up() {
    let req = chat(
        "claude-3-5-haiku-latest",
        vec![ChatMessage::text(Role::User, "abcde")],
    );
    // 3 framing + 1 role + ⌈5 / 4⌉ + 3 priming.
    assert_eq!(
        estimate_prompt_tokens("anthropic/claude-3-5-haiku-latest", &req),
        9
    );
}

#[test]
fn reservation_estimate_covers_every_choice() {
    let mut req = chat("gpt-4o", vec![ChatMessage::text(Role::User, "hello world")]);
    req.n = Some(3);
    req.max_completion_tokens = Some(50);
    req.max_tokens = Some(999);
    let est = estimate_chat_tokens("gpt-4o", &req, 4096);
    assert_eq!(est.completion, 150, "max_completion_tokens wins, times n");
    req.max_completion_tokens = None;
    req.max_tokens = None;
    req.n = None;
    let est = estimate_chat_tokens("gpt-4o", &req, 4096);
    assert_eq!(est.completion, 4096);
    assert_eq!(est.total(), est.prompt + 4096);
    assert_eq!(est.as_usage().prompt_tokens, est.prompt);
}

#[test]
fn completion_and_embedding_inputs_accept_every_documented_shape() {
    assert_eq!(
        estimate_input_tokens("text-embedding-3-small", &json!("hello world")),
        2
    );
    assert_eq!(
        estimate_input_tokens("text-embedding-3-small", &json!(["hello world", "hello"])),
        3
    );
    assert_eq!(estimate_input_tokens("davinci-002", &json!([1, 2, 3])), 3);
    assert_eq!(
        estimate_input_tokens("davinci-002", &json!([[1, 2], [3]])),
        3
    );
    assert_eq!(estimate_input_tokens("davinci-002", &json!(null)), 0);
    let req: EmbeddingRequest =
        serde_json::from_value(json!({"model": "text-embedding-3-large", "input": "hello world"}))
            .unwrap();
    assert_eq!(
        estimate_embedding_tokens("text-embedding-3-large", &req),
        TokenEstimate {
            prompt: 2,
            completion: 0
        }
    );
    let req: CompletionRequest = serde_json::from_value(
        json!({"model": "gpt-3.5-turbo-instruct", "prompt": "hello world", "max_tokens": 7}),
    )
    .unwrap();
    assert_eq!(
        estimate_completion_tokens("gpt-3.5-turbo-instruct", &req, 16).total(),
        9
    );
}

#[test]
fn special_token_text_is_counted_as_ordinary_text() {
    assert!(count_text_tokens("gpt-4o", "<|endoftext|>") > 1);
}
