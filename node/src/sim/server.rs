//! The simulator's HTTP server (axum): `/v1/models`, `/v1/chat/completions`,
//! `/v1/completions`, OpenAI error bodies, and the injected faults.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vtune_protocol::dataset::{ChatMessage, Prompt};

use super::faults::{Bucket, FailKind, Faults};
use super::{Finish, Simulator};
use crate::clock::unix_now;
use crate::openai::{
    ChatChoice, ChatRequest, ChatResponse, CompletionChoice, CompletionPrompt, CompletionRequest,
    CompletionResponse, Content, ErrorBody, ModelCard, ModelList, ResponseMessage, Usage,
};

/// `max_tokens` when a request gives none.
const DEFAULT_MAX_TOKENS: u32 = 256;
/// The most tokens one request may ask for.
const MAX_TOKENS_LIMIT: u32 = 4096;

/// How many requests a server saw, and what it did with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServedCounts {
    /// Requests to the completion routes.
    pub requests: u64,
    /// Requests answered with a completion.
    pub answered: u64,
    /// Requests given an injected failure.
    pub faults: u64,
    /// Requests refused with 429.
    pub rate_limited: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    answered: AtomicU64,
    faults: AtomicU64,
    rate_limited: AtomicU64,
}

struct AppState {
    sim: Arc<Simulator>,
    model: String,
    faults: Faults,
    rng: Mutex<ChaCha20Rng>,
    bucket: Option<Mutex<Bucket>>,
    counters: Counters,
    created: u64,
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    state: Arc<AppState>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("model", &self.model)
            .finish()
    }
}

impl ServerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base for clients: `http://ADDR/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// What it has served so far.
    pub fn counts(&self) -> ServedCounts {
        let c = &self.state.counters;
        ServedCounts {
            requests: c.requests.load(Ordering::Relaxed),
            answered: c.answered.load(Ordering::Relaxed),
            faults: c.faults.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Stops the server, dropping requests in flight.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Serves until the server stops (it stops only on an accept error).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `sim` as model `model` on `listener`, injecting `faults`. Returns once the server
/// accepts connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sim: Arc<Simulator>,
    model: &str,
    faults: Faults,
) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        sim,
        model: model.to_string(),
        rng: Mutex::new(ChaCha20Rng::seed_from_u64(faults.seed)),
        bucket: faults
            .rate_limit
            .map(|rate| Mutex::new(Bucket::new(rate, Instant::now()))),
        faults,
        counters: Counters::default(),
        created: unix_now(),
    });
    let router = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .fallback(not_found)
        .with_state(state.clone());
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(%err, "simulator server stopped");
        }
    });
    Ok(ServerHandle { addr, state, task })
}

/// An error answer: an HTTP status and an OpenAI error body.
#[derive(Debug)]
struct HttpError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    code: Option<&'static str>,
}

impl HttpError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            code: None,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.message, self.kind, self.code);
        (self.status, axum::Json(body)).into_response()
    }
}

fn error(
    status: StatusCode,
    message: impl Into<String>,
    kind: &'static str,
    code: Option<&'static str>,
) -> Response {
    HttpError {
        status,
        message: message.into(),
        kind,
        code,
    }
    .into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such route: the simulator serves /v1/models, /v1/chat/completions and /v1/completions",
        "invalid_request_error",
        Some("not_found"),
    )
}

async fn models(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: state.model.clone(),
            object: "model".into(),
            created: state.created,
            owned_by: format!("vtune-sim ({})", state.sim.behavior()),
        }],
    })
    .into_response()
}

/// Rate limit, latency and injected failures, in that order; `Some` ends the request.
async fn gate(state: &AppState) -> Option<Response> {
    state.counters.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(bucket) = &state.bucket {
        let taken = bucket.lock().expect("bucket lock").take(Instant::now());
        if let Err(wait) = taken {
            state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "rate limit reached; try again in {:.3}s",
                    wait.as_secs_f64()
                ),
                "rate_limit_error",
                Some("rate_limit_exceeded"),
            );
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            headers.insert(
                "retry-after-ms",
                HeaderValue::from(wait.as_millis() as u64 + 1),
            );
            return Some(response);
        }
    }
    if !state.faults.latency.is_zero() {
        tokio::time::sleep(state.faults.latency).await;
    }
    let kind = {
        let mut rng = state.rng.lock().expect("rng lock");
        if state.faults.fail_rate > 0.0 && rng.random_bool(state.faults.fail_rate.min(1.0)) {
            Some(match state.faults.fail_kind {
                FailKind::Mixed => rng.random_range(0..4),
                FailKind::Status => 0,
                FailKind::InvalidJson => 1,
                FailKind::Hang => 2,
            })
        } else {
            None
        }
    }?;
    state.counters.faults.fetch_add(1, Ordering::Relaxed);
    Some(match kind {
        0 => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected fault: internal server error",
            "server_error",
            None,
        ),
        1 => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"id":"chatcmpl-sim","choices":[{"index":0,"message":{"role":"assis"#,
        )
            .into_response(),
        2 => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected fault: overloaded",
            "server_error",
            None,
        ),
    })
}

/// The request body as `T`, or a 400 with an OpenAI error body.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    serde_json::from_slice(body)
        .map_err(|err| HttpError::bad_request(format!("invalid request body: {err}")))
}

fn check_request(state: &AppState, model: &str, stream: Option<bool>) -> Result<(), HttpError> {
    if model != state.model {
        return Err(HttpError {
            status: StatusCode::NOT_FOUND,
            message: format!(
                "The model `{model}` does not exist; this server has `{}`.",
                state.model
            ),
            kind: "invalid_request_error",
            code: Some("model_not_found"),
        });
    }
    if stream == Some(true) {
        return Err(HttpError::bad_request(
            "streaming is not supported by the simulator",
        ));
    }
    Ok(())
}

fn max_tokens(requested: Option<u32>) -> usize {
    requested
        .unwrap_or(DEFAULT_MAX_TOKENS)
        .min(MAX_TOKENS_LIMIT) as usize
}

fn finish_reason(finish: Finish) -> String {
    match finish {
        Finish::Stop => "stop".into(),
        Finish::Length => "length".into(),
    }
}

async fn chat(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, HttpError> {
    if let Some(response) = gate(&state).await {
        return Ok(response);
    }
    let request: ChatRequest = parse_body(&body)?;
    check_request(&state, &request.model, request.stream)?;
    if request.messages.is_empty() {
        return Err(HttpError::bad_request("messages must not be empty"));
    }
    let prompt = Prompt::Chat(
        request
            .messages
            .iter()
            .map(|message| ChatMessage {
                role: message.role.clone(),
                content: message.content.text(),
            })
            .collect(),
    );
    let limit = max_tokens(request.max_completion_tokens.or(request.max_tokens));
    let generation = state.sim.generate(&prompt, limit);
    let id = state.counters.answered.fetch_add(1, Ordering::Relaxed);
    Ok(axum::Json(ChatResponse {
        id: Some(format!("chatcmpl-sim-{id}")),
        object: Some("chat.completion".into()),
        created: Some(unix_now()),
        model: Some(state.model.clone()),
        choices: vec![ChatChoice {
            index: 0,
            message: ResponseMessage {
                role: Some("assistant".into()),
                content: Some(Content::Text(generation.text)),
                refusal: None,
                reasoning_content: None,
                reasoning: None,
                tool_calls: None,
            },
            finish_reason: Some(finish_reason(generation.finish)),
            logprobs: None,
        }],
        usage: Some(usage(
            generation.prompt_tokens,
            generation.completion_tokens,
        )),
        system_fingerprint: Some(format!("vtune-sim-{}", state.sim.behavior())),
    })
    .into_response())
}

async fn completions(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, HttpError> {
    if let Some(response) = gate(&state).await {
        return Ok(response);
    }
    let request: CompletionRequest = parse_body(&body)?;
    check_request(&state, &request.model, request.stream)?;
    let prompts = match request.prompt {
        CompletionPrompt::One(prompt) => vec![prompt],
        CompletionPrompt::Batch(prompts) => prompts,
    };
    let limit = max_tokens(request.max_tokens);
    let mut choices = Vec::with_capacity(prompts.len());
    let (mut prompt_tokens, mut completion_tokens) = (0, 0);
    for (index, prompt) in prompts.into_iter().enumerate() {
        let generation = state.sim.generate(&Prompt::Text(prompt), limit);
        prompt_tokens += generation.prompt_tokens;
        completion_tokens += generation.completion_tokens;
        choices.push(CompletionChoice {
            index: index as u32,
            text: Some(generation.text),
            finish_reason: Some(finish_reason(generation.finish)),
            logprobs: None,
        });
    }
    let id = state.counters.answered.fetch_add(1, Ordering::Relaxed);
    Ok(axum::Json(CompletionResponse {
        id: Some(format!("cmpl-sim-{id}")),
        object: Some("text_completion".into()),
        created: Some(unix_now()),
        model: Some(state.model.clone()),
        choices,
        usage: Some(usage(prompt_tokens, completion_tokens)),
        system_fingerprint: Some(format!("vtune-sim-{}", state.sim.behavior())),
    })
    .into_response())
}

fn usage(prompt: usize, completion: usize) -> Usage {
    Usage {
        prompt_tokens: prompt as u64,
        completion_tokens: completion as u64,
        total_tokens: (prompt + completion) as u64,
    }
}
