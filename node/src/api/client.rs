//! A client of a node's HTTP API, for the CLI (`publish`, `query`, `--publish`), the demo and
//! tests.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{Health, IdPage, Posted};
use crate::summary::{JobView, ProviderSummary};

/// A failed API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A message file could not be read.
    #[error("reading {}: {}", .0.display(), .1)]
    File(std::path::PathBuf, std::io::Error),
    /// The node could not be reached.
    #[error("cannot reach the node's API at {url}: {reason} (is `vtune-node run` up?)")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an error.
    #[error("{url}: {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The node's message.
        message: String,
    },
    /// The answer was not what the API documents.
    #[error("{url}: unexpected answer: {reason}")]
    Answer {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// A node's API, by base URL (e.g. `http://127.0.0.1:8470`).
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A client of the API at `base`.
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client with a timeout builds");
        Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// Posts the envelope of each file, in order; every file is read before any is sent.
    pub async fn publish_files(&self, files: &[&Path]) -> Result<Vec<Posted>, ClientError> {
        let mut envelopes = Vec::with_capacity(files.len());
        for file in files {
            let read = std::fs::read(file).map_err(|e| ClientError::File(file.to_path_buf(), e));
            envelopes.push(read?);
        }
        let mut answers = Vec::with_capacity(files.len());
        for envelope in envelopes {
            answers.push(self.publish(envelope).await?);
        }
        Ok(answers)
    }

    /// Posts an envelope.
    pub async fn publish(&self, envelope: Vec<u8>) -> Result<Posted, ClientError> {
        let url = format!("{}/v1/messages", self.base);
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(envelope);
        self.answer(url, request).await
    }

    /// A provider's summary.
    pub async fn summary(&self, provider: &str) -> Result<ProviderSummary, ClientError> {
        self.get_json(&format!("/v1/providers/{}/summary", encode(provider)))
            .await
    }

    /// A job's view.
    pub async fn job(&self, job: &str) -> Result<JobView, ClientError> {
        self.get_json(&format!("/v1/jobs/{}", encode(job))).await
    }

    /// The node's health.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get_json("/v1/health").await
    }

    /// The ids of every message the node holds, in the order it stored them.
    pub async fn all_ids(&self) -> Result<Vec<String>, ClientError> {
        let mut ids = Vec::new();
        let mut after = 0;
        loop {
            let page: IdPage = self
                .get_json(&format!("/v1/messages?after={after}"))
                .await?;
            ids.extend(page.ids.into_iter().map(|(_, id)| id));
            match page.next {
                Some(next) => after = next,
                None => return Ok(ids),
            }
        }
    }

    /// Whether the node holds message `id` (hex).
    pub async fn has(&self, id: &str) -> Result<bool, ClientError> {
        match self
            .get_json::<serde_json::Value>(&format!("/v1/messages/{}", encode(id)))
            .await
        {
            Ok(_) => Ok(true),
            Err(ClientError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A text document of the API (e.g. `/metrics`), by path.
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        };
        let response = self.http.get(&url).send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(ClientError::Status {
                url,
                status: status.as_u16(),
                message: text,
            });
        }
        Ok(text)
    }

    /// Any JSON document of the API, by path.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let request = self.http.get(&url);
        self.answer(url, request).await
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        url: String,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(ClientError::Status {
                url,
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Answer {
            url,
            reason: e.to_string(),
        })
    }
}

/// Percent-encodes a path segment.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
