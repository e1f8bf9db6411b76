//! The client of an OpenAI-compatible endpoint: requests, retries with backoff, parsing.
//!
//! One [`Client`] sends prompts to `/v1/chat/completions` or `/v1/completions` with greedy
//! decoding (temperature 0 and a seed), at most `concurrency` at a time. Each request has a
//! timeout; 429, 408, 5xx, transport errors, timeouts and unparsable bodies are retried with
//! exponential backoff, and a `Retry-After` (or `retry-after-ms`) header sets the wait.

mod config;
mod error;
mod pace;
mod probe;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use reqwest::{StatusCode, Url};
use tokio::sync::Semaphore;
use vtune_protocol::dataset::Prompt;

use crate::openai::{
    Answer, ChatRequest, ChatResponse, CompletionPrompt, CompletionRequest, CompletionResponse,
    ErrorBody, ModelList, ReplyError, RequestContent, RequestMessage, chat_text_from_sse,
};

pub use config::{Api, ApiKey, Backoff, EndpointConfig};
pub use error::EndpointError;
pub use probe::ProbeError;

/// The largest reply body read, in bytes; a longer one is an error.
const MAX_BODY_BYTES: usize = 8 << 20;

/// A verified answer: the text and what it took to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The answer text.
    pub text: String,
    /// Why generation stopped, as the server said.
    pub finish_reason: Option<String>,
    /// Requests sent, 1 when the first succeeded.
    pub attempts: u32,
}

/// A client of one endpoint and model. Cheap to clone; clones share the concurrency bound.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    shared: Arc<Shared>,
}

/// What a client's clones share.
#[derive(Debug)]
struct Shared {
    config: EndpointConfig,
    permits: Semaphore,
    chat: Route,
    completions: Route,
    models: Route,
    /// The request budget, if the config sets one.
    pacer: Option<pace::Pacer>,
}

/// A URL of the endpoint, parsed once (a `&str` would be parsed again by every request), and
/// as the configuration spelled it, for messages.
#[derive(Debug, Clone)]
struct Route {
    url: Url,
    text: String,
}

impl Route {
    fn new(base: &str, path: &str) -> Result<Self, EndpointError> {
        let text = format!("{base}/{path}");
        match Url::parse(&text) {
            Ok(url) => Ok(Self { url, text }),
            Err(err) => Err(EndpointError::InvalidUrl {
                url: text,
                message: err.to_string(),
            }),
        }
    }
}

/// A reply, read.
struct Reply {
    status: StatusCode,
    /// The wait a non-2xx reply asked for.
    retry_after: Option<Duration>,
    /// Whether the body is a server-sent event stream.
    event_stream: bool,
    bytes: Bytes,
}

/// The API base of an endpoint URL given as the base with or without `/v1`, or as a full
/// route: `http://h:8000`, `http://h:8000/v1` and `http://h:8000/v1/chat/completions` all
/// give `http://h:8000/v1`. A base with another path (a hosted API's `/openai/v1`, say) is
/// kept as given.
pub fn api_base(url: &str) -> String {
    let mut base = url.trim().trim_end_matches('/').to_string();
    for route in ["/chat/completions", "/completions", "/models"] {
        if let Some(stripped) = base.strip_suffix(route) {
            base = stripped.to_string();
            break;
        }
    }
    match reqwest::Url::parse(&base) {
        Ok(parsed) if matches!(parsed.path(), "" | "/") => format!("{base}/v1"),
        _ => base,
    }
}

/// What one attempt ended with.
enum Attempt {
    Done(Answer),
    Retry {
        error: EndpointError,
        retry_after: Option<Duration>,
    },
    Fatal(EndpointError),
}

impl Client {
    /// A client for `config`; fails on a malformed base URL.
    pub fn new(config: EndpointConfig) -> Result<Self, EndpointError> {
        let base = api_base(&config.base_url);
        let parsed = reqwest::Url::parse(&base).map_err(|err| EndpointError::InvalidUrl {
            url: config.base_url.clone(),
            message: err.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EndpointError::InvalidUrl {
                url: config.base_url.clone(),
                message: "the scheme must be http or https".into(),
            });
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("vtune-node/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                .map_err(|_| EndpointError::InvalidApiKey)?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let concurrency = config.concurrency.max(1);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(concurrency)
            // Retries are this client's own (see `complete`). reqwest's retry layer only ever
            // retries HTTP/2 and HTTP/3 refusals, which this build does not speak, but it
            // copies every request in case; with no retries allowed it does not.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .build()
            .map_err(|err| EndpointError::Build(err.to_string()))?;
        Ok(Self {
            http,
            shared: Arc::new(Shared {
                permits: Semaphore::new(concurrency),
                chat: Route::new(&base, "chat/completions")?,
                completions: Route::new(&base, "completions")?,
                models: Route::new(&base, "models")?,
                pacer: config.per_minute.map(pace::Pacer::per_minute),
                config,
            }),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &EndpointConfig {
        &self.shared.config
    }

    /// The chat request verification sends for `prompt`.
    pub fn chat_request(&self, prompt: &Prompt) -> ChatRequest {
        let messages = match prompt {
            Prompt::Chat(turns) => turns
                .iter()
                .map(|turn| RequestMessage {
                    role: turn.role.clone(),
                    content: RequestContent::Text(turn.content.clone()),
                })
                .collect(),
            Prompt::Text(_) | Prompt::Instruction { .. } => vec![RequestMessage {
                role: "user".into(),
                content: RequestContent::Text(prompt.text().into_owned()),
            }],
        };
        ChatRequest {
            model: self.shared.config.model.clone(),
            messages,
            max_tokens: Some(self.shared.config.max_tokens),
            max_completion_tokens: None,
            temperature: Some(0.0),
            seed: self.shared.config.seed,
            stream: Some(false),
        }
    }

    /// The completion request verification sends for `prompt`. A conversation is sent as its
    /// turns' contents joined by blank lines.
    pub fn completion_request(&self, prompt: &Prompt) -> CompletionRequest {
        let text = match prompt {
            Prompt::Text(_) | Prompt::Instruction { .. } => prompt.text().into_owned(),
            Prompt::Chat(turns) => turns
                .iter()
                .map(|turn| turn.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
        };
        CompletionRequest {
            model: self.shared.config.model.clone(),
            prompt: CompletionPrompt::One(text),
            max_tokens: Some(self.shared.config.max_tokens),
            temperature: Some(0.0),
            seed: self.shared.config.seed,
            stream: Some(false),
        }
    }

    /// The URL and JSON body of the request for `prompt` under the configured API.
    pub fn request_body(&self, prompt: &Prompt) -> (&str, Vec<u8>) {
        let route = self.route();
        (&route.text, self.body(prompt))
    }

    /// The JSON body of the request for `prompt` under the configured API.
    fn body(&self, prompt: &Prompt) -> Vec<u8> {
        let json = match self.shared.config.api {
            Api::Chat => serde_json::to_vec(&self.chat_request(prompt)),
            Api::Completions => serde_json::to_vec(&self.completion_request(prompt)),
        };
        json.expect("JSON of plain data always serializes")
    }

    /// The route of the configured API.
    fn route(&self) -> &Route {
        match self.shared.config.api {
            Api::Chat => &self.shared.chat,
            Api::Completions => &self.shared.completions,
        }
    }

    /// Sends `prompt` and returns the answer, retrying as configured. Waits for a free slot
    /// first when `concurrency` requests are already in flight.
    pub async fn complete(&self, prompt: &Prompt) -> Result<Completion, EndpointError> {
        let route = self.route();
        let body = Bytes::from(self.body(prompt));
        let _permit = self
            .shared
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(pacer) = &self.shared.pacer {
                pacer.wait().await;
            }
            match self.attempt(route, body.clone()).await {
                Attempt::Done(answer) => {
                    return Ok(Completion {
                        text: answer.text,
                        finish_reason: answer.finish_reason,
                        attempts: attempt,
                    });
                }
                Attempt::Fatal(error) => return Err(error.after(attempt)),
                Attempt::Retry { error, retry_after } => {
                    if attempt > self.shared.config.max_retries {
                        return Err(error.after(attempt));
                    }
                    let Some(wait) = self.shared.config.backoff.delay(attempt, retry_after) else {
                        return Err(error.after(attempt));
                    };
                    tracing::debug!(url = route.text.as_str(), attempt, ?wait, %error, "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Lists the endpoint's models (`GET {base}/models`), without retries.
    pub async fn models(&self) -> Result<ModelList, EndpointError> {
        let url = &self.shared.models.text;
        let response = self
            .http
            .get(self.shared.models.url.clone())
            .timeout(self.shared.config.timeout)
            .send()
            .await
            .map_err(|err| transport_error(url, &err, self.shared.config.timeout))?;
        let status = response.status();
        let bytes = read_body(url, response, self.shared.config.timeout).await?;
        if !status.is_success() {
            return Err(status_error(url, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|err| EndpointError::Reply {
            url: url.clone(),
            attempts: 1,
            source: ReplyError::Invalid {
                what: "model list",
                message: err.to_string(),
            },
        })
    }

    /// One request sent and its reply read; a transport error, a timeout or an unreadable
    /// body is an error.
    async fn exchange(&self, route: &Route, body: Bytes) -> Result<Reply, EndpointError> {
        let (url, timeout) = (route.text.as_str(), self.shared.config.timeout);
        // The response is moved into the body's reader within this block, so that the future
        // keeps no place for it beside the reader's (a smaller future for every request).
        let (head, reading) = {
            let response = self
                .http
                .post(route.url.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body)
                .timeout(timeout)
                .send()
                .await
                .map_err(|err| transport_error(url, &err, timeout))?;
            let status = response.status();
            let retry_after = (!status.is_success())
                .then(|| retry::retry_after(response.headers(), std::time::SystemTime::now()))
                .flatten();
            let event_stream = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.starts_with("text/event-stream"));
            (
                (status, retry_after, event_stream),
                read_body(url, response, timeout),
            )
        };
        let (status, retry_after, event_stream) = head;
        Ok(Reply {
            status,
            retry_after,
            event_stream,
            bytes: reading.await?,
        })
    }

    /// One request: send, read, classify.
    async fn attempt(&self, route: &Route, body: Bytes) -> Attempt {
        let url = route.text.as_str();
        let Reply {
            status,
            retry_after,
            event_stream,
            bytes,
        } = match self.exchange(route, body).await {
            Ok(reply) => reply,
            Err(error) => {
                return Attempt::Retry {
                    error,
                    retry_after: None,
                };
            }
        };
        if !status.is_success() {
            let error = status_error(url, status, &bytes);
            return if retry::is_retryable(status) {
                Attempt::Retry { error, retry_after }
            } else {
                Attempt::Fatal(error)
            };
        }
        match self.parse(&bytes, event_stream) {
            Ok(answer) => Attempt::Done(answer),
            // A body that does not parse may be a proxy's hiccup: try again.
            Err(source @ ReplyError::Invalid { .. }) => Attempt::Retry {
                error: EndpointError::Reply {
                    url: url.to_string(),
                    attempts: 1,
                    source,
                },
                retry_after: None,
            },
            // Greedy decoding gives the same refusal or empty answer again: stop.
            Err(source) => Attempt::Fatal(EndpointError::Reply {
                url: url.to_string(),
                attempts: 1,
                source,
            }),
        }
    }

    /// The answer in a 2xx body.
    fn parse(&self, bytes: &[u8], event_stream: bool) -> Result<Answer, ReplyError> {
        if event_stream {
            let text = std::str::from_utf8(bytes).map_err(|err| ReplyError::Invalid {
                what: "event stream",
                message: err.to_string(),
            })?;
            return chat_text_from_sse(text);
        }
        let invalid = |what| {
            move |err: serde_json::Error| ReplyError::Invalid {
                what,
                message: err.to_string(),
            }
        };
        match self.shared.config.api {
            Api::Chat => serde_json::from_slice::<ChatResponse>(bytes)
                .map_err(invalid("chat completion"))?
                .answer(),
            Api::Completions => serde_json::from_slice::<CompletionResponse>(bytes)
                .map_err(invalid("completion"))?
                .answer(),
        }
    }
}

/// Reads a body of at most [`MAX_BODY_BYTES`]. The request's timeout covers the body too.
/// A body that comes in one chunk is kept as it came, without a copy.
async fn read_body(
    url: &str,
    mut response: reqwest::Response,
    timeout: Duration,
) -> Result<Bytes, EndpointError> {
    let capacity = response.content_length().unwrap_or(0).min(1 << 16) as usize;
    // The first chunk, kept whole while it is the only one; then every chunk, copied.
    let mut first = Bytes::new();
    let mut joined: Vec<u8> = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| transport_error(url, &err, timeout))?
    {
        if first.len() + joined.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large(url));
        }
        if first.is_empty() && joined.is_empty() {
            first = chunk;
        } else {
            if joined.is_empty() {
                joined.reserve(capacity.max(first.len() + chunk.len()));
                joined.extend_from_slice(&std::mem::take(&mut first));
            }
            joined.extend_from_slice(&chunk);
        }
    }
    Ok(if joined.is_empty() {
        first
    } else {
        Bytes::from(joined)
    })
}

fn too_large(url: &str) -> EndpointError {
    EndpointError::TooLarge {
        url: url.to_string(),
        limit: MAX_BODY_BYTES,
    }
}

fn transport_error(url: &str, err: &reqwest::Error, timeout: Duration) -> EndpointError {
    if err.is_timeout() {
        EndpointError::Timeout {
            url: url.to_string(),
            attempts: 1,
            after: timeout,
        }
    } else {
        EndpointError::Transport {
            url: url.to_string(),
            attempts: 1,
            message: error_chain(err),
        }
    }
}

fn status_error(url: &str, status: StatusCode, body: &[u8]) -> EndpointError {
    let message = match ErrorBody::parse(body) {
        Some(error) => error.message().to_string(),
        None => {
            let text = String::from_utf8_lossy(body);
            text.chars().take(200).collect()
        }
    };
    EndpointError::Status {
        url: url.to_string(),
        status: status.as_u16(),
        attempts: 1,
        message,
    }
}

/// An error and its causes, joined by `: `.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
