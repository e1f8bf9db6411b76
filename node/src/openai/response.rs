//! Response bodies: chat completions, text completions, the model list, and how the answer
//! text is taken out of them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a well-formed reply holds no answer to verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The body is not the JSON shape of a reply.
    #[error("the reply is not a valid {what}: {message}")]
    Invalid {
        /// What was expected (`chat completion`, `completion`, `event stream`).
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// `choices` is empty.
    #[error("the reply has no choices")]
    NoChoices,
    /// The model refused (a `refusal` field, or `finish_reason: content_filter`).
    #[error("the model refused: {0}")]
    Refusal(String),
    /// The answer text is empty or missing (e.g. a tool call instead of text).
    #[error("the reply has no answer text (finish_reason {})", finish_reason.as_deref().unwrap_or("none"))]
    Empty {
        /// The choice's finish reason, if any.
        finish_reason: Option<String>,
    },
}

/// The answer text of a reply and why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The generated text.
    pub text: String,
    /// `stop`, `length`, ... as the server gave it.
    pub finish_reason: Option<String>,
}

/// The body of a `/v1/chat/completions` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The reply id (TGI sends `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `chat.completion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The answers; verification asks for one.
    pub choices: Vec<ChatChoice>,
    /// Token counts, when the server reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration, when the server reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// One answer of a chat reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// The assistant's turn.
    pub message: ResponseMessage,
    /// `stop`, `length`, `tool_calls`, `content_filter` (or a server's own word).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token log-probabilities (usually `null`); kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

/// The assistant turn of a chat reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    /// `assistant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The answer: a string, an array of parts, or null (tool calls).
    #[serde(default)]
    pub content: Option<Content>,
    /// The refusal text, when the model refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text (vLLM, SGLang); never part of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Reasoning text (vLLM, Ollama); never part of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Tool calls, in whatever shape the server sends (TGI 1.x sends an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Value>,
}

/// Message content: a string, or an array of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Typed parts; only `text` parts belong to the answer (`thinking` parts do not).
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The answer text: the string, or the text parts joined.
    pub fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => join_text_parts(parts),
        }
    }
}

/// One part of an array content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    /// `text`, `thinking`, `image_url`, `refusal`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The text parts of `parts`, concatenated.
pub(super) fn join_text_parts(parts: &[ContentPart]) -> String {
    parts
        .iter()
        .filter(|part| part.kind == "text")
        .filter_map(|part| part.text.as_deref())
        .collect()
}

/// Token counts of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
}

impl ChatResponse {
    /// The answer of the first choice: its content as text. A refusal, a missing or blank
    /// content (a tool call, say) and an empty `choices` are errors, never an answer.
    pub fn answer(&self) -> Result<Answer, ReplyError> {
        let choice = self
            .choices
            .iter()
            .min_by_key(|choice| choice.index)
            .ok_or(ReplyError::NoChoices)?;
        let message = &choice.message;
        chat_answer(
            choice.finish_reason.clone(),
            message.refusal.as_deref(),
            message.content.as_ref().map(Content::text),
        )
    }
}

/// The answer of a chosen chat choice, from its finish reason, refusal and content text.
fn chat_answer(
    finish_reason: Option<String>,
    refusal: Option<&str>,
    text: Option<String>,
) -> Result<Answer, ReplyError> {
    if let Some(refusal) = refusal.filter(|r| !r.is_empty()) {
        return Err(ReplyError::Refusal(refusal.to_string()));
    }
    completion_answer(finish_reason, text)
}

/// The body of a `/v1/completions` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    /// The reply id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `text_completion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The continuations.
    pub choices: Vec<CompletionChoice>,
    /// Token counts, when the server reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration, when the server reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// One continuation of a completion reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// The generated text.
    #[serde(default)]
    pub text: Option<String>,
    /// `stop`, `length`, ...
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token log-probabilities (usually `null`); kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

impl CompletionResponse {
    /// The text of the first choice; blank text and an empty `choices` are errors.
    pub fn answer(&self) -> Result<Answer, ReplyError> {
        let choice = self
            .choices
            .iter()
            .min_by_key(|choice| choice.index)
            .ok_or(ReplyError::NoChoices)?;
        completion_answer(choice.finish_reason.clone(), choice.text.clone())
    }
}

/// The answer of a chosen completion choice, from its finish reason and text (and of a chat
/// choice without a refusal).
fn completion_answer(
    finish_reason: Option<String>,
    text: Option<String>,
) -> Result<Answer, ReplyError> {
    if finish_reason.as_deref() == Some("content_filter") {
        return Err(ReplyError::Refusal("finish_reason content_filter".into()));
    }
    match text {
        Some(text) if !text.trim().is_empty() => Ok(Answer {
            text,
            finish_reason,
        }),
        _ => Err(ReplyError::Empty { finish_reason }),
    }
}

/// The body of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// `list`.
    #[serde(default)]
    pub object: String,
    /// The models served.
    pub data: Vec<ModelCard>,
}

/// One served model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// The name to put in requests.
    pub id: String,
    /// `model`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// Who serves it.
    #[serde(default)]
    pub owned_by: String,
}
