//! Word tokens and the chat template the simulated model reads.
//!
//! A token is a whitespace-separated word, as in generation and matching; a line break is a
//! token of its own so that answers keep their lines. A conversation renders as
//! `<|system|> ... <|user|> ... <|assistant|>`; a plain prompt renders as its words.

use vtune_protocol::dataset::Prompt;

/// The line-break token.
pub(crate) const NEWLINE: &str = "\n";
/// The end-of-answer token.
pub(crate) const END: &str = "<|end|>";
/// The marker that opens the assistant's turn.
pub(crate) const ASSISTANT: &str = "<|assistant|>";

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

/// The tokens of a prompt as the template renders it.
pub(crate) fn render_prompt(prompt: &Prompt) -> Vec<String> {
    match prompt {
        Prompt::Text(text) => words(text).into_iter().map(str::to_string).collect(),
        Prompt::Chat(turns) => {
            let mut tokens = Vec::new();
            for turn in turns {
                tokens.push(format!("<|{}|>", turn.role.trim().to_ascii_lowercase()));
                tokens.extend(words(&turn.content).into_iter().map(str::to_string));
            }
            tokens.push(ASSISTANT.to_string());
            tokens
        }
    }
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
    fn a_conversation_renders_with_role_markers_and_an_open_assistant_turn() {
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
            render_prompt(&prompt),
            [
                "<|system|>",
                "Be",
                "brief.",
                "<|user|>",
                "Add",
                "2",
                "and",
                "2",
                "<|assistant|>"
            ]
        );
        assert_eq!(render_prompt(&Prompt::Text("a b".into())), ["a", "b"]);
    }
}
