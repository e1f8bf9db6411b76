//! The client against test doubles: `Retry-After` on 429, errors that are not retried, the
//! API key, event streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use vtune_node::endpoint::{ApiKey, Client, EndpointConfig, EndpointError};
use vtune_protocol::dataset::Prompt;

const REPLY: &str = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"four"},"finish_reason":"stop"}]}"#;

/// Serves `router` on a free loopback port; returns the API base.
async fn serve_double(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/v1")
}

fn prompt() -> Prompt {
    Prompt::Text("two plus two".into())
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_it_names() {
    // Test double: the first request gets 429 with `Retry-After: 1`, later ones an answer.
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, "1")],
                        include_str!("../replies/openai-error-429.json"),
                    )
                        .into_response()
                } else {
                    ([(header::CONTENT_TYPE, "application/json")], REPLY).into_response()
                }
            }
        }),
    );
    let base = serve_double(router).await;
    let client = Client::new(EndpointConfig::new(base, "m")).unwrap();
    let started = Instant::now();
    let completion = client.complete(&prompt()).await.unwrap();
    assert_eq!(completion.text, "four");
    assert_eq!(completion.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_stops_retrying() {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "3600")],
                "down for maintenance",
            )
        }),
    );
    let base = serve_double(router).await;
    let client = Client::new(EndpointConfig::new(base, "m")).unwrap();
    let error = client.complete(&prompt()).await.unwrap_err();
    assert!(
        matches!(error, EndpointError::Status { status: 503, attempts: 1, ref message, .. } if message == "down for maintenance"),
        "{error}"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried_and_keep_the_server_message() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                (
                    StatusCode::NOT_FOUND,
                    include_str!("../replies/vllm-error-404-legacy.json"),
                )
            }
        }),
    );
    let base = serve_double(router).await;
    let client = Client::new(EndpointConfig::new(base, "m")).unwrap();
    let error = client.complete(&prompt()).await.unwrap_err();
    assert_eq!(error.kind(), "http-404");
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_api_key_is_sent_as_a_bearer_token_and_never_shown() {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(|headers: HeaderMap| async move {
            if headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                == Some("Bearer sk-test")
            {
                ([(header::CONTENT_TYPE, "application/json")], REPLY).into_response()
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    "{\"error\":{\"message\":\"no key\"}}",
                )
                    .into_response()
            }
        }),
    );
    let base = serve_double(router).await;
    let mut config = EndpointConfig::new(base, "m");
    config.api_key = Some(ApiKey::new("sk-test"));
    assert!(!format!("{config:?}").contains("sk-test"));
    let client = Client::new(config.clone()).unwrap();
    assert_eq!(client.complete(&prompt()).await.unwrap().text, "four");
    config.api_key = None;
    let error = Client::new(config)
        .unwrap()
        .complete(&prompt())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "http-401");
    assert!(matches!(
        ApiKey::from_env("VTUNE_TEST_SURELY_UNSET_KEY"),
        Err(EndpointError::MissingKey { .. })
    ));
}

#[tokio::test]
async fn an_event_stream_reply_is_read() {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            (
                [(header::CONTENT_TYPE, "text/event-stream")],
                include_str!("../replies/vllm-stream.txt"),
            )
        }),
    );
    let base = serve_double(router).await;
    let client = Client::new(EndpointConfig::new(base, "m")).unwrap();
    assert_eq!(
        client.complete(&prompt()).await.unwrap().text,
        "Okay. Sure."
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error_after_retries() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = EndpointConfig::new(format!("http://{addr}/v1"), "m");
    config.max_retries = 2;
    config.backoff.initial = Duration::from_millis(1);
    let error = Client::new(config)
        .unwrap()
        .complete(&prompt())
        .await
        .unwrap_err();
    assert_eq!((error.kind().as_str(), error.attempts()), ("transport", 3));
}
