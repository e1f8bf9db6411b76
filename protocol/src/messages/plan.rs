//! The test plan: what decides a verdict besides alpha and the pass threshold, fixed in the
//! commitment before training so that the buyer cannot choose it after seeing the answers.

use serde::{Deserialize, Serialize};

pub use crate::dataset::Route;
use crate::dataset::Template;

use super::InvalidMessage;

/// How the verification is run. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TestPlan {
    /// Backdoor checks sent (completed plus failed), at most the number of backdoors.
    pub checks: u64,
    /// Control prompts (without the trigger) sent.
    pub controls: u64,
    /// The route the prompts go to.
    pub route: Route,
    /// How a row is rendered into a prompt: a [`Template`] name, written as text on the wire.
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
        let template = self.template()?;
        template
            .check_route(self.route)
            .map_err(|error| InvalidMessage::field("plan.template", error.to_string()))
    }

    /// The plan's template.
    pub fn template(&self) -> Result<Template, InvalidMessage> {
        self.template
            .parse()
            .map_err(|error: crate::dataset::TemplateError| {
                InvalidMessage::field("plan.template", error.to_string())
            })
    }
}
