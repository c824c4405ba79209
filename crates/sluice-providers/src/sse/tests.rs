use proptest::prelude::*;

use super::{SseEvent, SseParser};

fn parse_all(input: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    parser.push(input, &mut out);
    out
}

fn parse_split(input: &[u8], cuts: &[usize]) -> (Vec<SseEvent>, bool) {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        let cut = cut.clamp(start, input.len());
        parser.push(&input[start..cut], &mut out);
        start = cut;
    }
    parser.push(&input[start..], &mut out);
    (out, parser.has_partial())
}

fn ev(event: Option<&str>, data: &str) -> SseEvent {
    SseEvent {
        event: event.map(str::to_string),
        data: data.to_string(),
    }
}

#[test]
fn events_are_dispatched_on_blank_line_only() {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    parser.push(b"data: hello\n", &mut out);
    assert!(out.is_empty());
    assert!(parser.has_partial());
    parser.push(b"\n", &mut out);
    assert_eq!(out, vec![ev(None, "hello")]);
    assert!(!parser.has_partial());
}

#[test]
fn event_name_and_multi_line_data_are_joined_with_lf() {
    let out = parse_all(b"event: message_start\ndata: {\"a\":\ndata: 1}\n\n");
    assert_eq!(out, vec![ev(Some("message_start"), "{\"a\":\n1}")]);
}

#[test]
fn crlf_cr_and_lf_line_endings_are_equivalent() {
    let lf = parse_all(b"event: x\ndata: 1\n\ndata: 2\n\n");
    let crlf = parse_all(b"event: x\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n");
    let cr = parse_all(b"event: x\rdata: 1\r\rdata: 2\r\r");
    assert_eq!(lf, vec![ev(Some("x"), "1"), ev(None, "2")]);
    assert_eq!(crlf, lf);
    assert_eq!(cr, lf);
}

#[test]
fn empty_push_between_cr_and_lf_keeps_them_one_line_ending() {
    let (events, _) = parse_split(b"event: a\r\ndata: x\r\n\r\n", &[9, 9]);
    assert_eq!(events, vec![ev(Some("a"), "x")]);
}

#[test]
fn crlf_split_between_cr_and_lf_is_one_line_ending() {
    let (out, partial) = parse_split(b"data: a\r\n\r\n", &[8, 9, 10]);
    assert_eq!(out, vec![ev(None, "a")]);
    assert!(!partial);
}

#[test]
fn comments_id_and_retry_are_ignored() {
    let out =
        parse_all(b": keep-alive\nid: 7\nretry: 1000\ndata: x\n\n: OPENROUTER PROCESSING\n\n");
    assert_eq!(out, vec![ev(None, "x")]);
}

#[test]
fn only_one_space_after_the_colon_is_stripped() {
    let out = parse_all(b"data:no-space\n\ndata:  two\n\n");
    assert_eq!(out, vec![ev(None, "no-space"), ev(None, " two")]);
}

#[test]
fn field_without_colon_has_empty_value() {
    let out = parse_all(b"data\ndata\n\n");
    assert_eq!(out, vec![ev(None, "\n")]);
}

#[test]
fn event_without_data_is_not_dispatched() {
    let out = parse_all(b"event: ping\n\ndata: y\n\n");
    assert_eq!(out, vec![ev(None, "y")]);
}

#[test]
fn utf8_sequence_split_across_pushes_is_decoded_whole() {
    let input = "data: héllo ✓ 🦀\n\n".as_bytes();
    for cut in 0..input.len() {
        let (out, _) = parse_split(input, &[cut]);
        assert_eq!(out, vec![ev(None, "héllo ✓ 🦀")], "cut at {cut}");
    }
}

#[test]
fn leading_bom_is_stripped() {
    let out = parse_all(b"\xEF\xBB\xBFdata: x\n\n");
    assert_eq!(out, vec![ev(None, "x")]);
}

#[test]
fn stream_cut_mid_event_reports_partial() {
    let (out, partial) = parse_split(b"data: {\"id\":1}\n\ndata: {\"id\"", &[]);
    assert_eq!(out.len(), 1);
    assert!(partial);
}

#[test]
fn take_partial_returns_unterminated_final_event() {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    parser.push(b"data: [DONE]", &mut out);
    assert!(out.is_empty());
    assert_eq!(parser.take_partial(), Some(ev(None, "[DONE]")));
    assert!(!parser.has_partial());
}

fn line_ending() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
}

/// Events as a server might write them (optional name, data lines, comments, any line
/// endings), with the events a parser must report for them.
fn sse_stream() -> impl Strategy<Value = (Vec<u8>, Vec<SseEvent>)> {
    let event = (
        proptest::option::of("[a-z_]{1,12}"),
        proptest::collection::vec("[^\r\n]{0,20}", 1..4),
        proptest::bool::ANY,
        line_ending(),
    );
    proptest::collection::vec(event, 0..8).prop_map(|events| {
        let mut s = String::new();
        let mut expected = Vec::new();
        for (name, data, comment, nl) in events {
            if comment {
                s.push_str(": comment");
                s.push_str(nl);
            }
            if let Some(name) = &name {
                s.push_str("event: ");
                s.push_str(name);
                s.push_str(nl);
            }
            for line in &data {
                s.push_str("data: ");
                s.push_str(line);
                s.push_str(nl);
            }
            s.push_str(nl);
            expected.push(SseEvent {
                event: name,
                data: data.join("\n"),
            });
        }
        (s.into_bytes(), expected)
    })
}

proptest! {
    #[test]
    fn any_split_of_a_stream_yields_the_generated_events(
        (input, expected) in sse_stream(),
        cuts in proptest::collection::vec(0usize..400, 0..12),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let (split, partial) = parse_split(&input, &cuts);
        prop_assert_eq!(&parse_all(&input), &expected);
        prop_assert_eq!(split, expected);
        prop_assert!(!partial);
    }

    #[test]
    fn any_split_of_arbitrary_bytes_yields_the_same_events(
        input in proptest::collection::vec(
            prop_oneof![
                Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), Just(0xE2), Just(0x9C),
                Just(0x93), any::<u8>(), Just(b'd'), Just(b'a'), Just(b't'),
            ],
            0..200,
        ),
        cuts in proptest::collection::vec(0usize..200, 0..12),
    ) {
        let mut prefixed = b"data: ".to_vec();
        prefixed.extend_from_slice(&input);
        let whole = parse_all(&prefixed);
        let mut cuts = cuts;
        cuts.sort_unstable();
        let (split, _) = parse_split(&prefixed, &cuts);
        prop_assert_eq!(split, whole);
    }
}
