//! The HTTP API over loopback, on a real sled ledger: posting (bytes and JSON), validation
//! errors, size limits, the job and provider views with trust, paging, metrics, and the
//! OpenAPI document checked against the routes.

use std::sync::{Arc, Mutex};

use vtune_node::api::{self, ApiClient, ApiState, ClientError};
use vtune_node::keys::NodeKey;
use vtune_node::ledger::Ledger;
use vtune_node::metrics::Metrics;
use vtune_node::trust::Trust;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::Message;
use vtune_protocol::messages::{Attestation, Commitment, JobId, MessageId, samples};

struct Api {
    _dir: tempfile::TempDir,
    url: String,
    client: ApiClient,
    http: reqwest::Client,
    ledger: Ledger,
}

async fn serve(trust: Trust) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger")).unwrap();
    let metrics = Arc::new(Metrics::default());
    let registry = Arc::new(Mutex::new(Default::default()));
    metrics.register(&mut registry.lock().unwrap());
    let state = ApiState::new(ledger.clone(), metrics, registry, None, trust);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve(listener, state, std::future::pending()));
    Api {
        _dir: dir,
        client: ApiClient::new(&url),
        url,
        http: reqwest::Client::new(),
        ledger,
    }
}

fn seal<T: Message>(message: &T, key: &NodeKey) -> Vec<u8> {
    Envelope::seal(message, key.signing_key())
        .unwrap()
        .to_bytes()
}

/// A commitment of job `job` by `buyer` and its signed bytes.
fn commitment(buyer: &NodeKey, job: u8) -> (Commitment, Vec<u8>) {
    let mut c = samples::commitment(buyer.public(), "acme");
    c.job_id = JobId([job; 16]);
    let bytes = seal(&c, buyer);
    (c, bytes)
}

/// A passing attestation of `c` by `attester`.
fn attestation(attester: &NodeKey, c: &(Commitment, Vec<u8>), created_at: u64) -> Vec<u8> {
    let mut a: Attestation = samples::attestation(
        attester.public(),
        MessageId::of(&c.1),
        &c.0.provider,
        created_at,
    );
    a.job_id = c.0.job_id;
    seal(&a, attester)
}

#[tokio::test]
async fn a_posted_message_is_stored_once_and_served_as_json_or_bytes() {
    let api = serve(Trust::default()).await;
    let buyer = NodeKey::from_seed([1; 32]);
    let (_, bytes) = commitment(&buyer, 1);
    let first = api.client.publish(bytes.clone()).await.unwrap();
    assert!(first.new);
    assert_eq!(first.kind, "commitment");
    assert_eq!(first.id, MessageId::of(&bytes).to_string());
    let again = api.client.publish(bytes.clone()).await.unwrap();
    assert!(!again.new, "a second post is a no-op");

    let view: serde_json::Value = api
        .client
        .get_json(&format!("/v1/messages/{}", first.id))
        .await
        .unwrap();
    assert_eq!(view["kind"], "commitment");
    assert_eq!(view["message"]["provider"], "acme");
    let raw = api
        .http
        .get(format!("{}/v1/messages/{}", api.url, first.id))
        .header("accept", "application/octet-stream")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(raw.as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn the_json_form_of_an_envelope_is_accepted() {
    let api = serve(Trust::default()).await;
    let (_, bytes) = commitment(&NodeKey::from_seed([2; 32]), 2);
    let envelope = Envelope::decode(&bytes).unwrap();
    let response = api
        .http
        .post(format!("{}/v1/messages", api.url))
        .json(&envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(api.ledger.contains(&MessageId::of(&bytes)).unwrap());
}

#[tokio::test]
async fn invalid_messages_get_json_errors_and_are_not_stored() {
    let api = serve(Trust::default()).await;
    let buyer = NodeKey::from_seed([3; 32]);
    let c = commitment(&buyer, 3);
    let mut forged = c.1.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (forged, 422, "signature"),
        (b"not an envelope".to_vec(), 422, "envelope"),
    ];
    for (body, status, needle) in cases {
        match api.client.publish(body).await {
            Err(ClientError::Status {
                status: got,
                message,
                ..
            }) => {
                assert_eq!(got, status, "{message}");
                assert!(message.contains(needle), "{message} names {needle}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
    // An attestation that contradicts its stored commitment (another pass threshold).
    api.client.publish(c.1.clone()).await.unwrap();
    let attester = NodeKey::from_seed([4; 32]);
    let mut a = samples::attestation(attester.public(), MessageId::of(&c.1), "acme", 9);
    a.job_id = c.0.job_id;
    a.pass_threshold += 1;
    let a = Attestation::from_facts(vtune_protocol::messages::AttestationFacts {
        job_id: a.job_id,
        commitment_id: a.commitment_id,
        attester: a.attester,
        role: a.role,
        provider: a.provider,
        endpoint: a.endpoint,
        model: a.model,
        plan: a.plan,
        groups: a.groups,
        errors: a.errors,
        rule: vtune_protocol::verdict::VerdictRule {
            log10_alpha: a.log10_alpha,
            pass_threshold: a.pass_threshold,
        },
        control_checks: a.control_checks,
        control_activations: a.control_activations,
        transcript_digest: a.transcript_digest,
        created_at: a.created_at,
    });
    let err = api.client.publish(seal(&a, &attester)).await.unwrap_err();
    assert!(err.to_string().contains("pass_threshold"), "{err}");
    assert_eq!(api.ledger.len(), 1, "only the commitment is stored");

    let bad_json = api
        .http
        .post(format!("{}/v1/messages", api.url))
        .header("content-type", "application/json")
        .body("{\"nope\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);
    let body: serde_json::Value = bad_json.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");

    let huge = vec![0u8; api::MAX_BODY_BYTES + 1];
    let response = api
        .http
        .post(format!("{}/v1/messages", api.url))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    let missing = api
        .client
        .job(&JobId([9; 16]).to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, ClientError::Status { status: 404, .. }),
        "{missing}"
    );
    let bad_id = api.client.has("zz").await.unwrap_err();
    assert!(
        matches!(bad_id, ClientError::Status { status: 400, .. }),
        "{bad_id}"
    );
}

#[tokio::test]
async fn summaries_count_all_and_trusted_attesters_apart() {
    let trusted = NodeKey::from_seed([5; 32]);
    let api = serve(Trust::of([trusted.public()])).await;
    let buyer = NodeKey::from_seed([6; 32]);
    let c = commitment(&buyer, 5);
    api.client.publish(c.1.clone()).await.unwrap();
    api.client
        .publish(attestation(&trusted, &c, 10))
        .await
        .unwrap();
    let sybil = NodeKey::from_seed([7; 32]);
    api.client
        .publish(attestation(&sybil, &c, 11))
        .await
        .unwrap();
    // An attestation whose commitment this node does not hold is not counted.
    let other = commitment(&buyer, 6);
    api.client
        .publish(attestation(&sybil, &other, 12))
        .await
        .unwrap();

    let s = api.client.summary("acme").await.unwrap();
    assert_eq!(s.jobs, 1);
    assert_eq!((s.all.attestations, s.all.pass), (2, 2));
    assert_eq!((s.all.distinct_attesters, s.all.distinct_buyers), (2, 1));
    assert_eq!(
        (s.trusted.attestations, s.trusted.distinct_attesters),
        (1, 1)
    );
    assert_eq!(s.trusted_keys, 1);
    assert_eq!(s.without_commitment, 1);
    assert_eq!(
        (s.first_seen, s.last_seen),
        (Some(10), Some(samples::SAMPLE_TIME))
    );

    let job = api.client.job(&c.0.job_id.to_string()).await.unwrap();
    assert_eq!(job.commitment_id, Some(MessageId::of(&c.1)));
    assert_eq!(job.attestations.len(), 2);
    assert!(job.attestations.iter().all(|a| a.binds));
    assert_eq!(job.attestations.iter().filter(|a| a.trusted).count(), 1);
    assert!(!job.revealed);

    // Paging: one attestation per page, then the rest.
    let page: api::MessagePage = api
        .client
        .get_json("/v1/providers/acme/attestations?limit=1")
        .await
        .unwrap();
    assert!(page.next.is_some());
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_that_answer() {
    let api = serve(Trust::default()).await;
    let doc: serde_json::Value = api.client.get_json("/v1/openapi.json").await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut listed: Vec<String> = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            listed.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    listed.sort();
    let expected = [
        "GET /metrics",
        "GET /v1/health",
        "GET /v1/jobs/{job_id}",
        "GET /v1/messages",
        "GET /v1/messages/{id}",
        "GET /v1/openapi.json",
        "GET /v1/providers/{provider}/attestations",
        "GET /v1/providers/{provider}/summary",
        "POST /v1/messages",
    ];
    assert_eq!(listed, expected);
    // Each documented route is served: the fallback (no such route) never answers.
    for entry in &listed {
        let (method, path) = entry.split_once(' ').unwrap();
        let url = format!(
            "{}{}",
            api.url,
            path.replace("{job_id}", &JobId([1; 16]).to_string())
                .replace("{id}", &MessageId([1; 32]).to_string())
                .replace("{provider}", "acme")
        );
        let request = match method {
            "GET" => api.http.get(&url),
            _ => api.http.post(&url).body("x"),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(
            status != 405 && !body.contains("no such route"),
            "{entry}: {status} {body}"
        );
    }
    let unknown = api
        .http
        .get(format!("{}/v1/nope", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("no such route"));
}

#[tokio::test]
async fn metrics_are_openmetrics_text_with_the_node_counters() {
    let api = serve(Trust::default()).await;
    let (_, bytes) = commitment(&NodeKey::from_seed([8; 32]), 8);
    api.client.publish(bytes).await.unwrap();
    let _ = api.client.publish(b"junk".to_vec()).await;
    let text = api.client.get_text("/metrics").await.unwrap();
    assert!(
        text.contains("vtune_stored_messages_total{kind=\"commitment\",source=\"api\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("vtune_rejected_messages_total{reason=\"decode\",source=\"api\"} 1"),
        "{text}"
    );
    assert!(text.contains("vtune_ledger_messages 1"), "{text}");
    assert!(text.ends_with("# EOF\n"));
}
