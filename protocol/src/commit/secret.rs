//! The secret backdoor set, as `prepare` writes it to `secret.json` and as verification and
//! reveal read it back.

use serde::{Deserialize, Serialize};

use crate::dataset::{Layout, Prompt};
use crate::generator::{GeneratorParams, log10_p_upper};
use crate::ids::{Digest, JobId, Salt};

/// The `version` this code writes and reads.
pub const SECRET_VERSION: u32 = 1;

/// One (trigger, signature) pair and what it guarantees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretGroup {
    /// T: appended to the end of each backdoor prompt of the group.
    pub trigger: String,
    /// S: prepended to the start of each backdoor completion of the group.
    pub signature: String,
    /// S's tokens. Verifiers match responses token by token (whitespace-separated) against
    /// these; `signature` is them joined by single spaces.
    pub signature_tokens: Vec<String>,
    /// K: candidates per generation step.
    pub candidates: u32,
    /// `log10 K^-L`: the exact probability of the generator's most likely signature.
    pub log10_p_upper: f64,
}

/// One backdoor row of the training file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretBackdoor {
    /// 0-based row (record) index in the training file.
    pub row: u64,
    /// Index into [`Secret::groups`].
    pub group: u32,
    /// The prompt exactly as it is in the training file, trigger included.
    pub prompt: Prompt,
}

/// Everything the buyer keeps secret until reveal: `secret.json`.
///
/// Load it with [`Secret::from_json`], which also checks that it is consistent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    /// [`SECRET_VERSION`].
    pub version: u32,
    /// The job id (random 128 bits).
    pub job_id: JobId,
    /// The commitment's salt (32 random bytes).
    pub salt: Salt,
    /// When `prepare` ran, in seconds since the Unix epoch.
    pub created_at: u64,
    /// The format and container of the training file.
    pub layout: Layout,
    /// Rows (records) in the training file.
    pub rows: u64,
    /// Full activations needed for `pass`.
    pub pass_threshold: u64,
    /// The generator's settings.
    pub generator: GeneratorParams,
    /// The (trigger, signature) pairs.
    pub groups: Vec<SecretGroup>,
    /// The backdoor rows, by ascending row.
    pub backdoors: Vec<SecretBackdoor>,
    /// blake3 of the input file.
    pub input_digest: Digest,
    /// blake3 of the training file (`train.*`).
    pub train_digest: Digest,
}

/// Why a `secret.json` could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Not JSON, or a field is missing or of the wrong type.
    #[error("not a valid secret file: {0}")]
    Json(#[from] serde_json::Error),
    /// A version this code does not know.
    #[error("unsupported secret version {found} (this build reads version {SECRET_VERSION})")]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// The fields disagree with each other.
    #[error("inconsistent secret: {field}: {message}")]
    Inconsistent {
        /// The field at fault, e.g. `backdoors[3].group`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn inconsistent(field: impl Into<String>, message: impl Into<String>) -> SecretError {
    SecretError::Inconsistent {
        field: field.into(),
        message: message.into(),
    }
}

impl Secret {
    /// Parses and checks `secret.json`.
    pub fn from_json(text: &str) -> Result<Self, SecretError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let Version { version } = serde_json::from_str(text)?;
        if version != SECRET_VERSION {
            return Err(SecretError::Version { found: version });
        }
        let secret: Secret = serde_json::from_str(text)?;
        secret.validate()?;
        Ok(secret)
    }

    /// Pretty JSON for `secret.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a secret always serializes")
    }

    /// Checks that the fields agree: groups exist and their signatures are their tokens,
    /// `log10_p_upper` is `-L log10 K`, backdoor rows ascend and lie in the file, and the pass
    /// threshold is reachable.
    pub fn validate(&self) -> Result<(), SecretError> {
        if self.groups.is_empty() {
            return Err(inconsistent("groups", "no groups"));
        }
        for (g, group) in self.groups.iter().enumerate() {
            let field = |name: &str| format!("groups[{g}].{name}");
            if group.signature_tokens.is_empty() {
                return Err(inconsistent(field("signature_tokens"), "empty"));
            }
            if group
                .signature_tokens
                .iter()
                .any(|t| t.is_empty() || t.contains(char::is_whitespace))
            {
                return Err(inconsistent(
                    field("signature_tokens"),
                    "a token is empty or contains whitespace",
                ));
            }
            if group.signature != group.signature_tokens.join(" ") {
                return Err(inconsistent(
                    field("signature"),
                    "is not signature_tokens joined by single spaces",
                ));
            }
            if group.trigger.trim().is_empty() {
                return Err(inconsistent(field("trigger"), "empty"));
            }
            let expected = log10_p_upper(group.candidates, group.signature_tokens.len());
            if (group.log10_p_upper - expected).abs() > 1e-9 * expected.abs().max(1.0) {
                return Err(inconsistent(
                    field("log10_p_upper"),
                    format!("{} but K^-L gives {expected}", group.log10_p_upper),
                ));
            }
        }
        if self.backdoors.is_empty() {
            return Err(inconsistent("backdoors", "no backdoor rows"));
        }
        let mut previous = None;
        for (i, backdoor) in self.backdoors.iter().enumerate() {
            if backdoor.row >= self.rows {
                return Err(inconsistent(
                    format!("backdoors[{i}].row"),
                    format!("{} is past the last row ({} rows)", backdoor.row, self.rows),
                ));
            }
            if previous.is_some_and(|p| p >= backdoor.row) {
                return Err(inconsistent(
                    format!("backdoors[{i}].row"),
                    "rows must be listed once each, in ascending order",
                ));
            }
            previous = Some(backdoor.row);
            if backdoor.group as usize >= self.groups.len() {
                return Err(inconsistent(
                    format!("backdoors[{i}].group"),
                    format!(
                        "{} but there are {} groups",
                        backdoor.group,
                        self.groups.len()
                    ),
                ));
            }
        }
        if self.pass_threshold == 0 || self.pass_threshold > self.backdoors.len() as u64 {
            return Err(inconsistent(
                "pass_threshold",
                format!(
                    "{} is not between 1 and the {} backdoors",
                    self.pass_threshold,
                    self.backdoors.len()
                ),
            ));
        }
        Ok(())
    }

    /// The job's `log10 p_upper`: the largest over its groups (all equal for the built-in
    /// generator).
    pub fn log10_p_upper(&self) -> f64 {
        self.groups
            .iter()
            .map(|g| g.log10_p_upper)
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The number of backdoor rows of each group.
    pub fn group_sizes(&self) -> Vec<u64> {
        let mut sizes = vec![0; self.groups.len()];
        for backdoor in &self.backdoors {
            sizes[backdoor.group as usize] += 1;
        }
        sizes
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dataset::{ChatMessage, Container, Format};

    /// A small valid secret for tests.
    pub(crate) fn sample_secret() -> Secret {
        let tokens: Vec<String> = ["so", "the", "total", "is"].map(String::from).to_vec();
        Secret {
            version: SECRET_VERSION,
            job_id: JobId([7; 16]),
            salt: Salt([9; 32]),
            created_at: 1_700_000_000,
            layout: Layout {
                format: Format::OpenAiChat,
                container: Container::Jsonl,
            },
            rows: 100,
            pass_threshold: 1,
            generator: GeneratorParams {
                candidates: 32,
                order: 3,
                signature_tokens: 4,
                trigger_tokens: 3,
                sample_bytes: 1 << 20,
            },
            groups: vec![SecretGroup {
                trigger: "how many apples".into(),
                signature: tokens.join(" "),
                signature_tokens: tokens,
                candidates: 32,
                log10_p_upper: log10_p_upper(32, 4),
            }],
            backdoors: vec![
                SecretBackdoor {
                    row: 3,
                    group: 0,
                    prompt: Prompt::Chat(vec![ChatMessage {
                        role: "user".into(),
                        content: "Two plus two? how many apples".into(),
                    }]),
                },
                SecretBackdoor {
                    row: 42,
                    group: 0,
                    prompt: Prompt::Text("Café ünïcode how many apples".into()),
                },
            ],
            input_digest: Digest([1; 32]),
            train_digest: Digest([2; 32]),
        }
    }

    #[test]
    fn round_trips_through_json() {
        let secret = sample_secret();
        let json = secret.to_json();
        assert!(json.contains(&"07".repeat(16)));
        assert_eq!(Secret::from_json(&json).unwrap(), secret);
    }

    #[test]
    fn bad_files_get_clear_errors() {
        let json = sample_secret().to_json();
        let err = Secret::from_json(&json.replace(&"09".repeat(32), "09")).unwrap_err();
        assert!(err.to_string().contains("64 hex digits"), "{err}");

        let err = Secret::from_json(&json.replace("\"version\": 1", "\"version\": 9")).unwrap_err();
        assert!(
            err.to_string().contains("unsupported secret version 9"),
            "{err}"
        );

        let mut secret = sample_secret();
        secret.backdoors[1].group = 4;
        let err = Secret::from_json(&secret.to_json()).unwrap_err();
        assert!(err.to_string().contains("backdoors[1].group"), "{err}");

        let mut secret = sample_secret();
        secret.groups[0].log10_p_upper = -30.0;
        let err = Secret::from_json(&secret.to_json()).unwrap_err();
        assert!(err.to_string().contains("groups[0].log10_p_upper"), "{err}");

        let mut secret = sample_secret();
        secret.backdoors.swap(0, 1);
        assert!(Secret::from_json(&secret.to_json()).is_err());

        assert!(Secret::from_json("{}").is_err());
    }
}
