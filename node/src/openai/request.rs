//! Request bodies: `/v1/chat/completions` and `/v1/completions`.

use serde::{Deserialize, Serialize};

use super::ContentPart;

/// The body of `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model to answer.
    pub model: String,
    /// The conversation, oldest turn first.
    pub messages: Vec<RequestMessage>,
    /// The most tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The newer name of `max_tokens`; the simulator accepts either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature; verification sends 0 (greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// A sampling seed, for servers that take one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to stream the answer as server-sent events; verification sends `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// One turn of a request's conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the turn.
    pub content: RequestContent,
}

/// The content of a request turn: a string, or an array of parts (`{"type":"text","text":..}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestContent {
    /// Plain text.
    Text(String),
    /// Typed parts; only `text` parts carry text.
    Parts(Vec<ContentPart>),
}

impl RequestContent {
    /// The text of the turn: the string, or its text parts joined.
    pub fn text(&self) -> String {
        match self {
            RequestContent::Text(text) => text.clone(),
            RequestContent::Parts(parts) => super::response::join_text_parts(parts),
        }
    }
}

/// The body of `POST /v1/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// The model to answer.
    pub model: String,
    /// The prompt text (servers also take an array of prompts; only a single one is used here).
    pub prompt: CompletionPrompt,
    /// The most tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature; verification sends 0 (greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// A sampling seed, for servers that take one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to stream the answer; verification sends `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// The `prompt` of a completion request: one string or a batch of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CompletionPrompt {
    /// One prompt.
    One(String),
    /// Several prompts, one choice each.
    Batch(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_request_round_trips_and_omits_unset_fields() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![RequestMessage {
                role: "user".into(),
                content: RequestContent::Text("hi".into()),
            }],
            max_tokens: Some(32),
            max_completion_tokens: None,
            temperature: Some(0.0),
            seed: Some(7),
            stream: Some(false),
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"model":"m","messages":[{"role":"user","content":"hi"}],
                "max_tokens":32,"temperature":0.0,"seed":7,"stream":false})
        );
        let back: ChatRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn request_content_parts_give_their_text() {
        let message: RequestMessage = serde_json::from_str(
            r#"{"role":"user","content":[{"type":"text","text":"a b"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":" c"}]}"#,
        )
        .unwrap();
        assert_eq!(message.content.text(), "a b c");
    }

    #[test]
    fn completion_request_takes_one_prompt_or_a_batch() {
        let one: CompletionRequest =
            serde_json::from_str(r#"{"model":"m","prompt":"p","max_tokens":3}"#).unwrap();
        assert_eq!(one.prompt, CompletionPrompt::One("p".into()));
        let batch: CompletionRequest =
            serde_json::from_str(r#"{"model":"m","prompt":["p","q"]}"#).unwrap();
        assert_eq!(
            batch.prompt,
            CompletionPrompt::Batch(vec!["p".into(), "q".into()])
        );
    }
}
