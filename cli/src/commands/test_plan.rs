//! The test plan of a job: its defaults from the secret set, the `commit` flags that set it,
//! and the rule that `verify` follows the committed plan and refuses flags that contradict it.

use anyhow::bail;
use vtune_node::endpoint::Api;
use vtune_protocol::backdoor::Secret;
use vtune_protocol::dataset::Format;
use vtune_protocol::messages::{Commitment, Route, TestPlan};

/// The flags that choose a plan (on `commit` and `verify`); `None` means "the default" at
/// commit time and "the committed value" at verify time.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct PlanFlags {
    /// Backdoor checks to send (a random sample of the backdoor rows; default: all). The pass
    /// threshold scales with the sample.
    #[arg(long, value_name = "N")]
    pub(crate) checks: Option<u64>,
    /// Control prompts: non-backdoor rows sent without a trigger (default 10). A control that
    /// produces a signature is reported as a false activation; controls never change the
    /// verdict.
    #[arg(long, value_name = "M")]
    pub(crate) controls: Option<u64>,
    /// Which route to call: chat (/chat/completions, the conversation) or completions
    /// (/completions, the prompt text). Default: chat for chat and ShareGPT data, else
    /// completions.
    #[arg(long, value_name = "ROUTE")]
    pub(crate) route: Option<Api>,
    /// How a row becomes a prompt. Only `default` (the data's own form) exists so far.
    #[arg(long, value_name = "NAME")]
    pub(crate) template: Option<String>,
    /// max_tokens of each request. Default: 4 per signature word plus 16.
    #[arg(long)]
    pub(crate) max_tokens: Option<u32>,
    /// The significance level: evidence of training needs p-value <= alpha (default 1e-6).
    #[arg(long)]
    pub(crate) alpha: Option<f64>,
}

/// The default significance level.
pub(crate) const DEFAULT_ALPHA: f64 = 1e-6;
/// The default number of control prompts.
pub(crate) const DEFAULT_CONTROLS: u64 = 10;

pub(crate) fn route_of(api: Api) -> Route {
    match api {
        Api::Chat => Route::Chat,
        Api::Completions => Route::Completions,
    }
}

pub(crate) fn api_of(route: Route) -> Api {
    match route {
        Route::Chat => Api::Chat,
        Route::Completions => Api::Completions,
    }
}

impl PlanFlags {
    /// The plan and log10 alpha these flags choose for `secret`, defaults filled in.
    pub(crate) fn plan(&self, secret: &Secret) -> anyhow::Result<(TestPlan, f64)> {
        let alpha = self.alpha.unwrap_or(DEFAULT_ALPHA);
        if !(alpha > 0.0 && alpha < 1.0) {
            bail!("--alpha must be in (0, 1), got {alpha}");
        }
        let backdoors = secret.backdoors.len() as u64;
        let checks = self.checks.unwrap_or(backdoors);
        if checks == 0 || checks > backdoors {
            bail!("--checks must be in 1..={backdoors} (the job's backdoors), got {checks}");
        }
        let template = self
            .template
            .clone()
            .unwrap_or_else(|| "default".to_string());
        if template != "default" {
            bail!("--template {template:?}: the only template so far is `default`");
        }
        let longest = secret
            .groups
            .iter()
            .map(|g| g.signature_tokens.len())
            .max()
            .unwrap_or(0);
        let max_tokens = self.max_tokens.unwrap_or(4 * longest as u32 + 16);
        if max_tokens == 0 {
            bail!("--max-tokens must be at least 1");
        }
        let route = self
            .route
            .map(route_of)
            .unwrap_or(match secret.layout.format {
                Format::OpenAiChat | Format::ShareGpt => Route::Chat,
                Format::PromptCompletion | Format::Alpaca => Route::Completions,
            });
        let plan = TestPlan {
            checks,
            controls: self.controls.unwrap_or(DEFAULT_CONTROLS),
            route,
            template,
            max_tokens,
        };
        Ok((plan, alpha.log10()))
    }

    /// The committed plan, after checking that no flag given contradicts it.
    pub(crate) fn committed(&self, commitment: &Commitment) -> anyhow::Result<(TestPlan, f64)> {
        let plan = &commitment.plan;
        let mut conflicts = Vec::new();
        let mut differs = |flag: &str, given: String, committed: String| {
            if given != committed {
                conflicts.push(format!("{flag} {given} (committed: {committed})"));
            }
        };
        if let Some(alpha) = self.alpha {
            let committed = 10f64.powf(commitment.log10_alpha);
            if (alpha.log10() - commitment.log10_alpha).abs() > 1e-12 {
                differs("--alpha", alpha.to_string(), format!("{committed:e}"));
            }
        }
        if let Some(n) = self.checks {
            differs("--checks", n.to_string(), plan.checks.to_string());
        }
        if let Some(m) = self.controls {
            differs("--controls", m.to_string(), plan.controls.to_string());
        }
        if let Some(api) = self.route {
            differs("--route", route_of(api).to_string(), plan.route.to_string());
        }
        if let Some(t) = &self.template {
            differs("--template", t.clone(), plan.template.clone());
        }
        if let Some(t) = self.max_tokens {
            differs("--max-tokens", t.to_string(), plan.max_tokens.to_string());
        }
        if !conflicts.is_empty() {
            bail!(
                "the signed commitment (commitment.msg) fixes the test, and these flags \
                 contradict it: {}; drop them, or commit a new job",
                conflicts.join(", ")
            );
        }
        Ok((plan.clone(), commitment.log10_alpha))
    }
}
