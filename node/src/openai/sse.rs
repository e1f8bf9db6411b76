//! Server-sent event streams of chat chunks (`data: {...}` lines ending with `data: [DONE]`).
//!
//! Verification asks for `stream: false`, but a server that streams anyway is still read.

use serde::{Deserialize, Serialize};

use super::{Answer, Content, ReplyError};

/// One `chat.completion.chunk` of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    /// The stream id.
    #[serde(default)]
    pub id: Option<String>,
    /// The chunk's choices.
    pub choices: Vec<ChunkChoice>,
}

/// One choice of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Which choice this extends.
    #[serde(default)]
    pub index: u32,
    /// The new text.
    pub delta: Delta,
    /// Set on the last chunk of the choice.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The increment of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// `assistant`, on the first chunk.
    #[serde(default)]
    pub role: Option<String>,
    /// The text added.
    #[serde(default)]
    pub content: Option<Content>,
    /// A refusal, if the model refused.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// The answer of choice 0 of an event stream: its deltas concatenated.
pub fn chat_text_from_sse(body: &str) -> Result<Answer, ReplyError> {
    let mut text = String::new();
    let mut finish_reason = None;
    let mut refusal = String::new();
    let mut chunks = 0;
    for (number, line) in body.lines().enumerate() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if data == "[DONE]" {
            break;
        }
        let chunk: ChatChunk = serde_json::from_str(data).map_err(|err| ReplyError::Invalid {
            what: "event stream",
            message: format!("line {}: {err}", number + 1),
        })?;
        chunks += 1;
        for choice in chunk.choices.iter().filter(|choice| choice.index == 0) {
            if let Some(content) = &choice.delta.content {
                text.push_str(&content.text());
            }
            if let Some(part) = &choice.delta.refusal {
                refusal.push_str(part);
            }
            if choice.finish_reason.is_some() {
                finish_reason.clone_from(&choice.finish_reason);
            }
        }
    }
    if chunks == 0 {
        return Err(ReplyError::Invalid {
            what: "event stream",
            message: "no data lines".into(),
        });
    }
    if !refusal.is_empty() {
        return Err(ReplyError::Refusal(refusal));
    }
    if text.trim().is_empty() {
        return Err(ReplyError::Empty { finish_reason });
    }
    Ok(Answer {
        text,
        finish_reason,
    })
}
