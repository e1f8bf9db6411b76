//! The API's handlers, each with its OpenAPI declaration.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::{JobId, MessageId, MessageView, open_any};

use super::{ApiError, ApiState, ErrorBody};
use crate::ingest::{self, Source};
use crate::ledger::{Cursor, InsertError, MAX_PAGE, PageRequest};
use crate::summary::{self, JobView, ProviderSummary};

#[derive(OpenApi)]
#[openapi(info(
    title = "vtune-node",
    description = "A vtune-node's ledger of signed commitments, attestations and reveals, \
                   and what it knows of each provider."
))]
struct ApiDoc;

/// Every documented route.
pub(super) fn all() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(post_message, list_messages))
        .routes(routes!(get_message))
        .routes(routes!(get_job))
        .routes(routes!(provider_attestations))
        .routes(routes!(provider_summary))
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

/// The answer to a posted message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Posted {
    /// The message id (hex).
    pub id: String,
    /// `commitment`, `attestation` or `reveal`.
    pub kind: String,
    /// `false` when the node already held it.
    pub new: bool,
    /// Set when this attestation contradicts an earlier one by the same attester.
    pub equivocation: bool,
}

/// Accepts a signed envelope, as bytes (`application/octet-stream`) or in its JSON form
/// (`application/json`). It is verified (signature, size, self-consistency, its commitment
/// when held) and stored before it is gossiped; nothing that fails is stored.
#[utoipa::path(post, path = "/v1/messages",
    request_body(content = Vec<u8>, description = "the envelope bytes, or its JSON form",
        content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "stored and gossiped", body = Posted),
        (status = 200, description = "already stored", body = Posted),
        (status = 400, description = "not an envelope", body = ErrorBody),
        (status = 413, description = "over the size limit", body = ErrorBody),
        (status = 422, description = "fails validation", body = ErrorBody),
    ))]
async fn post_message(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Posted>), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = if is_json {
        let envelope: Envelope = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the JSON body is not an envelope: {e}")))?;
        envelope.to_bytes()
    } else {
        body.to_vec()
    };
    let (ledger, metrics) = (state.ledger.clone(), state.metrics.clone());
    let envelope = bytes.clone();
    let result = tokio::task::spawn_blocking(move || {
        ingest::ingest(&ledger, &metrics, &envelope, Source::Api)
    })
    .await
    .map_err(ApiError::internal)?;
    let inserted = match result {
        Ok(inserted) => inserted,
        Err(InsertError::Invalid(e)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_message",
                e.to_string(),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    if inserted.new
        && let Some(network) = &state.network
    {
        network
            .publish(inserted.id, bytes)
            .await
            .map_err(ApiError::internal)?;
    }
    let status = if inserted.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Posted {
            id: inserted.id.to_string(),
            kind: inserted.kind.to_string(),
            new: inserted.new,
            equivocation: inserted.equivocation.is_some(),
        }),
    ))
}

/// Which part of the node's insertion order to list.
#[derive(Debug, Deserialize, IntoParams)]
struct SeqQuery {
    /// List what this node stored after this sequence number (default 0: from the start).
    after: Option<u64>,
    /// Ids per page (at most 1000; default 1000).
    limit: Option<usize>,
}

/// A page of message ids in the order this node stored them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdPage {
    /// `[sequence number, message id (hex)]`, ascending.
    pub ids: Vec<(u64, String)>,
    /// The `after` of the next page, if there is one.
    pub next: Option<u64>,
}

/// The ids of every message this node holds, in the order it stored them (its own
/// sequence), a page at a time: what a tool needs to compare two nodes' ledgers.
#[utoipa::path(get, path = "/v1/messages", params(SeqQuery),
    responses((status = 200, description = "a page of ids", body = IdPage)))]
async fn list_messages(
    State(state): State<ApiState>,
    Query(query): Query<SeqQuery>,
) -> Result<Json<IdPage>, ApiError> {
    let limit = query.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let after = query.after.unwrap_or(0);
    let page = blocking(move || state.ledger.since(after, limit, usize::MAX)).await?;
    let more = page
        .entries
        .last()
        .is_some_and(|(seq, _)| *seq < page.last_seq);
    let next = if more {
        page.entries.last().map(|(seq, _)| *seq)
    } else {
        None
    };
    Ok(Json(IdPage {
        ids: page
            .entries
            .iter()
            .map(|(seq, envelope)| (*seq, MessageId::of(envelope).to_string()))
            .collect(),
        next,
    }))
}

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{text:?} is not a {what} (hex)")))
}

/// One message: its JSON view, or the envelope bytes with `Accept: application/octet-stream`.
#[utoipa::path(get, path = "/v1/messages/{id}",
    params(("id" = String, Path, description = "the message id (64 hex digits)")),
    responses(
        (status = 200, description = "the message", body = Object),
        (status = 400, description = "not a message id", body = ErrorBody),
        (status = 404, description = "not stored here", body = ErrorBody),
    ))]
async fn get_message(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id: MessageId = parse("message id", &id)?;
    let bytes = state
        .ledger
        .get(&id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("message {id} is not stored here")))?;
    let wants_bytes = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/octet-stream"));
    if wants_bytes {
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
    }
    let verified = open_any(&bytes).map_err(ApiError::internal)?;
    Ok(Json(MessageView::new(&verified)).into_response())
}

/// A job: its commitment, its attestations (role, verdict, p-value, attester, whether each
/// binds to the commitment) and whether it was revealed.
#[utoipa::path(get, path = "/v1/jobs/{job_id}",
    params(("job_id" = String, Path, description = "the job id (32 hex digits)")),
    responses(
        (status = 200, description = "the job", body = JobView),
        (status = 404, description = "nothing stored about it", body = ErrorBody),
    ))]
async fn get_job(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job: JobId = parse("job id", &job_id)?;
    let view = blocking(move || summary::job_view(&state.ledger, &state.trust, &job)).await?;
    view.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("nothing is stored about job {job}")))
}

/// Which page of a provider's messages.
#[derive(Debug, Deserialize, IntoParams)]
struct PageQuery {
    /// The `next` cursor of the previous page.
    cursor: Option<String>,
    /// Entries per page (at most 1000; default 100).
    limit: Option<usize>,
}

/// A page of a provider's messages.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// The messages' JSON views, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<serde_json::Value>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// A provider's attestations, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/providers/{provider}/attestations",
    params(("provider" = String, Path, description = "the provider id"), PageQuery),
    responses(
        (status = 200, description = "a page", body = MessagePage),
        (status = 400, description = "a bad cursor", body = ErrorBody),
    ))]
async fn provider_attestations(
    State(state): State<ApiState>,
    Path(provider): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let request = match &query.cursor {
        Some(text) => PageRequest::after(parse::<Cursor>("cursor", text)?, limit),
        None => PageRequest::first(limit),
    };
    let page = state
        .ledger
        .by_provider(&provider, &request)
        .map_err(|e| match e {
            crate::ledger::LedgerError::BadCursor(_) => ApiError::bad_request(e.to_string()),
            e => ApiError::internal(e),
        })?;
    let messages = page
        .entries
        .iter()
        .filter_map(|entry| entry.open().ok())
        .filter(|v| v.message().kind() == "attestation")
        .map(|v| serde_json::to_value(MessageView::new(&v)).map_err(ApiError::internal))
        .collect::<Result<_, _>>()?;
    Ok(Json(MessagePage {
        messages,
        next: page.next.map(|c| c.to_string()),
    }))
}

/// A provider's record: pass / fail / inconclusive counts (fail with and without evidence of
/// training apart), distinct attesters and buyers, witness attestations, equivocation flags,
/// first and last seen; every count over all attesters and over this node's trusted ones.
#[utoipa::path(get, path = "/v1/providers/{provider}/summary",
    params(("provider" = String, Path, description = "the provider id")),
    responses((status = 200, description = "the summary", body = ProviderSummary)))]
async fn provider_summary(
    State(state): State<ApiState>,
    Path(provider): Path<String>,
) -> Result<Json<ProviderSummary>, ApiError> {
    blocking(move || summary::provider_summary(&state.ledger, &state.trust, &provider))
        .await
        .map(Json)
}

/// The node's health.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The node's libp2p peer id, if it runs a network.
    pub peer_id: Option<String>,
    /// Its listen addresses.
    pub listen_addrs: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// Peers in the topic's mesh.
    pub mesh_peers: usize,
    /// Messages in the ledger.
    pub ledger_messages: usize,
}

/// Whether the node is up, and its peers and ledger size.
#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)))]
async fn health(State(state): State<ApiState>) -> Result<Json<Health>, ApiError> {
    let status = match &state.network {
        Some(network) => Some(network.status().await.map_err(ApiError::internal)?),
        None => None,
    };
    Ok(Json(Health {
        status: "ok".to_string(),
        peer_id: status.as_ref().map(|s| s.peer_id.to_string()),
        listen_addrs: status
            .as_ref()
            .map(|s| s.listen_addrs.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
        peers: status.as_ref().map_or(0, |s| s.peers.len()),
        mesh_peers: status.as_ref().map_or(0, |s| s.mesh_peers),
        ledger_messages: state.ledger.len(),
    }))
}

/// Prometheus metrics in the OpenMetrics text format: the node's own (peers, messages by
/// kind, rejects by reason, ledger size, sync rounds) and libp2p's.
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "OpenMetrics text", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    state
        .metrics
        .ledger_messages
        .set(i64::try_from(state.ledger.len()).unwrap_or(i64::MAX));
    let mut text = String::new();
    {
        let registry = state.registry.lock().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .map_err(ApiError::internal)?;
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// This document: the API as OpenAPI 3.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, body = Object)))]
async fn openapi(State(state): State<ApiState>) -> Json<serde_json::Value> {
    Json(state.openapi.get().cloned().unwrap_or_default())
}

/// Runs ledger reads on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::ledger::LedgerError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}
