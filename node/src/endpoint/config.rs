//! What a client is configured with: endpoint, model, API, key, limits and backoff.

use std::fmt;
use std::time::Duration;

use super::EndpointError;

/// Which OpenAI-compatible route to call: the protocol's [`Route`](vtune_protocol::dataset::Route).
pub use vtune_protocol::dataset::Route as Api;

/// A bearer token. Its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key given directly.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key in environment variable `var`; an error names the variable when it is unset
    /// or empty.
    pub fn from_env(var: &str) -> Result<Self, EndpointError> {
        match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Ok(Self(key.trim().to_string())),
            _ => Err(EndpointError::MissingKey {
                var: var.to_string(),
            }),
        }
    }

    /// The key itself, for the `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure; it doubles after each further one.
    pub initial: Duration,
    /// The longest wait without a `Retry-After`.
    pub max: Duration,
    /// The longest `Retry-After` honoured; a server asking for more gets no further retries.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Everything a [`super::Client`] needs.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The API base, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// The model name sent in requests.
    pub model: String,
    /// Chat or completions.
    pub api: Api,
    /// A bearer token, if the endpoint needs one.
    pub api_key: Option<ApiKey>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// The limit of one request, from sending to the last byte of the reply.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// `max_tokens` of every request.
    pub max_tokens: u32,
    /// The sampling seed sent along with temperature 0.
    pub seed: Option<u64>,
    /// Waits between attempts.
    pub backoff: Backoff,
    /// At most this many attempts a minute, evenly spaced (`None`: no limit).
    pub per_minute: Option<u32>,
}

impl EndpointConfig {
    /// A configuration with the defaults: chat, concurrency 8, 60 s timeout, 4 retries,
    /// 64 tokens, seed 0.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api: Api::Chat,
            api_key: None,
            concurrency: 8,
            timeout: Duration::from_secs(60),
            max_retries: 4,
            max_tokens: 64,
            seed: Some(0),
            backoff: Backoff::default(),
            per_minute: None,
        }
    }
}
