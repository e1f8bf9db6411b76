//! The flags of a job's test plan, on `commit` and `verify` (the rules are
//! `vtune_node::buyer::PlanChoice`'s).

use vtune_node::buyer::PlanChoice;
use vtune_protocol::dataset::{Route, Template};

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

impl PlanFlags {
    /// The choices these flags make.
    pub(crate) fn choice(&self) -> PlanChoice {
        PlanChoice {
            checks: self.checks,
            controls: self.controls,
            route: self.route,
            template: self.template,
            max_tokens: self.max_tokens,
            alpha: self.alpha,
        }
    }
}
