//! Message content in both wire formats, reduced to what the mock needs: its text and whether it
//! carries a tool result.
//!
//! Content is a string, `null`, or an array of parts/blocks (`{"type":"text","text":..}`,
//! images, Anthropic `tool_result` blocks whose own `content` is again a string or blocks).
//! A plain string without escapes is borrowed from the request body, not copied.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Text<'a> {
    /// Every text part, joined with newlines.
    pub text: Cow<'a, str>,
    /// Some part is an Anthropic `tool_result` block (its text is included above).
    pub tool_result: bool,
}

impl<'a> Text<'a> {
    fn push(&mut self, part: Text<'a>) {
        self.tool_result |= part.tool_result;
        if part.text.is_empty() {
            return;
        }
        if self.text.is_empty() {
            self.text = part.text;
        } else {
            let text = self.text.to_mut();
            text.push('\n');
            text.push_str(&part.text);
        }
    }

    pub fn chars(&self) -> usize {
        self.text.chars().count()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor(PhantomData))
    }
}

struct TextVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, null, or an array of content parts")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
        Ok(Text {
            text: Cow::Borrowed(v),
            tool_result: false,
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
        Ok(Text {
            text: Cow::Owned(v.to_owned()),
            tool_result: false,
        })
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
        Ok(Text {
            text: Cow::Owned(v),
            tool_result: false,
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Text<'a>, E> {
        Ok(Text::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Text<'a>, E> {
        Ok(Text::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text<'a>, A::Error> {
        let mut all = Text::default();
        while let Some(part) = seq.next_element::<Part<'a>>()? {
            all.push(part.0);
        }
        Ok(all)
    }

    /// A single block object where an array is expected (some clients send one).
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'a>, A::Error> {
        PartVisitor(PhantomData).visit_map(map).map(|p| p.0)
    }
}

/// One element of a content array: a block object, or a bare string.
struct Part<'a>(Text<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Part<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PartVisitor(PhantomData))
    }
}

struct PartVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for PartVisitor<'a> {
    type Value = Part<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a content part object or string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Part<'a>, E> {
        TextVisitor(PhantomData).visit_borrowed_str(v).map(Part)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Part<'a>, E> {
        TextVisitor(PhantomData).visit_str(v).map(Part)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Part<'a>, A::Error> {
        let mut text = Text::default();
        let mut tool_result = false;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Type => tool_result = map.next_value::<Kind>()?.0,
                Field::Text | Field::Content => text.push(map.next_value::<Text<'a>>()?),
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        text.tool_result |= tool_result;
        Ok(Part(text))
    }
}

/// The fields of a part the mock reads; everything else is skipped unparsed.
enum Field {
    Type,
    Text,
    Content,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "type" => Field::Type,
                    "text" => Field::Text,
                    "content" => Field::Content,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

/// A part's `type`: only "is it a tool result" matters.
struct Kind(bool);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl Visitor<'_> for KindVisitor {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a part type string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
                Ok(Kind(v == "tool_result"))
            }
        }
        d.deserialize_str(KindVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Text<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_plain_string_is_borrowed_from_the_body() {
        let t = parse(r#""What's the weather?""#);
        assert!(matches!(t.text, Cow::Borrowed("What's the weather?")));
        assert!(!t.tool_result);
    }

    #[test]
    fn an_escaped_string_is_decoded() {
        assert_eq!(parse(r#""a\nb""#).text, "a\nb");
    }

    #[test]
    fn text_parts_are_joined_and_other_parts_skipped() {
        let t = parse(
            r#"[{"type":"text","text":"one"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"two"}]"#,
        );
        assert_eq!(t.text, "one\ntwo");
    }

    #[test]
    fn anthropic_tool_result_blocks_are_flagged_with_their_text() {
        let t = parse(
            r#"[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"15 degrees"}]}]"#,
        );
        assert!(t.tool_result);
        assert_eq!(t.text, "15 degrees");
        let t = parse(r#"[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"}]"#);
        assert_eq!(t.text, "sunny");
    }

    #[test]
    fn null_is_empty_and_numbers_are_rejected() {
        assert_eq!(parse("null"), Text::default());
        assert!(serde_json::from_str::<Text>("42").is_err());
    }
}
