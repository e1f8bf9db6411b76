//! The two edits a backdoor makes: a trigger at the end of the prompt, a signature at the start
//! of the completion. Everything else in the record is left as it was.

use serde_json::Value;

use super::FieldError;
use super::Format;
use super::record::{Alpaca, Chat, object, string_field};

/// Appends `trigger` to the end of the prompt, separated by a space, or by a newline if the
/// text it is appended to is multi-line (nothing if that text is empty).
///
/// - openai-chat and sharegpt: the last user turn before the last assistant turn; when its
///   content is an array of parts, its last text part.
/// - alpaca: `input` when it is non-empty, otherwise `instruction`.
/// - prompt-completion: `prompt`.
///
/// After the edit, [`super::example`] gives a prompt that ends with `trigger`.
pub fn append_to_prompt(
    format: Format,
    value: &mut Value,
    trigger: &str,
) -> Result<(), FieldError> {
    let (path, key) = match format {
        Format::OpenAiChat | Format::ShareGpt => {
            let chat = Chat::of(format, value)?;
            let user = (0..chat.last_assistant)
                .rev()
                .find_map(|i| match chat.turn(i) {
                    Ok(turn) if turn.role == "user" => Some(Ok(i)),
                    Ok(_) => None,
                    Err(error) => Some(Err(error)),
                })
                .transpose()?
                .ok_or_else(|| {
                    FieldError::new(
                        chat.keys.list,
                        "no user turn before the last assistant turn",
                    )
                })?;
            let path = chat.path(user, chat.keys.content);
            let (list, content) = (chat.keys.list, chat.keys.content);
            let turn = &mut value[list][user];
            return edit_content(turn, content, &path, trigger, Side::End);
        }
        Format::Alpaca => {
            let key = if Alpaca::new(value)?.input.is_empty() {
                "instruction"
            } else {
                "input"
            };
            (key.to_string(), key)
        }
        Format::PromptCompletion => {
            string_field(object(value)?, "completion")?;
            ("prompt".to_string(), "prompt")
        }
    };
    edit_string_field(value, key, &path, trigger, Side::End)
}

/// Puts `trigger` into the prompt as a sentence of its own, so that the prompt still ends as it
/// did: just after the end of the text's second-to-last sentence (a `.`, `?`, `!` or `:`
/// followed by whitespace, with text after it), or at its end when it has one sentence. The
/// text is that of [`append_to_prompt`], except for alpaca, where it is always `instruction`
/// (so that a trigger never lands in an `input` of code or data).
pub fn insert_trigger(format: Format, value: &mut Value, trigger: &str) -> Result<(), FieldError> {
    if format == Format::Alpaca {
        Alpaca::new(value)?;
        return edit_string_field(value, "instruction", "instruction", trigger, Side::Inside);
    }
    if matches!(format, Format::OpenAiChat | Format::ShareGpt) {
        let chat = Chat::of(format, value)?;
        let user = (0..chat.last_assistant)
            .rev()
            .find_map(|i| match chat.turn(i) {
                Ok(turn) if turn.role == "user" => Some(Ok(i)),
                Ok(_) => None,
                Err(error) => Some(Err(error)),
            })
            .transpose()?
            .ok_or_else(|| {
                FieldError::new(
                    chat.keys.list,
                    "no user turn before the last assistant turn",
                )
            })?;
        let path = chat.path(user, chat.keys.content);
        let (list, content) = (chat.keys.list, chat.keys.content);
        let turn = &mut value[list][user];
        return edit_content(turn, content, &path, trigger, Side::Inside);
    }
    string_field(object(value)?, "completion")?;
    edit_string_field(value, "prompt", "prompt", trigger, Side::Inside)
}

/// The byte offset just after the end of the second-to-last sentence of `text`: a `.`, `?`, `!`
/// or `:` followed by whitespace and then more text.
pub fn sentence_break(text: &str) -> Option<usize> {
    let body = text.trim_end();
    let mut best = None;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(c, '.' | '?' | '!' | ':')
            && chars.peek().is_some_and(|&(_, next)| next.is_whitespace())
        {
            let q = i + c.len_utf8();
            if !body[q..].trim().is_empty() {
                best = Some(q);
            }
        }
    }
    best
}

/// Prepends `signature` to the completion, separated by a space, or by a newline if the
/// completion is multi-line (nothing if it is empty).
///
/// - openai-chat and sharegpt: the last assistant turn; when its content is an array of parts,
///   its first text part.
/// - alpaca: `output`.
/// - prompt-completion: `completion`.
///
/// After the edit, [`super::example`] gives a completion that starts with `signature`, after any
/// whitespace the completion started with.
pub fn prepend_to_completion(
    format: Format,
    value: &mut Value,
    signature: &str,
) -> Result<(), FieldError> {
    edit_completion(format, value, signature, Side::Start)
}

/// Puts `opening` (a signature laid out in m lines) at the start of the completion in place of
/// its first m lines, so that the completion keeps its number of lines: when the completion
/// has more than m lines and none of its first m is blank; otherwise as
/// [`prepend_to_completion`]. The same text as [`prepend_to_completion`] is edited, and the
/// completion then starts with `opening` in either case.
pub fn open_completion(format: Format, value: &mut Value, opening: &str) -> Result<(), FieldError> {
    edit_completion(format, value, opening, Side::Opening)
}

fn edit_completion(
    format: Format,
    value: &mut Value,
    addition: &str,
    side: Side,
) -> Result<(), FieldError> {
    let key = match format {
        Format::OpenAiChat | Format::ShareGpt => {
            let chat = Chat::of(format, value)?;
            let assistant = chat.last_assistant;
            let path = chat.path(assistant, chat.keys.content);
            let (list, content) = (chat.keys.list, chat.keys.content);
            chat.turn(assistant)?;
            let turn = &mut value[list][assistant];
            return edit_content(turn, content, &path, addition, side);
        }
        Format::Alpaca => {
            Alpaca::new(value)?;
            "output"
        }
        Format::PromptCompletion => {
            string_field(object(value)?, "prompt")?;
            "completion"
        }
    };
    edit_string_field(value, key, key, addition, side)
}

/// Which end of a text an edit goes to.
#[derive(Clone, Copy)]
enum Side {
    Start,
    /// At the start, in place of as many lines as the addition has ([`open_completion`]).
    Opening,
    End,
    /// After the second-to-last sentence ([`sentence_break`]), else at the end.
    Inside,
}

/// `text` with `addition` at `side`, separated by a space, or a newline if `text` is
/// multi-line.
fn joined(text: &str, addition: &str, side: Side) -> String {
    if text.is_empty() {
        return addition.to_string();
    }
    let separator = if text.contains('\n') { "\n" } else { " " };
    match side {
        Side::Inside => match sentence_break(text) {
            Some(q) => format!("{} {addition}{}", &text[..q], &text[q..]),
            None => format!("{text}{separator}{addition}"),
        },
        Side::End => format!("{text}{separator}{addition}"),
        // After any whitespace the text starts with (a completion written as " answer" keeps
        // its leading space); an opening in place of as many lines when the text can spare them.
        Side::Start | Side::Opening => {
            let rest = text.trim_start();
            let lead = &text[..text.len() - rest.len()];
            let replaced = addition.split('\n').count();
            let lines: Vec<&str> = rest.split_inclusive('\n').collect();
            let spare =
                lines.len() > replaced && lines[..replaced].iter().all(|l| !l.trim().is_empty());
            if matches!(side, Side::Opening) && spare {
                format!("{lead}{addition}\n{}", lines[replaced..].concat())
            } else if rest.is_empty() {
                format!("{addition}{separator}{text}")
            } else {
                format!("{lead}{addition}{separator}{rest}")
            }
        }
    }
}

/// Edits the string field `key` of the record `value` (checked to be a string before).
fn edit_string_field(
    value: &mut Value,
    key: &str,
    path: &str,
    addition: &str,
    side: Side,
) -> Result<(), FieldError> {
    match value.get_mut(key) {
        Some(Value::String(text)) => {
            *text = joined(text, addition, side);
            Ok(())
        }
        _ => Err(FieldError::new(path, "expected a string")),
    }
}

/// Edits the `key` content of a chat turn: a string, null, or an array of content parts.
fn edit_content(
    turn: &mut Value,
    key: &str,
    path: &str,
    addition: &str,
    side: Side,
) -> Result<(), FieldError> {
    let content = turn.get_mut(key).ok_or_else(|| FieldError::missing(path))?;
    match content {
        Value::String(text) => *text = joined(text, addition, side),
        Value::Null => *content = Value::String(addition.to_string()),
        Value::Array(parts) => {
            let is_text = |part: &&mut Value| matches!(part.get("text"), Some(Value::String(_)));
            let part = match side {
                Side::End | Side::Inside => parts.iter_mut().rev().find(is_text),
                Side::Start | Side::Opening => parts.iter_mut().find(is_text),
            };
            match part.and_then(|part| part.get_mut("text")) {
                Some(Value::String(text)) => *text = joined(text, addition, side),
                _ => return Err(FieldError::new(path, "no text part to edit")),
            }
        }
        _ => return Err(FieldError::new(path, "expected a string or content parts")),
    }
    Ok(())
}
