//! The probe `verify` runs before any check: a misconfigured endpoint (a model the server
//! does not serve, a wrong path, a refused key, nothing listening) is a usage error, never an
//! `inconclusive` or a `fail`.

use bytes::Bytes;
use vtune_protocol::dataset::Prompt;

use super::{Attempt, Client, EndpointError};

/// Why the endpoint cannot be used as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Nothing answered.
    #[error("cannot reach the endpoint: {0}")]
    Unreachable(EndpointError),
    /// The key was refused (401 or 403).
    #[error("the endpoint refused the API key (HTTP {status} from {url})")]
    Unauthorized {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The server does not serve the model.
    #[error("the endpoint does not serve the model `{model}`{}", served_list(.served))]
    UnknownModel {
        /// The model asked for.
        model: String,
        /// What `/models` lists (empty if unknown).
        served: Vec<String>,
    },
    /// The route does not exist there.
    #[error(
        "{url} does not exist (HTTP {status}): pass the API base, e.g. http://host:port/v1, as --endpoint, or check --route"
    )]
    WrongPath {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The server refused the request for another reason the client cannot fix by retrying.
    #[error("the endpoint refused a request: {0}")]
    Refused(EndpointError),
}

/// Whether an error message says the model does not exist (as OpenAI, vLLM and others word
/// it), rather than the route.
fn names_a_missing_model(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("model_not_found")
        || (m.contains("model")
            && [
                "does not exist",
                "not found",
                "unknown model",
                "no such model",
            ]
            .iter()
            .any(|p| m.contains(p)))
}

fn served_list(served: &[String]) -> String {
    if served.is_empty() {
        String::new()
    } else {
        format!("; it serves: {}", served.join(", "))
    }
}

impl Client {
    /// Checks the configuration with `GET {base}/models` (where the server has it) and one
    /// request of `prompt`. Transient failures (429, 5xx, timeouts after a connection) pass:
    /// the run's retries handle them.
    pub async fn probe(&self, prompt: &Prompt) -> Result<(), ProbeError> {
        let model = self.config().model.clone();
        match self.models().await {
            Ok(list) => {
                let served: Vec<String> = list.data.into_iter().map(|m| m.id).collect();
                if !served.is_empty() && !served.contains(&model) {
                    return Err(ProbeError::UnknownModel { model, served });
                }
            }
            Err(EndpointError::Status {
                url,
                status: status @ (401 | 403),
                ..
            }) => return Err(ProbeError::Unauthorized { url, status }),
            Err(e @ EndpointError::Transport { .. }) => return Err(ProbeError::Unreachable(e)),
            // No /models here (404, 405, ...), or an odd list: the request decides.
            Err(_) => {}
        }
        let route = self.route();
        let body = Bytes::from(self.body(prompt));
        let error = match self.attempt(route, body).await {
            Attempt::Done(_) => return Ok(()),
            Attempt::Retry { error, .. } => match error {
                EndpointError::Transport { .. } => return Err(ProbeError::Unreachable(error)),
                _ => return Ok(()),
            },
            Attempt::Fatal(error) => error,
        };
        Err(match error {
            EndpointError::Status {
                url,
                status: status @ (401 | 403),
                ..
            } => ProbeError::Unauthorized { url, status },
            EndpointError::Status {
                ref message,
                status: 400 | 404,
                ..
            } if names_a_missing_model(message) => ProbeError::UnknownModel {
                model,
                served: Vec::new(),
            },
            EndpointError::Status {
                url,
                status: status @ (404 | 405),
                ..
            } => ProbeError::WrongPath { url, status },
            other => ProbeError::Refused(other),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::api_base;
    use super::names_a_missing_model;

    #[test]
    fn an_endpoint_is_accepted_with_or_without_v1_or_as_a_full_route() {
        for url in [
            "http://h:8000",
            "http://h:8000/",
            "http://h:8000/v1",
            "http://h:8000/v1/",
            "http://h:8000/v1/chat/completions",
            "http://h:8000/v1/completions",
            "http://h:8000/chat/completions",
        ] {
            assert_eq!(api_base(url), "http://h:8000/v1", "{url}");
        }
        assert_eq!(api_base("https://x.ai/openai/v1"), "https://x.ai/openai/v1");
    }

    #[test]
    fn model_errors_are_told_from_route_errors() {
        assert!(names_a_missing_model("The model `x` does not exist"));
        assert!(names_a_missing_model("error code: model_not_found"));
        assert!(!names_a_missing_model(
            "no such route: the simulator serves /v1/models"
        ));
    }
}
