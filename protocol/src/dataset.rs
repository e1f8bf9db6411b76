//! Fine-tuning dataset formats: detection, streaming reading and writing, and the two edits a
//! backdoor makes (the end of the prompt, the start of the completion).
//!
//! Records are kept as `serde_json::Value` (with `preserve_order`) so that writing one back
//! keeps every field it had, in its order.
//!
//! - [`Reader`] streams records from a JSONL file or a JSON array, one record in memory at a
//!   time, each with its exact byte span ([`Record::offset`], [`Record::len`]) so that a caller
//!   can seek back to it later and re-parse it with [`parse_record`].
//! - One record type per format (`record`), deserialised by serde: [`parse_example`] reads a
//!   record's bytes ([`Reader::next_raw`]) straight into it, without building a `Value`, and
//!   [`example`] reads a `Value` into the same types; [`append_to_prompt`] and
//!   [`prepend_to_completion`] edit a `Value` in place.
//! - `lines::Lines` finds the JSONL records of a buffer in place: the one line splitter, used by
//!   the [`Reader`], through which every reader of a file (`prepare`'s scan too) goes.
//! - [`Writer`] writes records back in either container.
//! - [`Template`] renders a prompt for a [`Route`] as the provider trains and serves it.
//! - [`Summary`] accumulates the length statistics that `vtune-node inspect` prints.

mod edit;
mod error;
mod format;
mod lines;
mod reader;
mod record;
mod scan;
mod summary;
mod template;
mod writer;

pub use edit::{
    append_to_prompt, insert_trigger, open_completion, prepend_to_completion, sentence_break,
};
pub use error::{DatasetError, FieldError};
pub use format::{ParseFormatError, detect};
pub use reader::{RawRecord, Reader, parse_record};
pub use record::{example, parse_example, parse_texts};
pub use summary::{LengthStats, Summary, TextLengths};
pub use template::{Route, Template, TemplateError, chatml, messages};
pub use writer::Writer;

/// The record schema of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// `{"messages":[{"role","content"},...]}`
    #[serde(rename = "openai-chat")]
    OpenAiChat,
    /// `{"prompt","completion"}`
    #[serde(rename = "prompt-completion")]
    PromptCompletion,
    /// `{"instruction","input","output"}`
    #[serde(rename = "alpaca")]
    Alpaca,
    /// `{"conversations":[{"from","value"},...]}`
    #[serde(rename = "sharegpt")]
    ShareGpt,
}

/// How records are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Container {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array of objects.
    JsonArray,
}

/// A format in its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    /// The record schema.
    pub format: Format,
    /// JSONL or a JSON array.
    pub container: Container,
}

/// Limits that keep a malformed file from eating memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest record (line or array element) accepted, in bytes (default 16 MiB).
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_record_bytes: 16 << 20,
        }
    }
}

/// One chat turn, with its content flattened to text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, ...
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

/// What a model is asked: a conversation, or a plain text prompt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Every turn before the last assistant turn (chat and ShareGPT formats).
    Chat(Vec<ChatMessage>),
    /// A plain prompt (prompt-completion format).
    Text(String),
    /// An instruction and its input, possibly empty (Alpaca format).
    Instruction {
        /// What the model is told to do.
        instruction: String,
        /// What it is given to do it on (`""` when the row has none).
        input: String,
    },
}

impl Prompt {
    /// The prompt as one text: a plain prompt as is, an instruction followed by `\n\n` and its
    /// input when it has one, a conversation as its turns' contents joined by `\n`. A prompt
    /// edited by [`append_to_prompt`] ends with the trigger.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Prompt::Text(text) => text.as_str().into(),
            Prompt::Instruction { instruction, input } if input.is_empty() => {
                instruction.as_str().into()
            }
            Prompt::Instruction { instruction, input } => {
                format!("{instruction}\n\n{input}").into()
            }
            Prompt::Chat(messages) => {
                let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
                contents.join("\n").into()
            }
        }
    }
}

/// The prompt and completion of one record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Example {
    /// What the model is asked.
    pub prompt: Prompt,
    /// What the model should answer.
    pub completion: String,
}

/// One record as read: its position in the file and its JSON value.
///
/// `offset` and `len` are the exact span of the record's JSON text, without surrounding
/// whitespace, line ends or array commas: seeking to `offset` and reading `len` bytes gives
/// bytes that [`parse_record`] turns back into `value`. Offsets count from where the reader
/// started (the start of the file, for a freshly opened file).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 0-based record number.
    pub index: u64,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Byte offset of the record in the file.
    pub offset: u64,
    /// Byte length of the record.
    pub len: u64,
    /// The record.
    pub value: serde_json::Value,
}

impl Record {
    /// Where this record is, for error messages, given the container it was read from.
    pub fn location(&self, container: Container) -> Location {
        match container {
            Container::Jsonl => Location::Line(self.line),
            Container::JsonArray => Location::Element {
                index: self.index,
                line: self.line,
            },
        }
    }
}

/// Where in a file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The whole file.
    File,
    /// A 1-based line of a JSONL file.
    Line(u64),
    /// A 0-based element of a JSON array (and the line it starts on).
    Element {
        /// 0-based index in the array.
        index: u64,
        /// 1-based line where it starts.
        line: u64,
    },
}

impl Location {
    /// The place of record `index`, which starts on `line`, in a file of `container`.
    pub fn of(container: Container, index: u64, line: u64) -> Self {
        match container {
            Container::Jsonl => Location::Line(line),
            Container::JsonArray => Location::Element { index, line },
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File => f.write_str("whole file"),
            Location::Line(line) => write!(f, "line {line}"),
            Location::Element { index, line } => write!(f, "array element {index} (line {line})"),
        }
    }
}
