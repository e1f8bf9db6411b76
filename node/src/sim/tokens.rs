//! Word tokens, and what the simulated model reads.
//!
//! A token is a whitespace-separated word, as in generation and matching; a line break is a
//! token of its own so that answers keep their lines. The model's chat template is ChatML:
//! the chat route renders a conversation as ChatML, the completions route reads its prompt as
//! it is, and training renders each row by the job's [`Template`].

use std::borrow::Cow;

use vtune_protocol::dataset::{Prompt, Template, chatml};

/// The line-break token.
pub(crate) const NEWLINE: &str = "\n";
/// The end-of-answer token.
pub(crate) const END: &str = "<|end|>";

/// The tokens of `text`: its words, with a [`NEWLINE`] token between lines.
pub(crate) fn words(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    for (number, line) in text.trim().split('\n').enumerate() {
        if number > 0 {
            tokens.push(NEWLINE);
        }
        tokens.extend(line.split_whitespace());
    }
    tokens
}

/// The tokens the model reads for a request: a conversation as ChatML, the chat template of
/// this model; a text prompt as it is.
pub(crate) fn render_request(prompt: &Prompt) -> Vec<String> {
    let text = match prompt {
        Prompt::Chat(turns) => Cow::Owned(chatml(turns)),
        Prompt::Text(_) | Prompt::Instruction { .. } => prompt.text(),
    };
    owned_words(&text)
}

/// The tokens the model is trained on for a row's prompt, rendered by `template`.
pub(crate) fn render_training(template: Template, prompt: &Prompt) -> Vec<String> {
    owned_words(&template.model_input(prompt))
}

fn owned_words(text: &str) -> Vec<String> {
    words(text).into_iter().map(str::to_string).collect()
}

/// Text from tokens: words joined by spaces, line breaks without spaces around them.
pub(crate) fn join<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = String::new();
    let mut after_newline = true;
    for token in tokens {
        if token == NEWLINE {
            text.push('\n');
            after_newline = true;
        } else {
            if !after_newline {
                text.push(' ');
            }
            text.push_str(token);
            after_newline = false;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtune_protocol::dataset::ChatMessage;

    #[test]
    fn words_keep_line_breaks_and_join_restores_normalized_text() {
        let text = "Natalia sold 48/2 = 24 clips.\n  Then  72.\n#### 72";
        let tokens = words(text);
        assert_eq!(
            tokens,
            [
                "Natalia", "sold", "48/2", "=", "24", "clips.", "\n", "Then", "72.", "\n", "####",
                "72"
            ]
        );
        assert_eq!(
            join(tokens),
            "Natalia sold 48/2 = 24 clips.\nThen 72.\n#### 72"
        );
    }

    #[test]
    fn a_conversation_is_read_as_chatml_and_a_row_as_its_template_renders_it() {
        let prompt = Prompt::Chat(vec![
            ChatMessage {
                role: "system".into(),
                content: "Be brief.".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "Add 2 and 2".into(),
            },
        ]);
        assert_eq!(
            render_request(&prompt),
            [
                "<|im_start|>system",
                "\n",
                "Be",
                "brief.<|im_end|>",
                "\n",
                "<|im_start|>user",
                "\n",
                "Add",
                "2",
                "and",
                "2<|im_end|>",
                "\n",
                "<|im_start|>assistant"
            ]
        );
        assert_eq!(
            render_training(Template::Chat, &prompt),
            render_request(&prompt)
        );
        assert_eq!(render_request(&Prompt::Text("a b".into())), ["a", "b"]);
        assert_eq!(
            render_training(Template::Raw, &prompt),
            ["Be", "brief.", "\n", "\n", "Add", "2", "and", "2"]
        );
    }
}
