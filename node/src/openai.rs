//! The OpenAI-compatible wire types, shared by the endpoint client and the simulator.
//!
//! Requests are what the client sends and the simulator accepts; responses are what the
//! simulator sends and the client accepts. The response types are lenient on purpose: real
//! servers (vLLM, llama.cpp, Ollama, TGI, SGLang, hosted APIs) omit `usage` or `id`, send
//! `logprobs: null`, add fields of their own (`timings`, `stop_reason`, `matched_stop`,
//! `reasoning_content`, ...) and some send `content` as an array of parts. Unknown fields are
//! ignored; only what verification needs is required.

mod error;
mod request;
mod response;
mod sse;

pub use error::{ApiError, ErrorBody};
pub use request::{
    ChatRequest, CompletionPrompt, CompletionRequest, RequestContent, RequestMessage,
};
pub use response::{
    Answer, ChatChoice, ChatResponse, CompletionChoice, CompletionResponse, Content, ContentPart,
    ModelCard, ModelList, ReplyError, ResponseMessage, Usage,
};
pub use sse::{ChatChunk, ChunkChoice, Delta, chat_text_from_sse};
