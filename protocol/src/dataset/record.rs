//! One record type per format, deserialised by serde from a record's bytes or from its
//! `serde_json::Value` alike, with borrowed strings where the JSON has no escapes. The types
//! accept any JSON in their fields and keep what they found, so that [`example`] can say which
//! field is wrong and why; every other field is skipped.
//!
//! [`parse_example`] reads the bytes straight into these types. A record they cannot take as
//! it is (invalid JSON, not an object, a duplicate key, a field of the wrong type) goes through
//! [`parse_record`] and [`example`] of its `Value` instead, so results and errors are exactly
//! those of the `Value` path.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{
    ChatMessage, DatasetError, Example, FieldError, Format, Location, Prompt, parse_record,
};

/// A record type: an object whose named fields are read (the last of a repeated key wins, as in
/// a `Value`) and whose other fields are skipped; anything but an object is an error.
macro_rules! record {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),* }) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        struct $name<'a> {
            $($field: $ty,)*
        }

        impl<'de: 'a, 'a> Deserialize<'de> for $name<'a> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V<'a>(std::marker::PhantomData<&'a ()>);
                impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                    type Value = $name<'a>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut record = $name::default();
                        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                            match key.as_ref() {
                                $(stringify!($field) => record.$field = map.next_value()?,)*
                                _ => map.next_value::<Skip>().map(drop)?,
                            }
                        }
                        Ok(record)
                    }
                }
                deserializer.deserialize_map(V(std::marker::PhantomData))
            }
        }
    };
}

/// Any JSON value, skipped, but decoded as a `Value` would be (strings unescaped, numbers
/// parsed), so that a record a `Value` would refuse is refused here too.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Cow<'de, str>, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

/// A field as found: absent, a string, null, or a value of another JSON type.
#[derive(Debug, Default)]
pub(crate) enum Found<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Null,
    /// Anything else: its JSON type, in words.
    Other(&'static str),
}

/// A chat turn's text as found: a string, null, content parts, or another JSON type.
#[derive(Debug, Default)]
enum Content<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Null,
    /// Content parts: the text of each part that has one; false if a part is not an object
    /// or has a `text` that is not a string.
    Parts(Vec<Option<Cow<'a, str>>>, bool),
    Other(&'static str),
}

/// A list of turns as found.
#[derive(Debug, Default)]
enum Turns<'a> {
    #[default]
    Missing,
    Items(Vec<TurnItem<'a>>),
    Other(&'static str),
}

/// An element of a list of turns: a turn (an object), or a value of another JSON type.
#[derive(Debug)]
enum TurnItem<'a> {
    Turn(RawTurn<'a>),
    Other(&'static str),
}

record! {
    /// A chat turn: OpenAI's `role` and `content`, or ShareGPT's `from` and `value`.
    RawTurn { role: Found<'a>, content: Content<'a>, from: Found<'a>, value: Content<'a> }
}

record! {
    /// `{"messages":[{"role","content"},...]}`
    ChatRecord { messages: Turns<'a> }
}

record! {
    /// `{"conversations":[{"from","value"},...]}`
    ShareGptRecord { conversations: Turns<'a> }
}

record! {
    /// `{"instruction","input","output"}`
    AlpacaRecord { instruction: Found<'a>, input: Found<'a>, output: Found<'a> }
}

record! {
    /// `{"prompt","completion"}`
    PromptCompletionRecord { prompt: Found<'a>, completion: Found<'a> }
}

/// Parses one record of `format` from its bytes and extracts its example: the same result as
/// [`example`] of [`parse_record`], errors included, in about a third of the time.
pub fn parse_example(
    file_name: &str,
    location: Location,
    bytes: &[u8],
    format: Format,
) -> Result<Example, DatasetError> {
    if let Some(Ok(example)) = Record::of_bytes(bytes, format).map(Record::example) {
        return Ok(example);
    }
    let value = parse_record(file_name, location.clone(), bytes, format)?;
    example(format, &value).map_err(|error| DatasetError::field(file_name, location, error))
}

/// The prompt text ([`Prompt::text`]) and the completion of a record of `format`, as
/// [`parse_example`] gives them, written into reused buffers (a scan reads millions of rows).
pub fn parse_texts(
    file_name: &str,
    location: Location,
    bytes: &[u8],
    format: Format,
    (prompt, completion): (&mut String, &mut String),
) -> Result<(), DatasetError> {
    prompt.clear();
    completion.clear();
    if let Some(Ok(())) = Record::of_bytes(bytes, format).map(|r| r.texts(prompt, completion)) {
        return Ok(());
    }
    let example = parse_example(file_name, location, bytes, format)?;
    (*prompt, *completion) = (example.prompt.text().into_owned(), example.completion);
    Ok(())
}

/// Extracts the prompt and completion of a record of `format`.
///
/// - openai-chat and sharegpt: the prompt is every turn before the last assistant turn
///   (sharegpt's `human`/`gpt` map to `user`/`assistant`), the completion that turn's text.
///   Content that is an array of parts keeps its text parts, joined by `\n`.
/// - alpaca: the prompt is `instruction` and `input` (`""` when absent or null); the
///   completion is `output`.
/// - prompt-completion: `prompt` and `completion`.
pub fn example(format: Format, value: &Value) -> Result<Example, FieldError> {
    Record::of_value(format, value)?.example()
}

/// A record of one of the formats.
enum Record<'a> {
    Chat(Chat<'a>),
    Alpaca(AlpacaRecord<'a>),
    PromptCompletion(PromptCompletionRecord<'a>),
}

impl<'a> Record<'a> {
    fn deserialize<D: Deserializer<'a>>(format: Format, deserializer: D) -> Result<Self, D::Error> {
        Ok(match format {
            Format::OpenAiChat => {
                let turns = ChatRecord::deserialize(deserializer)?.messages;
                Record::Chat(Chat::new(format, turns))
            }
            Format::ShareGpt => {
                let turns = ShareGptRecord::deserialize(deserializer)?.conversations;
                Record::Chat(Chat::new(format, turns))
            }
            Format::Alpaca => Record::Alpaca(AlpacaRecord::deserialize(deserializer)?),
            Format::PromptCompletion => {
                Record::PromptCompletion(PromptCompletionRecord::deserialize(deserializer)?)
            }
        })
    }

    /// The record of `format` in `bytes`, if they hold one as it is: valid UTF-8 (skipped
    /// fields are not checked by serde_json), one object and nothing after it.
    fn of_bytes(bytes: &'a [u8], format: Format) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let record = Self::deserialize(format, &mut deserializer).ok()?;
        deserializer.end().ok().map(|()| record)
    }

    /// The record of `format` that `value` holds (the types take any object).
    fn of_value(format: Format, value: &'a Value) -> Result<Self, FieldError> {
        object(value)?;
        Self::deserialize(format, value)
            .map_err(|error| FieldError::new("(record)", error.to_string()))
    }

    /// [`Record::example`]'s prompt text and completion, appended to `prompt` and `completion`.
    fn texts(self, prompt: &mut String, completion: &mut String) -> Result<(), FieldError> {
        match self {
            Record::Chat(chat) => {
                let chat = chat.check()?;
                for i in 0..chat.last_assistant {
                    if i > 0 {
                        prompt.push('\n');
                    }
                    chat.turn(i)?.push_text(prompt);
                }
                chat.turn(chat.last_assistant)?.push_text(completion);
            }
            Record::Alpaca(alpaca) => {
                let alpaca = Alpaca::check(alpaca)?;
                prompt.push_str(&alpaca.instruction);
                if !alpaca.input.is_empty() {
                    prompt.push_str("\n\n");
                    prompt.push_str(&alpaca.input);
                }
                completion.push_str(&alpaca.output);
            }
            Record::PromptCompletion(record) => {
                prompt.push_str(&string(record.prompt, "prompt")?);
                completion.push_str(&string(record.completion, "completion")?);
            }
        }
        Ok(())
    }

    fn example(self) -> Result<Example, FieldError> {
        match self {
            Record::Chat(chat) => chat.example(),
            Record::Alpaca(alpaca) => {
                let alpaca = Alpaca::check(alpaca)?;
                Ok(Example {
                    prompt: Prompt::Instruction {
                        instruction: alpaca.instruction.into_owned(),
                        input: alpaca.input.into_owned(),
                    },
                    completion: alpaca.output.into_owned(),
                })
            }
            Record::PromptCompletion(record) => {
                let prompt = string(record.prompt, "prompt")?;
                Ok(Example {
                    prompt: Prompt::Text(prompt.into_owned()),
                    completion: string(record.completion, "completion")?.into_owned(),
                })
            }
        }
    }
}

/// Checks that `value` is a well-formed record of `format`, as [`example`] does.
pub(crate) fn validate(format: Format, value: &Value) -> Result<(), FieldError> {
    example(format, value).map(drop)
}

/// The keys of a chat format.
#[derive(Clone, Copy)]
pub(crate) struct ChatKeys {
    /// The list of turns.
    pub(crate) list: &'static str,
    /// The speaker of a turn.
    role: &'static str,
    /// The text of a turn.
    pub(crate) content: &'static str,
}

impl ChatKeys {
    fn of(format: Format) -> Self {
        match format {
            Format::ShareGpt => ChatKeys {
                list: "conversations",
                role: "from",
                content: "value",
            },
            _ => ChatKeys {
                list: "messages",
                role: "role",
                content: "content",
            },
        }
    }
}

/// A chat record's turns.
pub(crate) struct Chat<'a> {
    pub(crate) keys: ChatKeys,
    format: Format,
    turns: Turns<'a>,
}

/// A chat record's turns, with the position of its last assistant turn.
pub(crate) struct CheckedChat<'a> {
    pub(crate) keys: ChatKeys,
    format: Format,
    turns: Vec<TurnItem<'a>>,
    /// The index of the last assistant turn in `turns`.
    pub(crate) last_assistant: usize,
}

/// One chat turn, borrowed.
pub(crate) struct Turn<'b> {
    /// The role, mapped to OpenAI's names (`user`, `assistant`, `system`, ...).
    pub(crate) role: &'b str,
    content: &'b Content<'b>,
}

impl<'a> Chat<'a> {
    fn new(format: Format, turns: Turns<'a>) -> Self {
        Chat {
            keys: ChatKeys::of(format),
            format,
            turns,
        }
    }

    /// The chat record that `value` holds, checked up to its last assistant turn.
    pub(crate) fn of(format: Format, value: &'a Value) -> Result<CheckedChat<'a>, FieldError> {
        match Record::of_value(format, value)? {
            Record::Chat(chat) => chat.check(),
            _ => unreachable!("a chat format gives a chat record"),
        }
    }

    fn check(self) -> Result<CheckedChat<'a>, FieldError> {
        let keys = self.keys;
        let turns = match self.turns {
            Turns::Missing => return Err(FieldError::missing(keys.list)),
            Turns::Other(found) => return Err(wrong_type(keys.list, "an array of turns", found)),
            Turns::Items(turns) => turns,
        };
        let mut chat = CheckedChat {
            keys,
            format: self.format,
            turns,
            last_assistant: 0,
        };
        for i in (0..chat.turns.len()).rev() {
            if chat.role(i)? == "assistant" {
                chat.last_assistant = i;
                return Ok(chat);
            }
        }
        let problem = match self.format {
            Format::ShareGpt => "no assistant turn (no turn `from` \"gpt\")",
            _ => "no assistant turn (no message with role \"assistant\")",
        };
        Err(FieldError::new(keys.list, problem))
    }

    fn example(self) -> Result<Example, FieldError> {
        let chat = self.check()?;
        let prompt = (0..chat.last_assistant)
            .map(|i| {
                let turn = chat.turn(i)?;
                Ok(ChatMessage {
                    role: turn.role.to_string(),
                    content: turn.text(),
                })
            })
            .collect::<Result<Vec<_>, FieldError>>()?;
        let completion = chat.turn(chat.last_assistant)?.text();
        Ok(Example {
            prompt: Prompt::Chat(prompt),
            completion,
        })
    }
}

impl CheckedChat<'_> {
    /// The path of turn `i`'s `key`, for errors.
    pub(crate) fn path(&self, i: usize, key: &str) -> String {
        format!("{}[{i}].{key}", self.keys.list)
    }

    /// Turn `i`'s role and content, as its format names them.
    fn parts(&self, i: usize) -> Result<(&Found<'_>, &Content<'_>), FieldError> {
        match &self.turns[i] {
            TurnItem::Other(found) => {
                let path = format!("{}[{i}]", self.keys.list);
                Err(wrong_type(path, "an object", found))
            }
            TurnItem::Turn(turn) if self.format == Format::ShareGpt => {
                Ok((&turn.from, &turn.value))
            }
            TurnItem::Turn(turn) => Ok((&turn.role, &turn.content)),
        }
    }

    fn role(&self, i: usize) -> Result<&str, FieldError> {
        let (role, _) = self.parts(i)?;
        let role = match role {
            Found::Missing => return Err(FieldError::missing(self.path(i, self.keys.role))),
            Found::Str(role) => role.as_ref(),
            other => {
                let path = self.path(i, self.keys.role);
                return Err(wrong_type(path, "a string", other.json_type()));
            }
        };
        Ok(match (self.format, role) {
            (Format::ShareGpt, "human") => "user",
            (Format::ShareGpt, "gpt") => "assistant",
            _ => role,
        })
    }

    /// Turn `i`, checked.
    pub(crate) fn turn(&self, i: usize) -> Result<Turn<'_>, FieldError> {
        const EXPECTED: &str = "a string, null, or an array of content parts";
        let role = self.role(i)?;
        let (_, content) = self.parts(i)?;
        let path = || self.path(i, self.keys.content);
        match content {
            Content::Missing => Err(FieldError::missing(path())),
            Content::Parts(_, false) => Err(wrong_type(path(), EXPECTED, "an array")),
            Content::Other(found) => Err(wrong_type(path(), EXPECTED, found)),
            _ => Ok(Turn { role, content }),
        }
    }
}

impl Turn<'_> {
    /// Appends the turn's text to `out`: its content, or its text parts joined by `\n`.
    fn push_text(&self, out: &mut String) {
        match self.content {
            Content::Str(text) => out.push_str(text),
            Content::Parts(parts, _) => {
                for (i, text) in parts.iter().flatten().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(text);
                }
            }
            _ => {}
        }
    }

    fn text(&self) -> String {
        match self.content {
            Content::Str(text) => text.to_string(),
            Content::Parts(parts, _) => {
                let texts: Vec<&str> = parts.iter().flatten().map(|t| t.as_ref()).collect();
                texts.join("\n")
            }
            _ => String::new(),
        }
    }
}

/// An Alpaca record's fields, checked.
pub(crate) struct Alpaca<'a> {
    instruction: Cow<'a, str>,
    /// Empty when absent or null.
    pub(crate) input: Cow<'a, str>,
    output: Cow<'a, str>,
}

impl<'a> Alpaca<'a> {
    /// The Alpaca record that `value` holds, checked.
    pub(crate) fn new(value: &'a Value) -> Result<Self, FieldError> {
        match Record::of_value(Format::Alpaca, value)? {
            Record::Alpaca(record) => Self::check(record),
            _ => unreachable!("alpaca gives an alpaca record"),
        }
    }

    fn check(record: AlpacaRecord<'a>) -> Result<Self, FieldError> {
        let input = match record.input {
            Found::Missing | Found::Null => Cow::Borrowed(""),
            Found::Str(input) => input,
            Found::Other(found) => return Err(wrong_type("input", "a string", found)),
        };
        Ok(Alpaca {
            instruction: string(record.instruction, "instruction")?,
            input,
            output: string(record.output, "output")?,
        })
    }
}

impl Found<'_> {
    fn json_type(&self) -> &'static str {
        match self {
            Found::Missing => "nothing",
            Found::Str(_) => "a string",
            Found::Null => "null",
            Found::Other(found) => found,
        }
    }
}

/// A required string field.
fn string<'a>(found: Found<'a>, key: &str) -> Result<Cow<'a, str>, FieldError> {
    match found {
        Found::Missing => Err(FieldError::missing(key)),
        Found::Str(text) => Ok(text),
        other => Err(wrong_type(key, "a string", other.json_type())),
    }
}

/// The record as an object.
pub(crate) fn object(value: &Value) -> Result<&serde_json::Map<String, Value>, FieldError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type("(record)", "an object", json_type(value)))
}

/// A required string field of `object`.
pub(crate) fn string_field<'a>(
    object: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a str, FieldError> {
    match object.get(key) {
        None => Err(FieldError::missing(key)),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(wrong_type(key, "a string", json_type(other))),
    }
}

/// `field` should be `expected` but is `found` (a JSON type, in words).
fn wrong_type(field: impl Into<String>, expected: &str, found: &str) -> FieldError {
    FieldError::new(field, format!("expected {expected}, found {found}"))
}

/// The JSON type of `value`, in words.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Deserialises a type from any JSON value: a string (`str`), null, an array (`seq`, its
/// `SeqAccess`), an object (`map`, its `MapAccess`), or a boolean or number (`other`, given its
/// JSON type in words). Strings are borrowed where they have no escapes.
macro_rules! any_json {
    ($name:ident, $expecting:literal,
     str($text:ident) => $on_str:expr, null => $null:expr,
     seq($seq:ident) => $on_seq:expr, map($map:ident) => $on_map:expr,
     other($found:ident) => $other:expr) => {
        impl<'de: 'a, 'a> Deserialize<'de> for $name<'a> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V<'a>(std::marker::PhantomData<&'a ()>);
                impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                    type Value = $name<'a>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_borrowed_str<E>(self, $text: &'de str) -> Result<$name<'a>, E> {
                        let $text: Cow<'a, str> = Cow::Borrowed($text);
                        Ok($on_str)
                    }
                    fn visit_str<E>(self, $text: &str) -> Result<$name<'a>, E> {
                        let $text: Cow<'a, str> = Cow::Owned($text.to_owned());
                        Ok($on_str)
                    }
                    fn visit_unit<E>(self) -> Result<$name<'a>, E> {
                        Ok($null)
                    }
                    fn visit_bool<E>(self, _: bool) -> Result<$name<'a>, E> {
                        let $found = "a boolean";
                        Ok($other)
                    }
                    fn visit_i64<E>(self, _: i64) -> Result<$name<'a>, E> {
                        let $found = "a number";
                        Ok($other)
                    }
                    fn visit_u64<E>(self, _: u64) -> Result<$name<'a>, E> {
                        let $found = "a number";
                        Ok($other)
                    }
                    fn visit_f64<E>(self, _: f64) -> Result<$name<'a>, E> {
                        let $found = "a number";
                        Ok($other)
                    }
                    fn visit_seq<A: SeqAccess<'de>>(
                        self,
                        mut $seq: A,
                    ) -> Result<$name<'a>, A::Error> {
                        $on_seq
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut $map: A,
                    ) -> Result<$name<'a>, A::Error> {
                        $on_map
                    }
                }
                deserializer.deserialize_any(V(std::marker::PhantomData))
            }
        }
    };
}

/// Skips the rest of an array.
fn skip_seq<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element::<Skip>()?.is_some() {}
    Ok(())
}

/// Skips the rest of an object.
fn skip_map<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    while map.next_entry::<Cow<'de, str>, Skip>()?.is_some() {}
    Ok(())
}

any_json!(Found, "any JSON value",
    str(text) => Found::Str(text), null => Found::Null,
    seq(seq) => skip_seq(&mut seq).map(|()| Found::Other("an array")),
    map(map) => skip_map(&mut map).map(|()| Found::Other("an object")),
    other(found) => Found::Other(found));

any_json!(Content, "a string, null, or an array of content parts",
    str(text) => Content::Str(text), null => Content::Null,
    seq(seq) => {
        let (mut parts, mut ok) = (Vec::new(), true);
        while let Some(part) = seq.next_element::<Part<'a>>()? {
            match part {
                Part::Text(text) => parts.push(text),
                Part::Other => ok = false,
            }
        }
        Ok(Content::Parts(parts, ok))
    },
    map(map) => skip_map(&mut map).map(|()| Content::Other("an object")),
    other(found) => Content::Other(found));

/// A content part: an object whose `text`, if it has one, is a string; or anything else.
enum Part<'a> {
    Text(Option<Cow<'a, str>>),
    Other,
}

any_json!(Part, "a content part",
    str(_text) => Part::Other, null => Part::Other,
    seq(seq) => skip_seq(&mut seq).map(|()| Part::Other),
    map(map) => {
        let mut text = Found::Missing;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "text" => text = map.next_value()?,
                _ => map.next_value::<Skip>().map(drop)?,
            }
        }
        Ok(match text {
            Found::Missing => Part::Text(None),
            Found::Str(text) => Part::Text(Some(text)),
            _ => Part::Other,
        })
    },
    other(_found) => Part::Other);

any_json!(Turns, "an array of turns",
    str(_text) => Turns::Other("a string"), null => Turns::Other("null"),
    seq(seq) => {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Turns::Items(items))
    },
    map(map) => skip_map(&mut map).map(|()| Turns::Other("an object")),
    other(found) => Turns::Other(found));

any_json!(TurnItem, "a turn",
    str(_text) => TurnItem::Other("a string"), null => TurnItem::Other("null"),
    seq(seq) => skip_seq(&mut seq).map(|()| TurnItem::Other("an array")),
    map(map) => {
        let map = de::value::MapAccessDeserializer::new(&mut map);
        RawTurn::deserialize(map).map(TurnItem::Turn)
    },
    other(found) => TurnItem::Other(found));

#[cfg(test)]
mod tests;
