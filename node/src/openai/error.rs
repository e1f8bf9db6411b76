//! Error bodies: `{"error":{message,type,param,code}}` (OpenAI, current vLLM, Ollama), the
//! older flat `{"object":"error",message,type,param,code}` (vLLM before 2025), and the plain
//! `{"error":"text"}` (TGI's native routes).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fields of an API error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for humans.
    pub message: String,
    /// `invalid_request_error`, `rate_limit_error`, `tokens`, `BadRequestError`, ...
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The request field at fault, if any.
    #[serde(default)]
    pub param: Option<Value>,
    /// A code: a string (`rate_limit_exceeded`), a number (vLLM: the HTTP status) or null.
    #[serde(default)]
    pub code: Option<Value>,
}

/// An error body in any of the shapes servers send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorBody {
    /// `{"error": {...}}`.
    Wrapped {
        /// The error.
        error: ApiError,
    },
    /// `{"error": "text", ...}`.
    Plain {
        /// The message.
        error: String,
    },
    /// `{"object": "error", "message": ..., ...}`.
    Flat(ApiError),
}

impl ErrorBody {
    /// The OpenAI shape of an error, as the simulator sends it.
    pub fn new(message: impl Into<String>, kind: &str, code: Option<&str>) -> Self {
        ErrorBody::Wrapped {
            error: ApiError {
                message: message.into(),
                kind: Some(kind.to_string()),
                param: None,
                code: code.map(|code| Value::String(code.to_string())),
            },
        }
    }

    /// The human message.
    pub fn message(&self) -> &str {
        match self {
            ErrorBody::Wrapped { error } | ErrorBody::Flat(error) => &error.message,
            ErrorBody::Plain { error } => error,
        }
    }

    /// Parses an error body; `None` when `body` is none of the known shapes.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}
