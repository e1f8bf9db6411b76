//! Library errors in the words of the command line: the libraries name settings and files,
//! the CLI names the flags that set them.

use anyhow::anyhow;
use vtune_node::buyer::{BuyerError, OptionsError, PlanError};

/// `err`, naming the flags that would fix it.
pub(crate) fn with_flags(err: BuyerError) -> anyhow::Error {
    match err {
        BuyerError::Plan(e) | BuyerError::Options(OptionsError::Plan(e)) => plan(e),
        BuyerError::Options(OptionsError::Timeout(_)) => {
            anyhow!("--timeout must be a positive number of seconds")
        }
        BuyerError::Options(OptionsError::Concurrency) => {
            anyhow!("--concurrency must be at least 1")
        }
        BuyerError::JobDir(e) if e.is_exists() => anyhow!(
            "{} already exists; pass --force to replace it",
            e.file.display()
        ),
        BuyerError::WindowWithoutWitness => anyhow!("--reveal-window needs at least one --witness"),
        e @ BuyerError::NotBuyer { .. } => {
            anyhow!("{e} (see --data-dir): the buyer's messages must be signed by the buyer's key")
        }
        e @ BuyerError::NoWitness(_) => anyhow!("{e} (`commit --witness KEY` names one)"),
        e => e.into(),
    }
}

fn plan(err: PlanError) -> anyhow::Error {
    match err {
        PlanError::Alpha(alpha) => anyhow!("--alpha must be in (0, 1), got {alpha}"),
        PlanError::Checks { checks, backdoors } => {
            anyhow!("--checks must be in 1..={backdoors} (the job's backdoors), got {checks}")
        }
        PlanError::TemplateRoute {
            template,
            route,
            source,
        } => anyhow!("--template {template} with --route {route}: {source}"),
        PlanError::MaxTokens => anyhow!("--max-tokens must be at least 1"),
        PlanError::Contradicts(conflicts) => {
            let flags: Vec<String> = conflicts
                .iter()
                .map(|c| {
                    let flag = c.setting.replace('_', "-");
                    format!("--{flag} {} (committed: {})", c.given, c.committed)
                })
                .collect();
            anyhow!(
                "the signed commitment (commitment.msg) fixes the test, and these flags \
                 contradict it: {}; drop them, or commit a new job",
                flags.join(", ")
            )
        }
        e => e.into(),
    }
}
