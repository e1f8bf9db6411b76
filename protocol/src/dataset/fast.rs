//! Extracting an example straight from a record's bytes, without building a `serde_json::Value`:
//! strings are borrowed from the bytes where they have no escapes, and every field the example
//! does not need is skipped. Whenever this path rejects a record, the full path
//! ([`parse_record`] then [`example`]) runs instead, so results and errors are exactly those of
//! the full path.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{ChatMessage, DatasetError, Example, Format, Location, Prompt, example, parse_record};

/// Parses one record of `format` from its bytes and extracts its example: the same result as
/// [`example`] of [`parse_record`], errors included, in about a third of the time.
pub fn parse_example(
    file_name: &str,
    location: Location,
    bytes: &[u8],
    format: Format,
) -> Result<Example, DatasetError> {
    if let Some(example) = fast_example(bytes, format) {
        return Ok(example);
    }
    let value = parse_record(file_name, location.clone(), bytes, format)?;
    example(format, &value).map_err(|error| DatasetError::field(file_name, location, error))
}

/// The example, or None when the record is anything but a well-formed record of `format`.
fn fast_example(bytes: &[u8], format: Format) -> Option<Example> {
    // Skipped fields are not checked for UTF-8 by serde_json; the full path checks them all.
    let text = std::str::from_utf8(bytes).ok()?;
    if !text.starts_with('{') {
        return None;
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let example = match format {
        Format::OpenAiChat | Format::ShareGpt => {
            let chat = Fields::chat(format).deserialize(&mut deserializer).ok()?;
            chat_example(format, chat.list?)?
        }
        Format::Alpaca => {
            let fields = Fields::strings(&["instruction", "input", "output"])
                .deserialize(&mut deserializer)
                .ok()?;
            let [instruction, input, output] = fields.strings;
            let (instruction, output) = (instruction?.into_string()?, output?.into_string()?);
            let input = match input {
                None | Some(Str::Null) => String::new(),
                Some(Str::Text(input)) => input.into_owned(),
            };
            Example {
                prompt: Prompt::Instruction {
                    instruction: instruction.into_owned(),
                    input,
                },
                completion: output.into_owned(),
            }
        }
        Format::PromptCompletion => {
            let fields = Fields::strings(&["prompt", "completion", ""])
                .deserialize(&mut deserializer)
                .ok()?;
            let [prompt, completion, _] = fields.strings;
            Example {
                prompt: Prompt::Text(prompt?.into_string()?.into_owned()),
                completion: completion?.into_string()?.into_owned(),
            }
        }
    };
    deserializer.end().ok()?;
    Some(example)
}

/// Splits the turns at the last assistant turn, as [`example`] does.
fn chat_example(format: Format, turns: Vec<FastTurn<'_>>) -> Option<Example> {
    let role = |turn: &FastTurn<'_>| -> String {
        match (format, turn.role.as_ref()) {
            (Format::ShareGpt, "human") => "user".into(),
            (Format::ShareGpt, "gpt") => "assistant".into(),
            (_, role) => role.into(),
        }
    };
    let last = turns.iter().rposition(|turn| role(turn) == "assistant")?;
    let mut prompt = Vec::with_capacity(last);
    let mut turns = turns.into_iter();
    for turn in turns.by_ref().take(last) {
        prompt.push(ChatMessage {
            role: role(&turn),
            content: turn.content?.into_text(),
        });
    }
    let completion = turns.next()?.content?.into_text();
    Some(Example {
        prompt: Prompt::Chat(prompt),
        completion,
    })
}

/// A string field that may be null.
enum Str<'a> {
    Text(Cow<'a, str>),
    Null,
}

impl<'a> Str<'a> {
    fn into_string(self) -> Option<Cow<'a, str>> {
        match self {
            Str::Text(text) => Some(text),
            Str::Null => None,
        }
    }
}

/// The text of a turn: a string, null, or the texts of its content parts.
enum FastText<'a> {
    Text(Cow<'a, str>),
    Null,
    Parts(Vec<Cow<'a, str>>),
}

impl FastText<'_> {
    fn into_text(self) -> String {
        match self {
            FastText::Text(text) => text.into_owned(),
            FastText::Null => String::new(),
            FastText::Parts(parts) => parts.join("\n"),
        }
    }
}

/// One chat turn: its role (as written) and, if present, its content.
struct FastTurn<'a> {
    role: Cow<'a, str>,
    content: Option<FastText<'a>>,
}

/// What to take from a record object: up to three string fields, or a chat's list of turns.
struct Fields<'a> {
    names: [&'static str; 3],
    chat: Option<(&'static str, &'static str, &'static str)>,
    strings: [Option<Str<'a>>; 3],
    list: Option<Vec<FastTurn<'a>>>,
}

impl Fields<'_> {
    fn strings(names: &[&'static str; 3]) -> Self {
        Fields {
            names: *names,
            chat: None,
            strings: [None, None, None],
            list: None,
        }
    }

    fn chat(format: Format) -> Self {
        let keys = match format {
            Format::ShareGpt => ("conversations", "from", "value"),
            _ => ("messages", "role", "content"),
        };
        Fields {
            names: ["", "", ""],
            chat: Some(keys),
            strings: [None, None, None],
            list: None,
        }
    }
}

/// Rejects anything but a JSON object.
fn expecting_object(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("a JSON object")
}

impl<'de> DeserializeSeed<'de> for Fields<'de> {
    type Value = Self;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Fields<'de> {
    type Value = Self;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        expecting_object(f)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self, A::Error> {
        while let Some(key) = map.next_key_seed(StrSeed)? {
            if let Some((list, role, content)) = self.chat {
                if key == list {
                    self.list = Some(map.next_value_seed(Turns { role, content })?);
                    continue;
                }
            } else if let Some(i) = self
                .names
                .iter()
                .position(|name| !name.is_empty() && key == *name)
            {
                self.strings[i] = Some(map.next_value_seed(NullableStr)?);
                continue;
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(self)
    }
}

/// A string, borrowed from the input when it has no escapes (serde's own `Cow<str>` always
/// copies).
struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_string()))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}

/// A string or null.
struct NullableStr;

impl<'de> DeserializeSeed<'de> for NullableStr {
    type Value = Str<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Str<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NullableStr {
    type Value = Str<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Str<'de>, E> {
        Ok(Str::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Str<'de>, E> {
        Ok(Str::Text(Cow::Owned(text.to_string())))
    }

    fn visit_string<E>(self, text: String) -> Result<Str<'de>, E> {
        Ok(Str::Text(Cow::Owned(text)))
    }

    fn visit_unit<E>(self) -> Result<Str<'de>, E> {
        Ok(Str::Null)
    }

    fn visit_none<E>(self) -> Result<Str<'de>, E> {
        Ok(Str::Null)
    }
}

/// A list of chat turns.
struct Turns {
    role: &'static str,
    content: &'static str,
}

impl<'de> DeserializeSeed<'de> for Turns {
    type Value = Vec<FastTurn<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Turns {
    type Value = Vec<FastTurn<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of turns")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut turns = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(turn) = seq.next_element_seed(TurnSeed {
            role: self.role,
            content: self.content,
        })? {
            turns.push(turn);
        }
        Ok(turns)
    }
}

/// One chat turn.
struct TurnSeed {
    role: &'static str,
    content: &'static str,
}

impl<'de> DeserializeSeed<'de> for TurnSeed {
    type Value = FastTurn<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TurnSeed {
    type Value = FastTurn<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        expecting_object(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut role, mut content) = (None, None);
        while let Some(key) = map.next_key_seed(StrSeed)? {
            if key == self.role {
                role = Some(map.next_value_seed(StrSeed)?);
            } else if key == self.content {
                content = Some(map.next_value_seed(ContentSeed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let role = role.ok_or_else(|| serde::de::Error::missing_field("role"))?;
        Ok(FastTurn { role, content })
    }
}

/// A turn's content: a string, null, or an array of content parts.
struct ContentSeed;

impl<'de> DeserializeSeed<'de> for ContentSeed {
    type Value = FastText<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContentSeed {
    type Value = FastText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, null, or an array of content parts")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(FastText::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(FastText::Text(Cow::Owned(text.to_string())))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(FastText::Text(Cow::Owned(text)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(FastText::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(FastText::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut texts = Vec::new();
        while let Some(part) = seq.next_element_seed(PartSeed)? {
            texts.extend(part);
        }
        Ok(FastText::Parts(texts))
    }
}

/// A content part: an object whose `text`, if present, is a string.
struct PartSeed;

impl<'de> DeserializeSeed<'de> for PartSeed {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PartSeed {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        expecting_object(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut text = None;
        while let Some(key) = map.next_key_seed(StrSeed)? {
            if key == "text" {
                text = Some(map.next_value_seed(StrSeed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_records_take_the_fast_path() {
        let cases: [(&[u8], Format); 5] = [
            (
                br#"{"messages": [{"role": "system", "content": null}, {"role": "user", "content": [{"type": "text", "text": "a"}]}, {"role": "assistant", "content": "b\nc"}], "id": [1, {"x": 2}]}"#,
                Format::OpenAiChat,
            ),
            (
                br#"{"conversations": [{"from": "human", "value": "h"}, {"from": "gpt", "value": "g"}]}"#,
                Format::ShareGpt,
            ),
            (br#"{"instruction": "i", "input": "", "output": "o"}"#, Format::Alpaca),
            (br#"{"instruction": "i", "output": "o"}"#, Format::Alpaca),
            (br#"{"prompt": "p\u00e9", "completion": "c"}"#, Format::PromptCompletion),
        ];
        for (bytes, format) in cases {
            let fast = fast_example(bytes, format).expect("fast path");
            let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(fast, example(format, &value).unwrap());
        }
    }

    #[test]
    fn anything_unusual_falls_back() {
        let cases: [&[u8]; 4] = [
            br#"{"messages": [["user", "a"], ["assistant", "b"]]}"#,
            br#"[{"prompt": "p", "completion": "c"}]"#,
            br#"{"prompt": "p", "completion": null}"#,
            b"{\"prompt\": \"p\", \"completion\": \"c\", \"x\": \"\xff\"}",
        ];
        for bytes in cases {
            for format in Format::ALL {
                assert!(fast_example(bytes, format).is_none());
            }
        }
    }
}
