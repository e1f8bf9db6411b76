//! The test plan of a job: its defaults from the secret set, the `commit` flags that set it,
//! and the rule that `verify` follows the committed plan and refuses flags that contradict it.

use anyhow::bail;
use vtune_protocol::backdoor::Secret;
use vtune_protocol::dataset::{Route, Template};
use vtune_protocol::messages::{Commitment, TestPlan};

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
    /// (/completions, the prompt text). Default: chat.
    #[arg(long, value_name = "ROUTE")]
    pub(crate) route: Option<Route>,
    /// How a row is rendered as the provider trains and serves it: chat (the row as chat
    /// messages, in the server's own chat template; chat route only), chatml (chat messages
    /// in ChatML; either route), alpaca (the Stanford Alpaca prompt; completions only) or raw
    /// (the prompt text; completions only). Default: chat on the chat route, raw on the
    /// completions route. Tell the provider which one you commit to.
    #[arg(long, value_name = "NAME")]
    pub(crate) template: Option<Template>,
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
        let route = self.route.unwrap_or(Route::Chat);
        let template = self.template.unwrap_or(Template::default_for(route));
        if let Err(error) = template.check_route(route) {
            bail!("--template {template} with --route {route}: {error}");
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
        let plan = TestPlan {
            checks,
            controls: self.controls.unwrap_or(DEFAULT_CONTROLS),
            route,
            template: template.name().to_string(),
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
        if let Some(route) = self.route {
            differs("--route", route.to_string(), plan.route.to_string());
        }
        if let Some(t) = self.template {
            differs("--template", t.to_string(), plan.template.clone());
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
