//! The request bodies as the client writes them: the bytes of [`ChatRequest`] and
//! [`CompletionRequest`], from the prompt's own text instead of a copy of it, and with the
//! parts that are the same in every request written once.
//!
//! [`ChatRequest`]: crate::openai::ChatRequest
//! [`CompletionRequest`]: crate::openai::CompletionRequest

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use vtune_protocol::dataset::Prompt;

use super::{Api, EndpointConfig};

/// Every request body of a client: `head`, the prompt, `tail`.
#[derive(Debug, Clone)]
pub(super) struct Template {
    api: Api,
    /// `{"model":"…","messages":` or `{"model":"…","prompt":`.
    head: Vec<u8>,
    /// `,"max_tokens":…}` and the rest of the fields, in the request types' order.
    tail: Vec<u8>,
}

/// The fields after the prompt, as `ChatRequest` and `CompletionRequest` write them (a chat
/// request's `max_completion_tokens` is never sent).
#[derive(Serialize)]
struct Rest {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

impl Template {
    pub(super) fn new(config: &EndpointConfig) -> Self {
        let json = "JSON of plain data always serializes";
        let mut head = br#"{"model":"#.to_vec();
        serde_json::to_writer(&mut head, &config.model).expect(json);
        head.extend_from_slice(match config.api {
            Api::Chat => br#","messages":"#,
            Api::Completions => br#","prompt":"#,
        });
        let rest = serde_json::to_vec(&Rest {
            max_tokens: Some(config.max_tokens),
            temperature: Some(0.0),
            seed: config.seed,
            stream: Some(false),
        })
        .expect(json);
        // `{"max_tokens":…}` continues the object: `,"max_tokens":…}` (`{}` just closes it).
        let tail = match rest.strip_prefix(b"{") {
            Some(fields) if fields != b"}" => [b",", fields].concat(),
            _ => b"}".to_vec(),
        };
        Self {
            api: config.api,
            head,
            tail,
        }
    }

    /// The JSON body for `prompt`.
    pub(super) fn body(&self, prompt: &Prompt) -> Vec<u8> {
        let text_bytes = match prompt {
            Prompt::Chat(turns) => turns
                .iter()
                .map(|t| t.role.len() + t.content.len() + 32)
                .sum(),
            Prompt::Text(text) => text.len() + 32,
            Prompt::Instruction { instruction, input } => instruction.len() + input.len() + 34,
        };
        let mut body = Vec::with_capacity(self.head.len() + text_bytes + self.tail.len() + 16);
        body.extend_from_slice(&self.head);
        let written = match self.api {
            Api::Chat => serde_json::to_writer(&mut body, &Messages(prompt)),
            Api::Completions => serde_json::to_writer(&mut body, &completion_text(prompt)),
        };
        written.expect("JSON of plain data always serializes");
        body.extend_from_slice(&self.tail);
        body
    }
}

/// The prompt text of a completion request: a conversation's turns joined by blank lines, an
/// instruction as [`Prompt::text`]. (Verification renders prompts by the job's template
/// first, and sends only text here.)
fn completion_text(prompt: &Prompt) -> Cow<'_, str> {
    match prompt {
        Prompt::Text(text) => Cow::Borrowed(text),
        Prompt::Instruction { .. } => prompt.text(),
        Prompt::Chat(turns) => Cow::Owned(
            turns
                .iter()
                .map(|turn| turn.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
    }
}

/// A prompt as the `messages` of a chat request: its turns, or one user turn of its text.
struct Messages<'a>(&'a Prompt);

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
            Prompt::Text(_) | Prompt::Instruction { .. } => [Message {
                role: "user",
                content: &self.0.text(),
            }]
            .serialize(serializer),
        }
    }
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
