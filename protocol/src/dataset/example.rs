//! Extracting the prompt and completion of a record, through borrowed views that the reader
//! also uses to validate every record without copying its text.

use serde_json::Value;

use super::{ChatMessage, Example, FieldError, Format, Prompt};

/// Extracts the prompt and completion of a record of `format`.
///
/// - openai-chat and sharegpt: the prompt is every turn before the last assistant turn
///   (sharegpt's `human`/`gpt` map to `user`/`assistant`), the completion that turn's text.
///   Content that is an array of parts keeps its text parts, joined by `\n`.
/// - alpaca: the prompt is `instruction` and `input` (`""` when absent or null); the
///   completion is `output`.
/// - prompt-completion: `prompt` and `completion`.
pub fn example(format: Format, value: &Value) -> Result<Example, FieldError> {
    match format {
        Format::OpenAiChat | Format::ShareGpt => {
            let chat = Chat::new(format, value)?;
            let prompt = (0..chat.last_assistant)
                .map(|i| {
                    let turn = chat.turn(i)?;
                    Ok(ChatMessage {
                        role: turn.role.to_string(),
                        content: turn.content.to_text(),
                    })
                })
                .collect::<Result<Vec<_>, FieldError>>()?;
            let completion = chat.turn(chat.last_assistant)?.content.to_text();
            Ok(Example {
                prompt: Prompt::Chat(prompt),
                completion,
            })
        }
        Format::Alpaca => {
            let alpaca = Alpaca::new(value)?;
            Ok(Example {
                prompt: Prompt::Instruction {
                    instruction: alpaca.instruction.to_string(),
                    input: alpaca.input.to_string(),
                },
                completion: alpaca.output.to_string(),
            })
        }
        Format::PromptCompletion => {
            let object = object(value)?;
            Ok(Example {
                prompt: Prompt::Text(string_field(object, "prompt")?.to_string()),
                completion: string_field(object, "completion")?.to_string(),
            })
        }
    }
}

/// Checks that `value` is a well-formed record of `format`, as [`example`] does, without
/// copying any text.
pub(crate) fn validate(format: Format, value: &Value) -> Result<(), FieldError> {
    match format {
        Format::OpenAiChat | Format::ShareGpt => {
            let chat = Chat::new(format, value)?;
            for i in 0..=chat.last_assistant {
                chat.turn(i)?;
            }
            Ok(())
        }
        Format::Alpaca => Alpaca::new(value).map(|_| ()),
        Format::PromptCompletion => {
            let object = object(value)?;
            string_field(object, "prompt")?;
            string_field(object, "completion")?;
            Ok(())
        }
    }
}

/// The keys of a chat format.
#[derive(Clone, Copy)]
pub(crate) struct ChatKeys {
    /// The list of turns.
    pub(crate) list: &'static str,
    /// The speaker of a turn.
    pub(crate) role: &'static str,
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

/// A chat record's turns, with the position of its last assistant turn.
pub(crate) struct Chat<'a> {
    pub(crate) keys: ChatKeys,
    pub(crate) format: Format,
    pub(crate) turns: &'a [Value],
    /// The index of the last assistant turn in `turns`.
    pub(crate) last_assistant: usize,
}

/// One chat turn, borrowed.
pub(crate) struct Turn<'a> {
    /// The role, mapped to OpenAI's names (`user`, `assistant`, `system`, ...).
    pub(crate) role: &'a str,
    pub(crate) content: Text<'a>,
}

impl<'a> Chat<'a> {
    pub(crate) fn new(format: Format, value: &'a Value) -> Result<Self, FieldError> {
        let keys = ChatKeys::of(format);
        let turns = match get(object(value)?, keys.list) {
            None => return Err(FieldError::missing(keys.list)),
            Some(Value::Array(turns)) => turns.as_slice(),
            Some(other) => return Err(wrong_type(keys.list, "an array of turns", other)),
        };
        let mut chat = Chat {
            keys,
            format,
            turns,
            last_assistant: 0,
        };
        for i in (0..turns.len()).rev() {
            if chat.role(i)? == "assistant" {
                chat.last_assistant = i;
                return Ok(chat);
            }
        }
        let problem = match format {
            Format::ShareGpt => "no assistant turn (no turn `from` \"gpt\")",
            _ => "no assistant turn (no message with role \"assistant\")",
        };
        Err(FieldError::new(keys.list, problem))
    }

    /// The path of turn `i`'s `key`, for errors.
    pub(crate) fn path(&self, i: usize, key: &str) -> String {
        format!("{}[{i}].{key}", self.keys.list)
    }

    fn role(&self, i: usize) -> Result<&'a str, FieldError> {
        let turn = self.turns[i].as_object().ok_or_else(|| {
            wrong_type(
                format!("{}[{i}]", self.keys.list),
                "an object",
                &self.turns[i],
            )
        })?;
        let role = match get(turn, self.keys.role) {
            None => return Err(FieldError::missing(self.path(i, self.keys.role))),
            Some(Value::String(role)) => role.as_str(),
            Some(other) => return Err(wrong_type(self.path(i, self.keys.role), "a string", other)),
        };
        Ok(match (self.format, role) {
            (Format::ShareGpt, "human") => "user",
            (Format::ShareGpt, "gpt") => "assistant",
            _ => role,
        })
    }

    pub(crate) fn turn(&self, i: usize) -> Result<Turn<'a>, FieldError> {
        let role = self.role(i)?;
        let content = match self.turns[i]
            .as_object()
            .and_then(|turn| get(turn, self.keys.content))
        {
            None => return Err(FieldError::missing(self.path(i, self.keys.content))),
            Some(content) => Text::new(content).map_err(|expected| {
                wrong_type(self.path(i, self.keys.content), expected, content)
            })?,
        };
        Ok(Turn { role, content })
    }
}

/// The text of a turn: a string, null (no text), or OpenAI content parts.
#[derive(Clone, Copy)]
pub(crate) enum Text<'a> {
    Str(&'a str),
    Null,
    /// Parts; those with a string `text` are the text.
    Parts(&'a [Value]),
}

impl<'a> Text<'a> {
    fn new(value: &'a Value) -> Result<Self, &'static str> {
        const EXPECTED: &str = "a string, null, or an array of content parts";
        match value {
            Value::String(text) => Ok(Text::Str(text)),
            Value::Null => Ok(Text::Null),
            Value::Array(parts) => {
                for part in parts {
                    match part.as_object().map(|part| get(part, "text")) {
                        Some(None | Some(Value::String(_))) => {}
                        _ => return Err(EXPECTED),
                    }
                }
                Ok(Text::Parts(parts))
            }
            _ => Err(EXPECTED),
        }
    }

    /// The pieces of text, in order.
    pub(crate) fn pieces(self) -> impl Iterator<Item = &'a str> {
        let (single, parts) = match self {
            Text::Str(text) => (Some(text), &[][..]),
            Text::Null => (None, &[][..]),
            Text::Parts(parts) => (None, parts),
        };
        single.into_iter().chain(
            parts
                .iter()
                .filter_map(|part| get(part.as_object()?, "text")?.as_str()),
        )
    }

    fn to_text(self) -> String {
        match self {
            Text::Str(text) => text.to_string(),
            _ => self.pieces().collect::<Vec<_>>().join("\n"),
        }
    }
}

/// An Alpaca record's fields, borrowed.
pub(crate) struct Alpaca<'a> {
    pub(crate) instruction: &'a str,
    /// Empty when absent or null.
    pub(crate) input: &'a str,
    pub(crate) output: &'a str,
}

impl<'a> Alpaca<'a> {
    pub(crate) fn new(value: &'a Value) -> Result<Self, FieldError> {
        let object = object(value)?;
        let input = match get(object, "input") {
            None | Some(Value::Null) => "",
            Some(Value::String(input)) => input,
            Some(other) => return Err(wrong_type("input", "a string", other)),
        };
        Ok(Alpaca {
            instruction: string_field(object, "instruction")?,
            input,
            output: string_field(object, "output")?,
        })
    }
}

/// The record as an object.
pub(crate) fn object(value: &Value) -> Result<&serde_json::Map<String, Value>, FieldError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type("(record)", "an object", value))
}

/// The value of `key` in `object`. Records and turns have a handful of keys, for which a
/// linear scan beats hashing the key.
pub(crate) fn get<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if object.len() <= 8 {
        object.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        object.get(key)
    }
}

/// A required string field of `object`.
pub(crate) fn string_field<'a>(
    object: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a str, FieldError> {
    match get(object, key) {
        None => Err(FieldError::missing(key)),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(wrong_type(key, "a string", other)),
    }
}

/// `field` should be `expected` but is `found`.
pub(crate) fn wrong_type(field: impl Into<String>, expected: &str, found: &Value) -> FieldError {
    FieldError::new(
        field,
        format!("expected {expected}, found {}", json_type(found)),
    )
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
