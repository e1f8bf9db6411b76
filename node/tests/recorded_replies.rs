//! Every recorded reply in `tests/replies/` (real servers' bodies, sources in
//! `tests/replies/SOURCES.md`) parses, and gives the answer text verification would match.

use vtune_node::openai::{
    ChatChunk, ChatResponse, CompletionResponse, ErrorBody, ReplyError, chat_text_from_sse,
};

fn chat(body: &str) -> ChatResponse {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("chat reply does not parse: {err}"))
}

fn completion(body: &str) -> CompletionResponse {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("completion does not parse: {err}"))
}

#[test]
fn openai_chat_gives_content_usage_and_fingerprint() {
    let reply = chat(include_str!("replies/openai-chat.json"));
    let answer = reply.answer().unwrap();
    assert!(
        answer
            .text
            .starts_with("The image shows a wooden boardwalk")
    );
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    assert_eq!(reply.usage.unwrap().total_tokens, 1163);
    assert_eq!(reply.system_fingerprint.as_deref(), Some("fp_fc9f1d7035"));
}

#[test]
fn tool_call_replies_have_no_answer_text() {
    for body in [
        include_str!("replies/openai-chat-tool-calls.json"),
        include_str!("replies/sglang-chat-tool-calls.json"),
    ] {
        assert_eq!(
            chat(body).answer(),
            Err(ReplyError::Empty {
                finish_reason: Some("tool_calls".into())
            })
        );
    }
    // TGI 1.4: `tool_calls` is an object and `finish_reason` is `eos_token`.
    assert_eq!(
        chat(include_str!("replies/tgi-chat-tools-legacy.json")).answer(),
        Err(ReplyError::Empty {
            finish_reason: Some("eos_token".into())
        })
    );
}

#[test]
fn openai_stream_chunk_parses() {
    let chunk: ChatChunk =
        serde_json::from_str(include_str!("replies/openai-chat-chunk.json")).unwrap();
    assert_eq!(chunk.choices[0].delta.role.as_deref(), Some("assistant"));
}

#[test]
fn completions_give_their_text() {
    let openai = completion(include_str!("replies/openai-completions.json"));
    assert_eq!(openai.answer().unwrap().text, "\n\nThis is indeed a test");
    let vllm = completion(include_str!("replies/vllm-completions.json"));
    let answer = vllm.answer().unwrap();
    assert!(answer.text.starts_with(" city that is known"));
    assert_eq!(answer.finish_reason.as_deref(), Some("length"));
    assert_eq!(vllm.usage.unwrap().completion_tokens, 20);
}

#[test]
fn vllm_chat_replies_parse_and_leave_reasoning_out() {
    let plain = chat(include_str!("replies/vllm-chat.json"));
    let answer = plain.answer().unwrap();
    assert!(answer.text.starts_with("<think>\nOkay, I need to write"));
    assert_eq!(answer.finish_reason.as_deref(), Some("length"));

    let stop = chat(include_str!("replies/vllm-chat-stop.json"));
    assert_eq!(
        stop.answer().unwrap().text,
        "The text in the illustration is \"TONGYI Qwen\"."
    );
    assert_eq!(stop.system_fingerprint, None);

    let reasoning = chat(include_str!("replies/vllm-chat-reasoning.json"));
    let answer = reasoning.answer().unwrap();
    assert!(answer.text.starts_with("你好！我是 **Step**"));
    let thought = reasoning.choices[0].message.reasoning.as_deref().unwrap();
    assert!(!answer.text.contains(thought));
}

#[test]
fn vllm_event_stream_is_concatenated() {
    let answer = chat_text_from_sse(include_str!("replies/vllm-stream.txt")).unwrap();
    assert_eq!(answer.text, "Okay. Sure.");
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
}

#[test]
fn llamacpp_chat_parses_with_timings_and_late_id() {
    let reply = chat(include_str!("replies/llamacpp-chat.json"));
    assert!(
        reply
            .answer()
            .unwrap()
            .text
            .starts_with("Okay, here are the 3 main tourist attractions")
    );
    assert_eq!(
        reply.id.as_deref(),
        Some("chatcmpl-PLT9wXbZiJ6XXxHCQUBsTz9wj59y2KHU")
    );
    assert_eq!(reply.system_fingerprint.as_deref(), Some("b1-6a746cf"));
    assert_eq!(reply.usage.unwrap().total_tokens, 58);
}

#[test]
fn ollama_chat_answers_exclude_reasoning() {
    let reply = chat(include_str!("replies/ollama-chat.json"));
    assert_eq!(reply.answer().unwrap().text, "51");
    assert!(reply.choices[0].message.reasoning.is_some());
    let cached = chat(include_str!("replies/ollama-chat-cached.json"));
    assert_eq!(cached.answer().unwrap().text, "54");
}

#[test]
fn tgi_chat_parses_with_empty_id() {
    let reply = chat(include_str!("replies/tgi-chat.json"));
    assert_eq!(reply.id.as_deref(), Some(""));
    assert!(
        reply
            .answer()
            .unwrap()
            .text
            .starts_with("The image shows a rabbit")
    );
}

#[test]
fn sglang_chat_replies_parse() {
    let reply = chat(include_str!("replies/sglang-chat.json"));
    assert!(
        reply
            .answer()
            .unwrap()
            .text
            .starts_with("The capital of France is **Paris**.")
    );
    let reasoning = chat(include_str!("replies/sglang-chat-reasoning.json"));
    let answer = reasoning.answer().unwrap();
    assert!(answer.text.starts_with("The image is a logo"));
    assert!(reasoning.choices[0].message.reasoning_content.is_some());
}

#[test]
fn error_bodies_of_every_shape_give_their_message() {
    let cases = [
        (
            include_str!("replies/openai-error-429.json"),
            "Rate limit reached for gpt-3.5-turbo",
        ),
        (
            include_str!("replies/vllm-error-400.json"),
            "Gemma4ToolParser",
        ),
        (
            include_str!("replies/vllm-error-404-legacy.json"),
            "The model `Qwen1.5-14B-Chat-GPTQ-Int8` does not exist.",
        ),
        (include_str!("replies/ollama-error-400.json"), "EOF"),
    ];
    for (body, message) in cases {
        let error = ErrorBody::parse(body.as_bytes()).expect("error body parses");
        assert!(error.message().starts_with(message), "{}", error.message());
    }
    let Some(ErrorBody::Wrapped { error }) =
        ErrorBody::parse(include_str!("replies/vllm-error-400.json").as_bytes())
    else {
        panic!("vLLM's current error is the wrapped shape");
    };
    assert_eq!(error.code, Some(serde_json::json!(400)));
}

#[test]
fn content_as_an_array_of_parts_keeps_only_text_parts() {
    // Constructed in Mistral's reasoning shape (no verbatim body was found; see SOURCES.md).
    let reply = chat(
        r#"{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":[
            {"type":"thinking","thinking":[{"type":"text","text":"hmm"}]},
            {"type":"text","text":"The answer"},{"type":"text","text":" is 4."}]}}]}"#,
    );
    assert_eq!(reply.answer().unwrap().text, "The answer is 4.");
}

#[test]
fn a_refusal_is_not_an_answer() {
    let reply = chat(
        r#"{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":null,"refusal":"I can't help with that."}}]}"#,
    );
    assert!(matches!(reply.answer(), Err(ReplyError::Refusal(_))));
}
