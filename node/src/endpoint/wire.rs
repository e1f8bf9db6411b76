//! The request bodies as the client writes them: the JSON of [`ChatRequest`] and
//! [`CompletionRequest`], serialized from the prompt's own text instead of a copy of it.
//!
//! [`ChatRequest`]: crate::openai::ChatRequest
//! [`CompletionRequest`]: crate::openai::CompletionRequest

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use vtune_protocol::dataset::Prompt;

/// The body of a chat request; the fields of `ChatRequest` in its order.
#[derive(Serialize)]
pub(super) struct Chat<'a> {
    pub(super) model: &'a str,
    pub(super) messages: Messages<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stream: Option<bool>,
}

/// A prompt as the `messages` of a chat request: its turns, or one user turn of its text.
pub(super) struct Messages<'a>(pub(super) &'a Prompt);

/// One turn, as `RequestMessage` with text content writes it.
#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

impl Serialize for Messages<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Prompt::Chat(turns) => {
                let mut seq = serializer.serialize_seq(Some(turns.len()))?;
                for turn in turns {
                    seq.serialize_element(&Message {
                        role: &turn.role,
                        content: &turn.content,
                    })?;
                }
                seq.end()
            }
            Prompt::Text(text) => [Message {
                role: "user",
                content: text,
            }]
            .serialize(serializer),
        }
    }
}

/// The body of a completion request; the fields of `CompletionRequest` in its order.
#[derive(Serialize)]
pub(super) struct Completion<'a> {
    pub(super) model: &'a str,
    pub(super) prompt: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stream: Option<bool>,
}

#[cfg(test)]
mod tests {
    use vtune_protocol::dataset::{ChatMessage, Prompt};

    use crate::endpoint::{Api, Client, EndpointConfig};

    fn prompts() -> Vec<Prompt> {
        let turn = |role: &str, content: &str| ChatMessage {
            role: role.into(),
            content: content.into(),
        };
        vec![
            Prompt::Chat(vec![turn("user", "How many \"pens\"?\n\tné ☃ \u{1}")]),
            Prompt::Chat(vec![
                turn("system", "Be brief."),
                turn("user", "2 + 2?"),
                turn("assistant", "4"),
                turn("user", "and \\ 3?"),
            ]),
            Prompt::Chat(Vec::new()),
            Prompt::Text("Q: 7 * 6 =\r\n".into()),
        ]
    }

    #[test]
    fn bodies_are_the_bytes_of_the_request_types() {
        for api in [Api::Chat, Api::Completions] {
            for seed in [Some(0), Some(u64::MAX), None] {
                let mut config = EndpointConfig::new("http://127.0.0.1:9/v1/", "org/model \"x\"");
                (config.api, config.seed, config.max_tokens) = (api, seed, 70);
                let client = Client::new(config).unwrap();
                for prompt in prompts() {
                    let expected = match api {
                        Api::Chat => serde_json::to_vec(&client.chat_request(&prompt)),
                        Api::Completions => serde_json::to_vec(&client.completion_request(&prompt)),
                    }
                    .unwrap();
                    let (url, body) = client.request_body(&prompt);
                    assert_eq!(
                        String::from_utf8(body).unwrap(),
                        String::from_utf8(expected).unwrap(),
                        "{api} {seed:?} {prompt:?}"
                    );
                    let path = match api {
                        Api::Chat => "chat/completions",
                        Api::Completions => "completions",
                    };
                    assert_eq!(url, format!("http://127.0.0.1:9/v1/{path}"));
                }
            }
        }
    }
}
