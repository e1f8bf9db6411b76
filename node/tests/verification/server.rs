//! The simulator's HTTP surface: the model list, completions, and OpenAI error bodies.

use vtune_node::openai::{CompletionResponse, ErrorBody, ModelList};
use vtune_node::sim::{Behavior, Faults};

use super::support::build_job;

#[tokio::test]
async fn the_simulator_serves_models_completions_and_error_bodies() {
    let job = build_job(20);
    let served = job.serve(Behavior::Honest, 0, Faults::default()).await;
    let base = served.handle.base_url();
    let http = reqwest::Client::new();

    let models: ModelList = http
        .get(format!("{base}/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models.data[0].id, "sim");

    let reply = http
        .post(format!("{base}/completions"))
        .json(&serde_json::json!({"model": "sim", "prompt": ["a", "b"], "max_tokens": 3}))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    let reply: CompletionResponse = reply.json().await.unwrap();
    assert_eq!(reply.choices.len(), 2);
    assert_eq!(reply.choices[0].finish_reason.as_deref(), Some("length"));

    let cases = [
        (
            "chat/completions",
            "{not json".to_string(),
            400,
            "invalid request body",
        ),
        (
            "chat/completions",
            r#"{"model":"other","messages":[{"role":"user","content":"hi"}]}"#.to_string(),
            404,
            "does not exist",
        ),
        (
            "chat/completions",
            r#"{"model":"sim","messages":[{"role":"user","content":"hi"}],"stream":true}"#
                .to_string(),
            400,
            "streaming",
        ),
        (
            "chat/completions",
            r#"{"model":"sim","messages":[]}"#.to_string(),
            400,
            "must not be empty",
        ),
        ("nowhere", "{}".to_string(), 404, "no such route"),
    ];
    for (route, body, status, message) in cases {
        let reply = http
            .post(format!("{base}/{route}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), status, "{route}");
        let bytes = reply.bytes().await.unwrap();
        let error = ErrorBody::parse(&bytes).expect("an OpenAI error body");
        assert!(error.message().contains(message), "{}", error.message());
    }
}
