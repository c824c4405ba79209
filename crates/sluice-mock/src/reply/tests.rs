use super::*;

fn ask<'a>(intent: Intent<'a>) -> Ask<'a> {
    Ask {
        model: "gpt-4o-mini",
        key_label: "sk-test1",
        prompt_chars: 10,
        output_tokens: 8,
        max_tokens: None,
        intent,
    }
}

fn text(reply: &Reply) -> &str {
    match &reply.output {
        Output::Text(t) => t,
        other => panic!("expected text, got {other:?}"),
    }
}

const WEATHER: ToolSpec<'static> = ToolSpec {
    name: "get_weather",
    schema: None,
};
const SEARCH: ToolSpec<'static> = ToolSpec {
    name: "search",
    schema: None,
};

#[test]
fn default_answer_names_the_model_and_key_in_eight_words() {
    let r = plan(&ask(Intent::Answer));
    assert_eq!(
        text(&r),
        "Hello from Sluice mock (model gpt-4o-mini, key sk-test1)."
    );
    assert_eq!(r.completion_tokens, 8);
    assert_eq!(r.prompt_tokens, 3);
    assert_eq!(r.finish, Finish::Stop);
}

#[test]
fn longer_answers_are_padded_with_filler_words() {
    let r = plan(&Ask {
        output_tokens: 11,
        ..ask(Intent::Answer)
    });
    assert!(text(&r).ends_with("sk-test1). lorem ipsum dolor"));
    assert_eq!(r.completion_tokens, 11);
}

#[test]
fn max_tokens_cuts_the_answer_and_reports_length() {
    let r = plan(&Ask {
        max_tokens: Some(3),
        ..ask(Intent::Answer)
    });
    assert_eq!(text(&r), "Hello from Sluice");
    assert_eq!(r.completion_tokens, 3);
    assert_eq!(r.finish, Finish::Length);
    let r = plan(&Ask {
        max_tokens: Some(8),
        ..ask(Intent::Answer)
    });
    assert_eq!(r.finish, Finish::Stop);
}

#[test]
fn prompt_tokens_are_a_quarter_of_the_characters_rounded_up_and_at_least_one() {
    assert_eq!(prompt_tokens(0), 1);
    assert_eq!(prompt_tokens(4), 1);
    assert_eq!(prompt_tokens(5), 2);
}

#[test]
fn key_label_is_a_short_prefix() {
    assert_eq!(key_label("sk-abcdefghijkl"), "sk-abcde");
    assert_eq!(key_label("k1"), "k1");
    assert_eq!(key_label(""), "anonymous");
    assert_eq!(key_label("ключ-ключ-ключ"), "ключ-клю");
}

#[test]
fn weather_in_the_last_user_message_calls_the_weather_tool() {
    let i = intent(
        &[SEARCH, WEATHER],
        ToolChoice::Auto,
        "What's the WEATHER in Paris?",
        None,
    );
    assert!(matches!(i, Intent::CallTool(t) if t.name == "get_weather"));
    let i = intent(&[SEARCH], ToolChoice::Auto, "weather?", None);
    assert!(matches!(i, Intent::CallTool(t) if t.name == "search"));
}

#[test]
fn no_tool_is_called_without_tools_without_weather_or_with_choice_none() {
    assert!(matches!(
        intent(&[], ToolChoice::Auto, "weather", None),
        Intent::Answer
    ));
    assert!(matches!(
        intent(&[WEATHER], ToolChoice::Auto, "hello", None),
        Intent::Answer
    ));
    assert!(matches!(
        intent(&[WEATHER], ToolChoice::None, "weather", None),
        Intent::Answer
    ));
}

#[test]
fn a_named_or_required_tool_choice_forces_a_call() {
    let i = intent(&[WEATHER, SEARCH], ToolChoice::Named("search"), "hi", None);
    assert!(matches!(i, Intent::CallTool(t) if t.name == "search"));
    let i = intent(&[WEATHER], ToolChoice::Required, "hi", None);
    assert!(matches!(i, Intent::CallTool(t) if t.name == "get_weather"));
}

#[test]
fn a_tool_result_last_is_answered_with_text_mentioning_it() {
    let i = intent(
        &[WEATHER],
        ToolChoice::Auto,
        "weather",
        Some("22 C,\n sunny"),
    );
    let r = plan(&ask(i));
    assert_eq!(text(&r), "The tool returned: 22 C, sunny");
    assert_eq!(r.completion_tokens, 6);
}

#[test]
fn tool_arguments_follow_the_schema_properties() {
    let schema = RawValue::from_string(
        r#"{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"}}}"#.to_owned(),
    )
    .unwrap();
    let tool = ToolSpec {
        name: "get_weather",
        schema: Some(&schema),
    };
    let r = plan(&ask(Intent::CallTool(tool)));
    let Output::ToolCall { name, arguments } = &r.output else {
        panic!("expected a tool call");
    };
    assert_eq!(name, "get_weather");
    assert_eq!(
        arguments,
        r#"{"days":1,"location":"San Francisco, CA","unit":"celsius"}"#
    );
    assert_eq!(r.finish, Finish::ToolCalls);
    assert!(r.completion_tokens > 0);
    let r = plan(&ask(Intent::CallTool(WEATHER)));
    assert!(matches!(&r.output, Output::ToolCall { arguments, .. } if arguments == "{}"));
}

#[test]
fn word_deltas_carry_their_leading_space_and_rejoin_exactly() {
    let deltas: Vec<&str> = word_deltas("Hello from Sluice").collect();
    assert_eq!(deltas, ["Hello", " from", " Sluice"]);
    assert_eq!(word_deltas("").count(), 0);
}

#[test]
fn argument_pieces_rejoin_to_the_arguments() {
    let args = r#"{"location":"San Francisco, CA"}"#;
    let pieces: Vec<&str> = argument_pieces(args).collect();
    assert!(pieces.len() > 2);
    assert_eq!(pieces.concat(), args);
}
