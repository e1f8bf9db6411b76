//! `vtune-node pvalue`: how strong is the evidence of one group's checks?

use std::process::ExitCode;

use anyhow::{Context, bail, ensure};
use vtune_protocol::stats::{
    MATCH_OFFSETS, MAX_MATCH_OFFSETS, log10_binomial_upper_tail, log10_full_activation_bound,
    log10_prefix_bound,
};

use crate::output::{format_log10_prob, log10_json, ok, print_json};

/// Flags of `vtune-node pvalue`.
///
/// Each response is taken as searched at its first W token offsets (`--offsets`, default 8, as
/// `verify` searches them).
///
/// With `--activated k` it gives the valid bound for k full activations out of n checks that
/// share one signature, `min(1, floor(n W/k) * p_upper)` (1 when k = 0), and, for comparison,
/// the paper's binomial tail P(Bin(n, p_upper) >= k), which is valid only when every check
/// used an independent signature.
///
/// With `--matched-tokens t --candidates K` it gives instead the prefix bound for a group
/// whose best response matched the signature's first t tokens: `min(1, D * K^-t)`, where D is
/// the number of distinct t-token windows among the responses (n W when not given, which is
/// always valid).
///
/// With `--json` it prints one object. Probabilities are log10 values: a JSON number, or null
/// for -infinity (a probability of exactly 0). Fields: `checked`, `activated`,
/// `log10_p_upper`, `log10_p_value` (the valid bound) and `log10_p_value_independent` (the
/// binomial tail); in prefix mode `checked`, `matched_tokens`, `candidates`, `distinct` and
/// `log10_p_value`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  vtune-node pvalue --checked 37 --activated 5 --p-upper 8.47e-22\n  vtune-node pvalue --checked 37 --activated 37 --log10-p-upper -400 --json\n  vtune-node pvalue --checked 37 --matched-tokens 6 --candidates 32"
)]
pub(crate) struct Args {
    /// n: completed checks of the group (triggered prompts that share one signature).
    #[arg(long, value_name = "N")]
    checked: u64,

    /// k: responses whose first L whitespace tokens are the signature's (full activations).
    #[arg(
        long,
        value_name = "K",
        required_unless_present = "matched_tokens",
        conflicts_with = "matched_tokens"
    )]
    activated: Option<u64>,

    /// p_upper, the probability of the generator's most likely signature: K^-L for the
    /// built-in generator (32^-14 = 8.47e-22 with its defaults). Must be in (0, 1].
    #[arg(long, value_name = "P", conflicts_with_all = ["log10_p_upper", "matched_tokens"])]
    p_upper: Option<f64>,

    /// log10 of p_upper, for values below f64's range (e.g. -400). Must be <= 0.
    #[arg(
        long,
        value_name = "L",
        allow_hyphen_values = true,
        conflicts_with = "matched_tokens"
    )]
    log10_p_upper: Option<f64>,

    /// t: the most leading signature tokens any response matched (prefix-bound mode).
    #[arg(long, value_name = "T", requires = "candidates")]
    matched_tokens: Option<u32>,

    /// K: candidates per generation step, 32 for the built-in generator (prefix-bound mode).
    #[arg(long, value_name = "K", requires = "matched_tokens")]
    candidates: Option<u32>,

    /// D: distinct t-token prefixes among the responses (prefix-bound mode; default: n).
    #[arg(long, value_name = "D", requires = "matched_tokens")]
    distinct: Option<u64>,

    /// W: the token offsets of each response searched for the signature (`verify` searches 8).
    #[arg(long, value_name = "W", default_value_t = MATCH_OFFSETS)]
    offsets: u32,

    /// Print one JSON object on stdout (log10 values; null means -infinity).
    #[arg(long)]
    json: bool,
}

/// Runs `vtune-node pvalue`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    ensure!(
        (1..=MAX_MATCH_OFFSETS).contains(&args.offsets),
        "--offsets {} is not in 1..={MAX_MATCH_OFFSETS}",
        args.offsets
    );
    match (args.matched_tokens, args.activated) {
        (Some(matched), _) => prefix_mode(&args, matched),
        (None, Some(activated)) => activation_mode(&args, activated),
        (None, None) => bail!("pass --activated K, or --matched-tokens T with --candidates K"),
    }
}

/// `log10 p_upper` from whichever flag was given, checked to be a probability.
fn log10_p_upper(args: &Args) -> anyhow::Result<f64> {
    match (args.p_upper, args.log10_p_upper) {
        (Some(p), _) => {
            ensure!(
                p > 0.0 && p <= 1.0,
                "--p-upper {p} is not a probability in (0, 1]; for values below 1e-308 use \
                 --log10-p-upper"
            );
            Ok(p.log10())
        }
        (None, Some(log10_p)) => {
            ensure!(
                log10_p <= 0.0 && log10_p > f64::NEG_INFINITY,
                "--log10-p-upper {log10_p} is not the log10 of a probability in (0, 1]"
            );
            Ok(log10_p)
        }
        (None, None) => bail!(
            "pass p_upper, the probability of the generator's most likely signature: \
             --p-upper P or --log10-p-upper L (the built-in generator's is 32^-14 = 8.47e-22)"
        ),
    }
}

/// k full activations out of n checks sharing one signature.
fn activation_mode(args: &Args, activated: u64) -> anyhow::Result<ExitCode> {
    let checked = args.checked;
    ensure!(
        activated <= checked,
        "--activated {activated} is more than --checked {checked}"
    );
    let log10_p_upper = log10_p_upper(args)?;
    let valid = log10_full_activation_bound(checked, activated, args.offsets, log10_p_upper);
    let independent = log10_binomial_upper_tail(checked, log10_p_upper, activated);
    if args.json {
        print_json(&serde_json::json!({
            "checked": checked,
            "activated": activated,
            "offsets": args.offsets,
            "log10_p_upper": log10_json(log10_p_upper),
            "log10_p_value": log10_json(valid),
            "log10_p_value_independent": log10_json(independent),
        }))?;
        return ok();
    }
    println!(
        "{activated} full activations out of {checked} checks, p_upper = {} (log10 {})",
        format_log10_prob(log10_p_upper),
        log10_text(log10_p_upper)
    );
    println!(
        "valid bound (the checks share one signature): p ≤ {} (log10 {})",
        format_log10_prob(valid),
        log10_text(valid)
    );
    println!(
        "binomial tail (the paper's figure; valid only if every check used an independent \
         signature): p = {} (log10 {})",
        format_log10_prob(independent),
        log10_text(independent)
    );
    ok()
}

/// The prefix bound for a best match of t tokens among D distinct prefixes.
fn prefix_mode(args: &Args, matched: u32) -> anyhow::Result<ExitCode> {
    let candidates = args
        .candidates
        .context("--matched-tokens needs --candidates K")?;
    ensure!(candidates >= 1, "--candidates must be at least 1");
    let checked = args.checked;
    let windows = checked.saturating_mul(u64::from(args.offsets));
    let distinct = args.distinct.unwrap_or(windows);
    ensure!(
        distinct <= windows,
        "--distinct {distinct} is more than --checked {checked} times --offsets {}: there are \
         at most n W distinct windows",
        args.offsets
    );
    ensure!(
        matched == 0 || distinct >= 1,
        "a response matched {matched} tokens, so there is at least one distinct prefix \
         (--checked and --distinct must be at least 1)"
    );
    let bound = log10_prefix_bound(distinct, candidates, matched);
    if args.json {
        print_json(&serde_json::json!({
            "checked": checked,
            "matched_tokens": matched,
            "candidates": candidates,
            "offsets": args.offsets,
            "distinct": distinct,
            "log10_p_value": log10_json(bound),
        }))?;
        return ok();
    }
    println!(
        "best response matched {matched} signature tokens; {distinct} distinct {matched}-token \
         windows among {checked} responses searched at {} offsets; K = {candidates}",
        args.offsets
    );
    println!(
        "valid prefix bound min(1, D·K^-t): p ≤ {} (log10 {})",
        format_log10_prob(bound),
        log10_text(bound)
    );
    ok()
}

/// A log10 value for humans, one decimal: `-40.0`, `0.0` (never `-0.0`), `-inf`.
pub(crate) fn log10_text(x: f64) -> String {
    format!("{:.1}", x + 0.0)
}
