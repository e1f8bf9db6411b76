//! Replies read for their answer alone, as the endpoint client reads them.
//!
//! [`read_chat`] and [`read_completion`] give what parsing a body as [`super::ChatResponse`]
//! or [`super::CompletionResponse`] and taking its answer gives, for every body, errors and
//! their messages included, with less work:
//!
//! - The types here have the names and fields of those, with the same types, except the
//!   strings the answer does not use (`id`, `model`, `role`, reasoning, ...): those are
//!   checked to be strings, as a `String` field would be, but not copied. The answer text is
//!   moved out rather than cloned.
//! - A body is read first as a whole UTF-8 text, so that its strings are not checked one by
//!   one, and a chat reply with a string `content`, the common case, which skips the
//!   buffering of the untagged [`Content`]. Whatever that rejects is read again as bytes with
//!   `Content`, which decides.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use serde_json::Value;

use super::{Answer, Content, ReplyError, Usage, chat_answer, completion_answer};

/// A JSON string, checked and dropped: what a `String` field accepts, without the copy.
struct SkippedString;

impl<'de> Deserialize<'de> for SkippedString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Check;
        impl Visitor<'_> for Check {
            type Value = SkippedString;
            // The words of `String`'s own visitor, so that errors read the same.
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SkippedString, E> {
                Ok(SkippedString)
            }
        }
        deserializer.deserialize_string(Check)
    }
}

/// The answer of a chat completion body, or why it has none.
pub(crate) fn read_chat(body: &[u8]) -> Result<Answer, ReplyError> {
    if let Some(reply) = common_case::<ChatResponse<String>>(body) {
        return reply.into_answer();
    }
    serde_json::from_slice::<ChatResponse<Content>>(body)
        .map_err(|err| ReplyError::Invalid {
            what: "chat completion",
            message: err.to_string(),
        })?
        .into_answer()
}

/// The answer of a completion body, or why it has none.
pub(crate) fn read_completion(body: &[u8]) -> Result<Answer, ReplyError> {
    if let Some(reply) = common_case::<CompletionResponse>(body) {
        return reply.into_answer();
    }
    serde_json::from_slice::<CompletionResponse>(body)
        .map_err(|err| ReplyError::Invalid {
            what: "completion",
            message: err.to_string(),
        })?
        .into_answer()
}

/// `body` read as `T` if it is UTF-8 and parses: checked as a whole first, so that its
/// strings need no check of their own. `None` leaves the verdict, and the error, to the
/// reading that accepts every body the full types accept.
fn common_case<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_str(std::str::from_utf8(body).ok()?).ok()
}

/// Message content as text: [`Content`], or a string alone.
trait IntoText {
    fn into_text(self) -> String;
}

impl IntoText for Content {
    fn into_text(self) -> String {
        Content::into_text(self)
    }
}

impl IntoText for String {
    fn into_text(self) -> String {
        self
    }
}

/// A chat reply, for its answer: the fields of `openai::ChatResponse`, and its name, which
/// errors name. `C` is the type of `content`.
#[derive(Deserialize)]
#[serde(bound = "C: Deserialize<'de>")]
struct ChatResponse<C> {
    #[serde(default, rename = "id")]
    _id: Option<SkippedString>,
    #[serde(default, rename = "object")]
    _object: Option<SkippedString>,
    #[serde(default, rename = "created")]
    _created: Option<u64>,
    #[serde(default, rename = "model")]
    _model: Option<SkippedString>,
    choices: Vec<ChatChoice<C>>,
    #[serde(default, rename = "usage")]
    _usage: Option<Usage>,
    #[serde(default, rename = "system_fingerprint")]
    _system_fingerprint: Option<SkippedString>,
}

/// The fields of `ChatChoice`.
#[derive(Deserialize)]
#[serde(bound = "C: Deserialize<'de>")]
struct ChatChoice<C> {
    #[serde(default)]
    index: u32,
    message: ResponseMessage<C>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default, rename = "logprobs")]
    _logprobs: Option<Value>,
}

/// The fields of `ResponseMessage`.
#[derive(Deserialize)]
#[serde(bound = "C: Deserialize<'de>")]
struct ResponseMessage<C> {
    #[serde(default, rename = "role")]
    _role: Option<SkippedString>,
    #[serde(default)]
    content: Option<C>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default, rename = "reasoning_content")]
    _reasoning_content: Option<SkippedString>,
    #[serde(default, rename = "reasoning")]
    _reasoning: Option<SkippedString>,
    #[serde(default, rename = "tool_calls")]
    _tool_calls: Option<Value>,
}

impl<C: IntoText> ChatResponse<C> {
    /// What `openai::ChatResponse::answer` gives for the same body.
    fn into_answer(self) -> Result<Answer, ReplyError> {
        let choice = self
            .choices
            .into_iter()
            .min_by_key(|choice| choice.index)
            .ok_or(ReplyError::NoChoices)?;
        let message = choice.message;
        chat_answer(
            choice.finish_reason,
            message.refusal.as_deref(),
            message.content.map(IntoText::into_text),
        )
    }
}

/// A completion reply, for its answer: the fields and the name of `openai::CompletionResponse`.
#[derive(Deserialize)]
struct CompletionResponse {
    #[serde(default, rename = "id")]
    _id: Option<SkippedString>,
    #[serde(default, rename = "object")]
    _object: Option<SkippedString>,
    #[serde(default, rename = "created")]
    _created: Option<u64>,
    #[serde(default, rename = "model")]
    _model: Option<SkippedString>,
    choices: Vec<CompletionChoice>,
    #[serde(default, rename = "usage")]
    _usage: Option<Usage>,
    #[serde(default, rename = "system_fingerprint")]
    _system_fingerprint: Option<SkippedString>,
}

/// The fields of `CompletionChoice`.
#[derive(Deserialize)]
struct CompletionChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default, rename = "logprobs")]
    _logprobs: Option<Value>,
}

impl CompletionResponse {
    /// What `openai::CompletionResponse::answer` gives for the same body.
    fn into_answer(self) -> Result<Answer, ReplyError> {
        let choice = self
            .choices
            .into_iter()
            .min_by_key(|choice| choice.index)
            .ok_or(ReplyError::NoChoices)?;
        completion_answer(choice.finish_reason, choice.text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChatResponse as FullChat, CompletionResponse as FullCompletion};
    use super::*;

    /// What the endpoint client made of a body before: the full type's parse of the bytes and
    /// its answer.
    fn full<T: serde::de::DeserializeOwned>(
        body: &[u8],
        what: &'static str,
        answer: impl Fn(T) -> Result<Answer, ReplyError>,
    ) -> Result<Answer, ReplyError> {
        serde_json::from_slice(body)
            .map_err(|err| ReplyError::Invalid {
                what,
                message: err.to_string(),
            })
            .and_then(answer)
    }

    fn assert_same(body: impl AsRef<[u8]>) {
        let body = body.as_ref();
        let shown = String::from_utf8_lossy(body);
        let expected = full(body, "chat completion", |r: FullChat| r.answer());
        assert_eq!(read_chat(body), expected, "chat: {shown}");
        let expected = full(body, "completion", |r: FullCompletion| r.answer());
        assert_eq!(read_completion(body), expected, "completion: {shown}");
    }

    #[test]
    fn bodies_that_are_not_utf8_read_the_same() {
        for body in [
            &b"{\"id\":\"\xff\",\"choices\":[{\"message\":{\"content\":\"a\"},\"text\":\"a\"}]}"[..],
            b"{\"choices\":[{\"message\":{\"content\":\"a\xc3\"},\"text\":\"a\xc3\"}]}",
            b"{\"choices\":[{\"message\":{\"content\":\"\xe2\x98\x83\"},\"text\":\"\xe2\x98\x83\"}]}",
            b"\xef\xbb\xbf{\"choices\":[]}",
            b"{\"choices\":[]}\xff",
        ] {
            assert_same(body);
        }
    }

    #[test]
    fn recorded_replies_read_the_same() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replies");
        let mut read = 0;
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                assert_same(std::fs::read_to_string(&path).unwrap());
                read += 1;
            }
        }
        assert!(read >= 15, "only {read} replies in {}", folder.display());
    }

    #[test]
    fn odd_bodies_read_the_same() {
        let choice = r#"{"index":0,"message":{"role":"assistant","content":"4"},"text":"4","finish_reason":"stop"}"#;
        for body in [
            format!(r#"{{"choices":[{choice}]}}"#),
            format!(r#"{{"id":7,"choices":[{choice}]}}"#),
            format!(r#"{{"id":null,"model":"m\u00e9\n","choices":[{choice}]}}"#),
            format!(r#"{{"id":"a","id":"b","choices":[{choice}]}}"#),
            format!(r#"{{"object":["x"],"choices":[{choice}]}}"#),
            format!(r#"{{"created":-1,"choices":[{choice}]}}"#),
            format!(r#"{{"system_fingerprint":{{}},"choices":[{choice}]}}"#),
            format!(r#"{{"usage":{{"total_tokens":"3"}},"choices":[{choice}]}}"#),
            format!(r#"{{"model":"\ud800","choices":[{choice}]}}"#),
            format!(r#"{{"model":"bad \x escape","choices":[{choice}]}}"#),
            r#"{"choices":[{"index":1,"message":{"content":"b"},"text":"b"},{"index":0,"message":{"content":"a"},"text":"a"}]}"#.into(),
            r#"{"choices":[{"index":0,"message":{"content":"a"}},{"index":0,"message":{"content":"z"}}]}"#.into(),
            r#"{"choices":[{"message":{"role":5,"content":"a"}}]}"#.into(),
            r#"{"choices":[{"message":{"reasoning":true,"content":"a"}}]}"#.into(),
            r#"{"choices":[{"message":{"reasoning_content":"why","content":"  "}}]}"#.into(),
            r#"{"choices":[{"message":{"tool_calls":{"a":[1,{"b":null}]},"content":null},"finish_reason":"tool_calls"}]}"#.into(),
            r#"{"choices":[{"message":{"content":[{"type":"thinking","text":"hm"},{"type":"text","text":"ok"}]},"logprobs":{"content":[]}}]}"#.into(),
            r#"{"choices":[{"message":{"content":"a","refusal":"no"}}]}"#.into(),
            r#"{"choices":[{"message":{"content":"a"},"text":"a","finish_reason":"content_filter"}]}"#.into(),
            r#"{"choices":[{"message":{"content":5}}]}"#.into(),
            r#"{"choices":[{"message":{}}]}"#.into(),
            r#"{"choices":[{"text":null}]}"#.into(),
            r#"{"choices":[]}"#.into(),
            r#"{"choices":{}}"#.into(),
            r#"{"id":"x"}"#.into(),
            r#"{"choices":[{"message":{"content":"a"}}]"#.into(),
            "[]".into(),
            String::new(),
        ] {
            assert_same(&body);
        }
    }
}
