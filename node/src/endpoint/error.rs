//! Why a request gave no answer.

use std::time::Duration;

use crate::openai::ReplyError;

/// Why a request to the endpoint gave no answer. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The base URL does not parse.
    #[error("invalid endpoint URL `{url}`: {message}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it is invalid.
        message: String,
    },
    /// The API key environment variable is unset or empty.
    #[error("environment variable {var} (the API key) is not set")]
    MissingKey {
        /// The variable's name.
        var: String,
    },
    /// The API key cannot be sent in an HTTP header.
    #[error("the API key contains characters that cannot be sent in an HTTP header")]
    InvalidApiKey,
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    Build(String),
    /// Connecting, sending or reading failed.
    #[error("{url}: transport error after {attempts} attempt(s): {message}")]
    Transport {
        /// The URL.
        url: String,
        /// Requests sent.
        attempts: u32,
        /// The cause.
        message: String,
    },
    /// The request took longer than the timeout.
    #[error("{url}: timed out after {after:?} ({attempts} attempt(s))")]
    Timeout {
        /// The URL.
        url: String,
        /// Requests sent.
        attempts: u32,
        /// The timeout.
        after: Duration,
    },
    /// The server answered with a non-2xx status.
    #[error("{url}: HTTP {status} after {attempts} attempt(s): {message}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// Requests sent.
        attempts: u32,
        /// The message of the error body, or its start.
        message: String,
    },
    /// The reply was larger than the limit.
    #[error("{url}: the reply is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The reply held no answer: invalid JSON, no choices, a refusal, empty text.
    #[error("{url}: {source} ({attempts} attempt(s))")]
    Reply {
        /// The URL.
        url: String,
        /// Requests sent.
        attempts: u32,
        /// What was wrong with the reply.
        #[source]
        source: ReplyError,
    },
}

impl EndpointError {
    /// The same error, recording that `attempts` requests were sent.
    pub(super) fn after(mut self, total: u32) -> Self {
        match &mut self {
            EndpointError::Transport { attempts, .. }
            | EndpointError::Timeout { attempts, .. }
            | EndpointError::Status { attempts, .. }
            | EndpointError::Reply { attempts, .. } => *attempts = total,
            _ => {}
        }
        self
    }

    /// Requests sent before giving up (0 when none could be sent).
    pub fn attempts(&self) -> u32 {
        match self {
            EndpointError::Transport { attempts, .. }
            | EndpointError::Timeout { attempts, .. }
            | EndpointError::Status { attempts, .. }
            | EndpointError::Reply { attempts, .. } => *attempts,
            EndpointError::TooLarge { .. } => 1,
            _ => 0,
        }
    }

    /// A short name of the kind of failure, for transcripts and reports: `transport`,
    /// `timeout`, `http-429`, `invalid-reply`, `refusal`, `empty`, ...
    pub fn kind(&self) -> String {
        match self {
            EndpointError::Transport { .. } => "transport".into(),
            EndpointError::Timeout { .. } => "timeout".into(),
            EndpointError::Status { status, .. } => format!("http-{status}"),
            EndpointError::TooLarge { .. } => "too-large".into(),
            EndpointError::Reply { source, .. } => match source {
                ReplyError::Invalid { .. } => "invalid-reply".into(),
                ReplyError::NoChoices => "no-choices".into(),
                ReplyError::Refusal(_) => "refusal".into(),
                ReplyError::Empty { .. } => "empty".into(),
            },
            EndpointError::InvalidUrl { .. }
            | EndpointError::MissingKey { .. }
            | EndpointError::InvalidApiKey
            | EndpointError::Build(_) => "config".into(),
        }
    }
}
