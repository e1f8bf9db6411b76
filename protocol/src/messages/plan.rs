//! The test plan: what decides a verdict besides alpha and the pass threshold, fixed in the
//! commitment before training so that the buyer cannot choose it after seeing the answers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidMessage;

/// Which OpenAI-compatible route the checks are sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// `POST /chat/completions` with the conversation.
    Chat,
    /// `POST /completions` with the prompt text.
    Completions,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Route::Chat => "chat",
            Route::Completions => "completions",
        })
    }
}

impl FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chat" => Ok(Route::Chat),
            "completions" => Ok(Route::Completions),
            other => Err(format!(
                "route `{other}` is neither `chat` nor `completions`"
            )),
        }
    }
}

/// How the verification is run. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TestPlan {
    /// Backdoor checks sent (completed plus failed), at most the number of backdoors.
    pub checks: u64,
    /// Control prompts (without the trigger) sent.
    pub controls: u64,
    /// The route the prompts go to.
    pub route: Route,
    /// How a row is rendered into a prompt (`default`: the data's own form).
    pub template: String,
    /// The `max_tokens` of each request.
    pub max_tokens: u32,
}

impl TestPlan {
    /// The longest template name.
    pub const MAX_TEMPLATE_LEN: usize = 64;

    /// The plan's own range checks.
    pub fn check(&self, backdoors: Option<u64>) -> Result<(), InvalidMessage> {
        if self.checks == 0 {
            return Err(InvalidMessage::field("plan.checks", "is 0"));
        }
        if let Some(n) = backdoors
            && self.checks > n
        {
            return Err(InvalidMessage::field(
                "plan.checks",
                format!("{} is more than the {n} backdoors", self.checks),
            ));
        }
        if self.max_tokens == 0 {
            return Err(InvalidMessage::field("plan.max_tokens", "is 0"));
        }
        if self.template.is_empty() || self.template.len() > Self::MAX_TEMPLATE_LEN {
            return Err(InvalidMessage::field(
                "plan.template",
                format!("must have 1 to {} bytes", Self::MAX_TEMPLATE_LEN),
            ));
        }
        Ok(())
    }
}
