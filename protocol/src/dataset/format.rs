//! Format names, and telling a file's layout from its first bytes and first record.

use std::io::BufRead;

use super::{Container, DatasetError, Format, Layout, Limits, Reader};

impl Format {
    /// Every format, in detection order.
    pub const ALL: [Format; 4] = [
        Format::OpenAiChat,
        Format::PromptCompletion,
        Format::Alpaca,
        Format::ShareGpt,
    ];

    /// The name used on the command line and in JSON: `openai-chat`, `prompt-completion`,
    /// `alpaca` or `sharegpt`.
    pub fn name(self) -> &'static str {
        match self {
            Format::OpenAiChat => "openai-chat",
            Format::PromptCompletion => "prompt-completion",
            Format::Alpaca => "alpaca",
            Format::ShareGpt => "sharegpt",
        }
    }

    /// The format whose keys `record` has, if any: `messages` (openai-chat), `conversations`
    /// (sharegpt), `instruction` or `output` (alpaca), `prompt` or `completion`
    /// (prompt-completion), checked in that order.
    pub fn of_record(record: &serde_json::Value) -> Option<Format> {
        let object = record.as_object()?;
        if object.contains_key("messages") {
            Some(Format::OpenAiChat)
        } else if object.contains_key("conversations") {
            Some(Format::ShareGpt)
        } else if object.contains_key("instruction") || object.contains_key("output") {
            Some(Format::Alpaca)
        } else if object.contains_key("prompt") || object.contains_key("completion") {
            Some(Format::PromptCompletion)
        } else {
            None
        }
    }

    /// Whether `record` has at least one of this format's own keys.
    pub(crate) fn has_own_keys(self, record: &serde_json::Map<String, serde_json::Value>) -> bool {
        let has = |key| record.contains_key(key);
        match self {
            Format::OpenAiChat => has("messages"),
            Format::ShareGpt => has("conversations"),
            Format::Alpaca => has("instruction") || has("output"),
            Format::PromptCompletion => has("prompt") || has("completion"),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}`; expected openai-chat, prompt-completion, alpaca or sharegpt")]
pub struct ParseFormatError(String);

impl std::str::FromStr for Format {
    type Err = ParseFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.name() == s)
            .ok_or_else(|| ParseFormatError(s.to_string()))
    }
}

impl Container {
    /// `jsonl` or `json-array`.
    pub fn name(self) -> &'static str {
        match self {
            Container::Jsonl => "jsonl",
            Container::JsonArray => "json-array",
        }
    }
}

impl std::fmt::Display for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.format, self.container)
    }
}

/// Detects the layout of a file from its first bytes and first record.
///
/// The container comes from the first non-whitespace byte (`[`: a JSON array, `{`: JSONL),
/// the format from the first record's keys (see [`Format::of_record`]). This consumes
/// `reader` up to the end of the first record: to read the records too, use
/// [`Reader::detect`] instead, which does both in one pass.
pub fn detect<R: BufRead>(file_name: &str, reader: &mut R) -> Result<Layout, DatasetError> {
    Reader::detect(file_name, reader, None, Limits::default()).map(|reader| reader.layout())
}
