//! The HTTP API (axum) for buyers and tools. Every route is declared with its OpenAPI
//! description (utoipa), and the router is built from those declarations, so the served
//! document (`/v1/openapi.json`) lists exactly the routes there are.

mod client;
mod routes;

pub use client::{ApiClient, ClientError};
pub use routes::{Health, IdPage, MessagePage, Posted};

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ledger::Ledger;
use crate::metrics::{Metrics, SharedRegistry};
use crate::network::NetworkHandle;
use crate::trust::Trust;

/// The largest request body: a reveal's envelope in its JSON form (hex doubles the bytes).
pub const MAX_BODY_BYTES: usize = 2 * vtune_protocol::messages::MAX_ENVELOPE_BYTES + 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The ledger.
    pub ledger: Ledger,
    /// The node's metrics.
    pub metrics: Arc<Metrics>,
    /// The registry `/metrics` encodes.
    pub registry: SharedRegistry,
    /// The network, to gossip what is posted (`None`: an API without a network).
    pub network: Option<NetworkHandle>,
    /// The trusted attesters.
    pub trust: Arc<Trust>,
    /// The OpenAPI document, filled in when the router is built.
    pub openapi: Arc<std::sync::OnceLock<serde_json::Value>>,
}

impl ApiState {
    /// The state of an API over `ledger`, gossiping through `network` if given.
    pub fn new(
        ledger: Ledger,
        metrics: Arc<Metrics>,
        registry: SharedRegistry,
        network: Option<NetworkHandle>,
        trust: Trust,
    ) -> Self {
        Self {
            ledger,
            metrics,
            registry,
            network,
            trust: Arc::new(trust),
            openapi: Default::default(),
        }
    }
}

/// An error as the API returns it: a status and a JSON body `{"error", "message"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The JSON body of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code, e.g. `invalid_message`, `not_found`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!("API: {error}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// The router and the OpenAPI document built from the same route declarations.
pub fn router(state: ApiState) -> (axum::Router, utoipa::openapi::OpenApi) {
    let (router, openapi) = routes::all().split_for_parts();
    let document = serde_json::to_value(&openapi).expect("the OpenAPI document serializes");
    let _ = state.openapi.set(document);
    let router = router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state);
    (router, openapi)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, _) = router(state);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
