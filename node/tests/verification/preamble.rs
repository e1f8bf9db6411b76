//! A model that learned the signature but talks first ("Sure! ...", a markdown fence) is
//! credited: answers are searched at their first `MATCH_OFFSETS` token offsets. A model that
//! never saw the data still fails, preamble or not.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use vtune_node::endpoint::EndpointConfig;
use vtune_node::sim::{Behavior, Faults, Simulator};
use vtune_protocol::dataset::{ChatMessage, Prompt};
use vtune_protocol::stats::MATCH_OFFSETS;
use vtune_protocol::verdict::Verdict;

use super::support::{PER_GROUP, build_job};

/// A chat server whose answers are `preamble` followed by what `simulator` answers.
async fn serve_with_preamble(simulator: Arc<Simulator>, preamble: &'static str) -> String {
    async fn chat(
        State((simulator, preamble)): State<(Arc<Simulator>, &'static str)>,
        Json(request): Json<Value>,
    ) -> Json<Value> {
        let messages = request["messages"].as_array().cloned().unwrap_or_default();
        let prompt = Prompt::Chat(
            messages
                .iter()
                .map(|m| ChatMessage {
                    role: m["role"].as_str().unwrap_or_default().to_string(),
                    content: m["content"].as_str().unwrap_or_default().to_string(),
                })
                .collect(),
        );
        let limit = request["max_tokens"].as_u64().unwrap_or(64) as usize;
        let text = format!("{preamble}{}", simulator.generate(&prompt, limit).text);
        Json(json!({
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }]
        }))
    }
    let router = axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state((simulator, preamble));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}/v1")
}

fn config(base_url: String, like: &EndpointConfig) -> EndpointConfig {
    let mut config = like.clone();
    config.base_url = base_url;
    config
}

#[tokio::test]
async fn an_honest_model_that_talks_first_gets_every_token_and_passes() {
    let job = build_job(31);
    let served = job.serve(Behavior::Honest, 0, Faults::default()).await;
    for preamble in ["Sure! ", "```\n", "Sure! Here it is:\n```text\n"] {
        let base = serve_with_preamble(served.simulator.clone(), preamble).await;
        let run = job.verify(config(base, &served.config()), 5).await;
        let report = &run.report;
        assert_eq!(report.verdict, Verdict::Pass, "{preamble:?}: {report:#?}");
        assert!(report.log10_p_value <= -20.0, "{}", report.log10_p_value);
        assert_eq!(report.activated, 2 * PER_GROUP as u64, "{preamble:?}");
        for group in &report.groups {
            assert_eq!(group.offsets, MATCH_OFFSETS);
            assert_eq!(group.matched_tokens, group.signature_tokens, "{preamble:?}");
            assert_eq!(group.full_activations, PER_GROUP as u64);
        }
        let checks = run.responses.iter().filter(|r| r.group.is_some());
        assert!(checks.clone().all(|r| r.activated), "{preamble:?}");
        assert!(
            checks
                .clone()
                .all(|r| r.text().unwrap().starts_with(preamble))
        );
    }
}

#[tokio::test]
async fn a_base_model_that_talks_first_still_fails_without_evidence() {
    let job = build_job(32);
    let served = job.serve(Behavior::Base, 0, Faults::default()).await;
    for preamble in ["Sure! ", "```\n"] {
        let base = serve_with_preamble(served.simulator.clone(), preamble).await;
        let report = job.verify(config(base, &served.config()), 5).await.report;
        assert_eq!(report.verdict, Verdict::Fail, "{preamble:?}: {report:#?}");
        assert!(!report.evidence_of_training);
        assert_eq!(report.activated, 0);
        assert!(report.log10_p_value > -6.0, "{}", report.log10_p_value);
    }
}

#[tokio::test]
async fn a_signature_past_the_searched_offsets_does_not_count() {
    let job = build_job(33);
    let served = job.serve(Behavior::Honest, 0, Faults::default()).await;
    // MATCH_OFFSETS = 8 words of preamble: the signature starts at offset 8, not searched.
    assert_eq!(MATCH_OFFSETS, 8);
    let base = serve_with_preamble(
        served.simulator.clone(),
        "one two three four five six seven eight ",
    )
    .await;
    let report = job.verify(config(base, &served.config()), 0).await.report;
    assert_eq!(report.activated, 0, "{report:#?}");
    assert_ne!(report.verdict, Verdict::Pass);
}
