//! The test plan of a job: its defaults from the secret set, the choices that set it at
//! commit time, and the rule that a verification follows the committed plan and refuses a
//! choice that contradicts it.

use vtune_protocol::commit::Secret;
use vtune_protocol::dataset::{Route, Template, TemplateError};
use vtune_protocol::messages::{Commitment, TestPlan};

/// The default significance level.
pub const DEFAULT_ALPHA: f64 = 1e-6;
/// The default number of control prompts.
pub const DEFAULT_CONTROLS: u64 = 10;

/// What the buyer chose of a plan; `None` means "the default" at commit time and "the
/// committed value" at verify time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanChoice {
    /// Backdoor checks to send (default: all).
    pub checks: Option<u64>,
    /// Control prompts (default [`DEFAULT_CONTROLS`]).
    pub controls: Option<u64>,
    /// The route (default chat).
    pub route: Option<Route>,
    /// The template (default: the route's).
    pub template: Option<Template>,
    /// max_tokens of each request (default: 4 per signature word plus 16).
    pub max_tokens: Option<u32>,
    /// The significance level (default [`DEFAULT_ALPHA`]).
    pub alpha: Option<f64>,
}

/// A setting whose chosen value differs from the committed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The setting: `alpha`, `checks`, `controls`, `route`, `template` or `max_tokens`.
    pub setting: &'static str,
    /// The value chosen.
    pub given: String,
    /// The value committed.
    pub committed: String,
}

/// Why a plan was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// alpha is not a probability strictly between 0 and 1.
    #[error("alpha must be in (0, 1), got {0}")]
    Alpha(f64),
    /// More checks than backdoors, or none.
    #[error("checks must be in 1..={backdoors} (the job's backdoors), got {checks}")]
    Checks {
        /// The checks chosen.
        checks: u64,
        /// The job's backdoors.
        backdoors: u64,
    },
    /// The template cannot be sent on the route.
    #[error("template {template} with route {route}: {source}")]
    TemplateRoute {
        /// The template.
        template: Template,
        /// The route.
        route: Route,
        /// Why not.
        source: TemplateError,
    },
    /// max_tokens of 0.
    #[error("max_tokens must be at least 1")]
    MaxTokens,
    /// Choices that contradict the signed commitment.
    #[error(
        "the signed commitment (commitment.msg) fixes the test, and these settings contradict \
         it: {}; drop them, or commit a new job",
        .0.iter().map(|c| format!("{} {} (committed: {})", c.setting, c.given, c.committed))
            .collect::<Vec<_>>().join(", ")
    )]
    Contradicts(Vec<Conflict>),
}

impl PlanChoice {
    /// Checks the choices that need no job: alpha and max_tokens.
    pub fn check(&self) -> Result<(), PlanError> {
        if let Some(alpha) = self.alpha
            && !(alpha > 0.0 && alpha < 1.0)
        {
            return Err(PlanError::Alpha(alpha));
        }
        if self.max_tokens == Some(0) {
            return Err(PlanError::MaxTokens);
        }
        Ok(())
    }

    /// The plan and log10 alpha chosen for `secret`, defaults filled in.
    pub fn plan(&self, secret: &Secret) -> Result<(TestPlan, f64), PlanError> {
        self.check()?;
        let backdoors = secret.backdoors.len() as u64;
        let checks = self.checks.unwrap_or(backdoors);
        if checks == 0 || checks > backdoors {
            return Err(PlanError::Checks { checks, backdoors });
        }
        let route = self.route.unwrap_or(Route::Chat);
        let template = self.template.unwrap_or(Template::default_for(route));
        template
            .check_route(route)
            .map_err(|source| PlanError::TemplateRoute {
                template,
                route,
                source,
            })?;
        let longest = secret
            .groups
            .iter()
            .map(|g| g.signature_tokens.len())
            .max()
            .unwrap_or(0);
        let plan = TestPlan {
            checks,
            controls: self.controls.unwrap_or(DEFAULT_CONTROLS),
            route,
            template: template.name().to_string(),
            max_tokens: self.max_tokens.unwrap_or(4 * longest as u32 + 16),
        };
        Ok((plan, self.alpha.unwrap_or(DEFAULT_ALPHA).log10()))
    }

    /// The committed plan and log10 alpha, after checking that no choice contradicts them.
    pub fn committed(&self, commitment: &Commitment) -> Result<(TestPlan, f64), PlanError> {
        let plan = &commitment.plan;
        let mut conflicts = Vec::new();
        let mut differs = |setting, given: String, committed: String| {
            if given != committed {
                conflicts.push(Conflict {
                    setting,
                    given,
                    committed,
                });
            }
        };
        if let Some(alpha) = self.alpha
            && (alpha.log10() - commitment.log10_alpha).abs() > 1e-12
        {
            let committed = 10f64.powf(commitment.log10_alpha);
            differs("alpha", alpha.to_string(), format!("{committed:e}"));
        }
        let mut given = |setting, value: Option<String>, committed: String| {
            if let Some(value) = value {
                differs(setting, value, committed);
            }
        };
        let text = |v: &dyn ToString| v.to_string();
        given("checks", self.checks.map(|v| text(&v)), text(&plan.checks));
        given(
            "controls",
            self.controls.map(|v| text(&v)),
            text(&plan.controls),
        );
        given("route", self.route.map(|v| text(&v)), text(&plan.route));
        given(
            "template",
            self.template.map(|v| text(&v)),
            plan.template.clone(),
        );
        given(
            "max_tokens",
            self.max_tokens.map(|v| text(&v)),
            text(&plan.max_tokens),
        );
        if !conflicts.is_empty() {
            return Err(PlanError::Contradicts(conflicts));
        }
        Ok((plan.clone(), commitment.log10_alpha))
    }
}
