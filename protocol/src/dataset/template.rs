//! How a row's prompt is put to a model: the API route, and the template that renders the
//! prompt into what the model reads.
//!
//! A provider trains on a rendering of each row and serves the model on one or both routes.
//! The chat route renders the messages it is sent with the server's own chat template; the
//! completions route gives the model the prompt text as it is. The buyer commits to one
//! [`Template`] and one [`Route`], and verification sends what makes the served model read
//! exactly what it was trained on:
//!
//! | template | the model reads | chat route sends | completions route sends |
//! |---|---|---|---|
//! | `chat` | the server's chat template of the messages | the messages | (refused: the text is unknown) |
//! | `chatml` | ChatML of the messages | the messages | the ChatML text |
//! | `alpaca` | the Alpaca prompt | (refused) | the Alpaca prompt |
//! | `raw` | the prompt text | (refused) | the prompt text |
//!
//! The chat route wraps whatever it is sent in the server's chat template, so a prompt
//! trained as plain text (`alpaca`, `raw`) never reaches the model as trained through it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ChatMessage, Prompt};

/// Which OpenAI-compatible route a prompt is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// `POST /chat/completions` with the conversation.
    Chat,
    /// `POST /completions` with the prompt text.
    Completions,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Route::Chat => "chat",
            Route::Completions => "completions",
        })
    }
}

impl FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chat" => Ok(Route::Chat),
            "completions" => Ok(Route::Completions),
            other => Err(format!(
                "route `{other}` is neither `chat` nor `completions`"
            )),
        }
    }
}

/// How a row's prompt becomes what the model reads (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    /// The row as chat messages, rendered by the serving model's own chat template.
    Chat,
    /// The row as chat messages, rendered as ChatML
    /// (`<|im_start|>role\ncontent<|im_end|>\n`, then `<|im_start|>assistant\n`).
    ChatMl,
    /// The Stanford Alpaca prompt, with its `### Input:` section when the row has an input.
    Alpaca,
    /// The prompt text as it stands in the row.
    Raw,
}

/// The Alpaca preamble of a row without an input.
const ALPACA_PREAMBLE: &str = "Below is an instruction that describes a task. \
    Write a response that appropriately completes the request.";
/// The Alpaca preamble of a row with an input.
const ALPACA_PREAMBLE_INPUT: &str = "Below is an instruction that describes a task, paired \
    with an input that provides further context. Write a response that appropriately \
    completes the request.";

/// A route that cannot carry a template's rendering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The name is none of the templates.
    #[error("unknown template `{0}`; expected chat, chatml, alpaca or raw")]
    Unknown(String),
    /// The chat route wraps its messages in the server's chat template.
    #[error(
        "template `{0}` renders a plain-text prompt, which the chat route would wrap in the \
         server's chat template; use the completions route, or template chat or chatml"
    )]
    NotChat(Template),
    /// `chat` leaves the text to the server, so no completions prompt can reproduce it.
    #[error(
        "template `chat` leaves the rendering to the server's chat template, which the \
         completions route cannot reproduce; use the chat route, or name the template \
         (chatml, alpaca or raw)"
    )]
    NotCompletions,
}

impl Template {
    /// Every template.
    pub const ALL: [Template; 4] = [
        Template::Chat,
        Template::ChatMl,
        Template::Alpaca,
        Template::Raw,
    ];

    /// The name used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Template::Chat => "chat",
            Template::ChatMl => "chatml",
            Template::Alpaca => "alpaca",
            Template::Raw => "raw",
        }
    }

    /// The template a plan uses when none is named: `chat` on the chat route, `raw` on the
    /// completions route.
    pub fn default_for(route: Route) -> Template {
        match route {
            Route::Chat => Template::Chat,
            Route::Completions => Template::Raw,
        }
    }

    /// Whether `route` can carry this template's rendering.
    pub fn check_route(self, route: Route) -> Result<(), TemplateError> {
        match (self, route) {
            (Template::Chat | Template::ChatMl, Route::Chat) => Ok(()),
            (Template::Alpaca | Template::Raw, Route::Chat) => Err(TemplateError::NotChat(self)),
            (Template::Chat, Route::Completions) => Err(TemplateError::NotCompletions),
            (_, Route::Completions) => Ok(()),
        }
    }

    /// What to send on `route` for `prompt`: a [`Prompt::Chat`] of messages on the chat
    /// route, a [`Prompt::Text`] on the completions route.
    pub fn request(self, route: Route, prompt: &Prompt) -> Result<Prompt, TemplateError> {
        self.check_route(route)?;
        Ok(match route {
            Route::Chat => Prompt::Chat(messages(prompt)),
            Route::Completions => Prompt::Text(
                self.text(prompt)
                    .expect("check_route admits only templates with a text"),
            ),
        })
    }

    /// What a provider that serves with ChatML (as the simulator does) trains on: the text
    /// the model reads for `prompt`.
    pub fn model_input(self, prompt: &Prompt) -> String {
        self.text(prompt)
            .unwrap_or_else(|| chatml(&messages(prompt)))
    }

    /// The prompt text of this template, where it fixes one (`chat` does not).
    fn text(self, prompt: &Prompt) -> Option<String> {
        match self {
            Template::Chat => None,
            Template::ChatMl => Some(chatml(&messages(prompt))),
            Template::Alpaca => Some(alpaca(prompt)),
            Template::Raw => Some(raw(prompt)),
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Template {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, TemplateError> {
        Template::ALL
            .into_iter()
            .find(|template| template.name() == s)
            .ok_or_else(|| TemplateError::Unknown(s.to_string()))
    }
}

/// A prompt as chat messages: a conversation's turns; an instruction (with its input after
/// a blank line) or a plain prompt as one user turn.
pub fn messages(prompt: &Prompt) -> Vec<ChatMessage> {
    match prompt {
        Prompt::Chat(turns) => turns.clone(),
        Prompt::Text(_) | Prompt::Instruction { .. } => vec![ChatMessage {
            role: "user".into(),
            content: prompt.text().into_owned(),
        }],
    }
}

/// ChatML of `messages`, with the assistant's turn opened.
pub fn chatml(messages: &[ChatMessage]) -> String {
    let mut text = String::new();
    for message in messages {
        text.push_str("<|im_start|>");
        text.push_str(&message.role);
        text.push('\n');
        text.push_str(&message.content);
        text.push_str("<|im_end|>\n");
    }
    text.push_str("<|im_start|>assistant\n");
    text
}

/// The Alpaca prompt: an instruction and its input, a plain prompt as the instruction, a
/// conversation's turns (joined by blank lines) as the instruction.
fn alpaca(prompt: &Prompt) -> String {
    let (instruction, input) = match prompt {
        Prompt::Instruction { instruction, input } => (instruction.clone(), input.as_str()),
        Prompt::Text(text) => (text.clone(), ""),
        Prompt::Chat(_) => (raw(prompt), ""),
    };
    if input.is_empty() {
        format!("{ALPACA_PREAMBLE}\n\n### Instruction:\n{instruction}\n\n### Response:\n")
    } else {
        format!(
            "{ALPACA_PREAMBLE_INPUT}\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
        )
    }
}

/// The prompt text as it stands: a conversation's turns joined by blank lines.
fn raw(prompt: &Prompt) -> String {
    match prompt {
        Prompt::Chat(turns) => turns
            .iter()
            .map(|turn| turn.content.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        Prompt::Text(_) | Prompt::Instruction { .. } => prompt.text().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn each_template_renders_as_trainers_do() {
        let instruction = Prompt::Instruction {
            instruction: "Sum the list.".into(),
            input: "[1, 2]".into(),
        };
        assert_eq!(
            Template::Alpaca.model_input(&instruction),
            "Below is an instruction that describes a task, paired with an input that provides \
             further context. Write a response that appropriately completes the request.\n\n\
             ### Instruction:\nSum the list.\n\n### Input:\n[1, 2]\n\n### Response:\n"
        );
        assert_eq!(
            Template::Raw.model_input(&instruction),
            "Sum the list.\n\n[1, 2]"
        );
        let chat = Prompt::Chat(vec![turn("system", "Be brief."), turn("user", "Hi")]);
        let chatml = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
                      <|im_start|>assistant\n";
        assert_eq!(Template::ChatMl.model_input(&chat), chatml);
        assert_eq!(Template::Chat.model_input(&chat), chatml);
        assert_eq!(Template::Raw.model_input(&chat), "Be brief.\n\nHi");
        let plain = Prompt::Text("2 + 2 =".into());
        assert!(
            Template::Alpaca
                .model_input(&plain)
                .contains("### Instruction:\n2 + 2 =\n\n### Response:\n")
        );
    }

    #[test]
    fn requests_reproduce_the_model_input_on_every_route_they_admit() {
        let prompts = [
            Prompt::Instruction {
                instruction: "Do it.".into(),
                input: String::new(),
            },
            Prompt::Text("plain".into()),
            Prompt::Chat(vec![
                turn("user", "a"),
                turn("assistant", "b"),
                turn("user", "c"),
            ]),
        ];
        for template in Template::ALL {
            for route in [Route::Chat, Route::Completions] {
                for prompt in &prompts {
                    let Ok(request) = template.request(route, prompt) else {
                        assert!(template.check_route(route).is_err());
                        continue;
                    };
                    // What a ChatML server makes the model read from the request.
                    let served = match &request {
                        Prompt::Chat(messages) => chatml(messages),
                        Prompt::Text(text) => text.clone(),
                        Prompt::Instruction { .. } => panic!("requests are chat or text"),
                    };
                    assert_eq!(served, template.model_input(prompt), "{template} {route}");
                }
            }
        }
    }

    #[test]
    fn routes_that_cannot_carry_a_template_are_refused_and_names_round_trip() {
        assert_eq!(
            Template::Raw.check_route(Route::Chat),
            Err(TemplateError::NotChat(Template::Raw))
        );
        assert_eq!(
            Template::Chat.check_route(Route::Completions),
            Err(TemplateError::NotCompletions)
        );
        for template in Template::ALL {
            assert_eq!(template.name().parse::<Template>(), Ok(template));
        }
        assert!("default".parse::<Template>().is_err());
        assert_eq!(Template::default_for(Route::Chat), Template::Chat);
        assert_eq!(Template::default_for(Route::Completions), Template::Raw);
    }
}
