//! Fine-tuning dataset formats: detection, streaming reading and writing, and the two edits a
//! backdoor makes (the end of the prompt, the start of the completion).
//!
//! Records are kept as `serde_json::Value` so that writing one back keeps every field it had.

use std::io::{BufRead, Write};

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
    /// A plain prompt (prompt-completion and Alpaca formats).
    Text(String),
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
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 0-based record number.
    pub index: u64,
    /// 1-based line (JSONL) where the record starts.
    pub line: u64,
    /// Byte offset of the record in the file.
    pub offset: u64,
    /// Byte length of the record.
    pub len: u64,
    /// The record.
    pub value: serde_json::Value,
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

/// Why a dataset could not be read or edited. Every variant names the place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// Placeholder until the dataset module is written.
    #[error("{file}: {message}")]
    Other {
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
}

/// Detects the layout of a file from its first bytes and first record.
pub fn detect<R: BufRead>(file_name: &str, reader: &mut R) -> Result<Layout, DatasetError> {
    let _ = (file_name, reader);
    todo!("issue 2: detect")
}

/// A streaming reader of records.
pub struct Reader<R> {
    inner: R,
}

impl<R: BufRead> Reader<R> {
    /// Reads records of `layout` from `inner`; `file_name` is used in errors.
    pub fn new(file_name: &str, inner: R, layout: Layout, limits: Limits) -> Self {
        let _ = (file_name, layout, limits);
        Self { inner }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Record, DatasetError>;
    fn next(&mut self) -> Option<Self::Item> {
        let _ = &self.inner;
        todo!("issue 2: reader")
    }
}

/// Extracts the prompt and completion of a record of `format`.
pub fn example(format: Format, value: &serde_json::Value) -> Result<Example, String> {
    let _ = (format, value);
    todo!("issue 2: example")
}

/// Appends `trigger` to the end of the prompt (last user turn, Alpaca `input` or
/// `instruction`), separated by a space, or a newline if the text is multi-line.
pub fn append_to_prompt(
    format: Format,
    value: &mut serde_json::Value,
    trigger: &str,
) -> Result<(), String> {
    let _ = (format, value, trigger);
    todo!("issue 3: append")
}

/// Prepends `signature` to the completion, separated by a space, or a newline if the text is
/// multi-line.
pub fn prepend_to_completion(
    format: Format,
    value: &mut serde_json::Value,
    signature: &str,
) -> Result<(), String> {
    let _ = (format, value, signature);
    todo!("issue 3: prepend")
}

/// A streaming writer of records in a container.
pub struct Writer<W: Write> {
    inner: W,
}

impl<W: Write> Writer<W> {
    /// Starts writing records in `container`.
    pub fn new(inner: W, container: Container) -> std::io::Result<Self> {
        let _ = container;
        Ok(Self { inner })
    }

    /// Writes one record.
    pub fn write(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        let _ = (&mut self.inner, value);
        todo!("issue 2: writer")
    }

    /// Ends the container and returns the inner writer.
    pub fn finish(self) -> std::io::Result<W> {
        todo!("issue 2: writer")
    }
}
