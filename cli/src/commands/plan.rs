//! `vtune-node plan`: choose the number of backdoors and the pass threshold for a dataset.

use std::process::ExitCode;

use anyhow::{bail, ensure};
use vtune_protocol::generator::{GeneratorParams, signature_length};
use vtune_protocol::stats::{
    GroupEvidence, MATCH_OFFSETS, log10_full_activation_bound, log10_job_p_value,
    subset_attack_fraction,
};

use super::pvalue::log10_text;
use crate::output::{format_log10_prob, log10_json, ok, print_json};

/// Groups beyond this are not convolved for the graded-evidence figures (the cost grows with
/// the square of the groups).
const MAX_CONVOLVED_GROUPS: u64 = 5000;

/// Fewer backdoors than this were not learned in the paper's experiments (Table 3).
const LEAST_LEARNED: u64 = 5;

/// The chances at which the subset attack is reported.
const CHANCES: [(f64, &str); 3] = [(0.01, "1%"), (0.5, "50%"), (0.99, "99%")];

/// Flags of `vtune-node plan`.
///
/// Prints the number of backdoor rows N, the pass threshold k (full activations needed for a
/// pass), the p-value a pass would carry exactly at the threshold, and how much of the file
/// a provider would have to train on (a random subset) to still reach k backdoor rows.
///
/// Defaults follow the paper: N = 0.5% of the rows rounded up, and at least 5 (1 or 2
/// backdoors were never learned, 5 were: Table 3); k = ceil(r * N) with r = 0.5.
///
/// The p-value at the threshold: with one group, the valid bound for k full activations out of
/// N checks that share one signature, each answer searched at W = 8 token offsets, log10 min(1, floor(N W/k) * p_upper); with G groups, the
/// job p-value (prefix statistic) when the rows of just enough groups to hold k rows activate
/// and the others match nothing. p_upper = K^-L, with the built-in generator's default K = 12
/// and L = 19, unless --max-p-upper is given.
///
/// The trade-off of --groups (default: one per backdoor row, as `prepare`): a phrase shared by
/// several rows is found by counting repeats (the stealth audit), one in a single row is
/// harder to learn. In the paper, 5 or more rows per backdoor were learned by 2B-13B models
/// with LoRA in 3 epochs, 1 or 2 were not. A signature learned in part is graded evidence: the
/// plan reports the p-value when half of the groups match their first 4 tokens.
///
/// JSON fields: rows, backdoors, pass_threshold, log10_p_upper, log10_p_value_at_threshold
/// (a number, or null for -infinity), subset_fraction_1pct, subset_fraction_50pct,
/// subset_fraction_99pct (the smallest fraction m/rows of rows drawn at random that includes
/// at least k backdoor rows with that chance).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples (the paper's section 6.1 figures):\n  vtune-node plan --rows 100 --backdoors 6 --pass-threshold 4\n  vtune-node plan --rows 10000 --backdoors 50 --pass-threshold 26 --json"
)]
pub(crate) struct Args {
    /// K: rows in the fine-tuning file.
    #[arg(long, value_name = "K")]
    rows: u64,

    /// N: backdoor rows to hide [default: ceil(0.5% of the rows), at least 5].
    #[arg(long, value_name = "N", conflicts_with = "fraction")]
    backdoors: Option<u64>,

    /// N as a fraction of the rows, in (0, 1], rounded up (0.005 means 0.5%).
    #[arg(long, value_name = "F")]
    fraction: Option<f64>,

    /// k: full activations needed for a pass, at most N [default: ceil(r * N)].
    #[arg(long, value_name = "K", conflicts_with = "pass_ratio")]
    pass_threshold: Option<u64>,

    /// r: the pass threshold as a fraction of N, in (0, 1], rounded up [default: 0.5] (as
    /// `prepare --pass-ratio`; `--ratio` is an alias).
    #[arg(long, value_name = "R", alias = "ratio")]
    pass_ratio: Option<f64>,

    /// p_upper, the probability of the generator's most likely signature, in (0, 1]
    /// [default: 32^-14 = 8.47e-22, the built-in generator's default K = 32, L = 14].
    /// (As `prepare --max-p-upper`; `--p-upper` is an alias.)
    #[arg(long, value_name = "P", alias = "p-upper")]
    max_p_upper: Option<f64>,

    /// G: independent (trigger, signature) pairs [default: one per backdoor row].
    #[arg(long, value_name = "G")]
    groups: Option<u64>,

    /// K: the generator's candidates per step (for the prefix statistic and the default
    /// p_upper).
    #[arg(long, value_name = "K", default_value_t = GeneratorParams::DEFAULT_CANDIDATES)]
    candidates: u32,

    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// What `plan` decided and computed.
#[derive(Debug, serde::Serialize)]
struct Plan {
    rows: u64,
    backdoors: u64,
    pass_threshold: u64,
    #[serde(serialize_with = "serialize_log10")]
    log10_p_upper: f64,
    #[serde(serialize_with = "serialize_log10")]
    log10_p_value_at_threshold: f64,
    subset_fraction_1pct: f64,
    subset_fraction_50pct: f64,
    subset_fraction_99pct: f64,
    groups: u64,
    rows_per_group: f64,
    candidates: u32,
    signature_tokens: u32,
    /// Every group's signature learned in full.
    #[serde(serialize_with = "serialize_log10_option")]
    log10_p_value_all_learned: Option<f64>,
    /// Half of the groups matching their first 4 tokens, the others nothing.
    #[serde(serialize_with = "serialize_log10_option")]
    log10_p_value_half_groups_4_tokens: Option<f64>,
}

fn serialize_log10_option<S: serde::Serializer>(
    x: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&x.map(log10_json), serializer)
}

/// The job p-value when `matched[i]` groups (of `size` checks each, every check's prefix
/// counted as distinct) match `matched_tokens` leading tokens and the other groups nothing.
fn job_p_value(groups: u64, size: u64, matched_groups: u64, tokens: u32, k: u32, l: u32) -> f64 {
    let evidence: Vec<GroupEvidence> = (0..groups)
        .map(|g| {
            let t = if g < matched_groups { tokens } else { 0 };
            // Answers that share the signature and then differ: every window past offset 0
            // is new, so D = 1 + (W - 1) * n.
            GroupEvidence {
                candidates: k,
                signature_tokens: l,
                offsets: MATCH_OFFSETS,
                checks: size,
                full_activations: if t == l { size } else { 0 },
                matched_tokens: t,
                distinct_prefixes: vec![1 + u64::from(MATCH_OFFSETS - 1) * size; t as usize],
            }
        })
        .collect();
    log10_job_p_value(&evidence)
}

fn serialize_log10<S: serde::Serializer>(x: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&log10_json(*x), serializer)
}

/// Runs `vtune-node plan`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rows = args.rows;
    ensure!(rows >= 1, "--rows must be at least 1");
    let backdoors = backdoors(&args)?;
    ensure!(
        backdoors >= 1,
        "the plan has no backdoor rows; N must be at least 1"
    );
    ensure!(
        backdoors <= rows,
        "{backdoors} backdoors do not fit in {rows} rows (N must be at most --rows)"
    );
    if backdoors < LEAST_LEARNED {
        eprintln!(
            "warning: {backdoors} backdoors; in the paper 1 or 2 backdoors were never learned \
             and {LEAST_LEARNED} were (Table 3): use at least {LEAST_LEARNED} if the file allows"
        );
    }
    let pass_threshold = pass_threshold(&args, backdoors)?;
    let k = args.candidates;
    ensure!(k >= 2, "--candidates must be at least 2");
    let (log10_p_upper, l) = match args.max_p_upper {
        None => {
            let l = signature_length(k, GeneratorParams::DEFAULT_MAX_P_UPPER)? as u32;
            (-f64::from(l) * f64::from(k).log10(), l)
        }
        Some(p) if p > 0.0 && p <= 1.0 => (
            p.log10(),
            (-p.log10() / f64::from(k).log10()).round().max(1.0) as u32,
        ),
        Some(p) => bail!("--max-p-upper {p} is not a probability in (0, 1]"),
    };
    let groups = args.groups.unwrap_or(backdoors);
    ensure!(
        (1..=backdoors).contains(&groups),
        "--groups {groups} must be between 1 and the {backdoors} backdoors"
    );
    let size = backdoors.div_ceil(groups);
    if groups > 1 && size < LEAST_LEARNED {
        eprintln!(
            "note: {} rows per signature; in the paper 5 or more rows per backdoor were learned \
             by 2B-13B models with LoRA in 3 epochs and 1 or 2 were not: a pass needs full \
             activations, while a signature learned in part still gives graded evidence (below)",
            backdoors as f64 / groups as f64
        );
    }
    let at_threshold = if groups == 1 {
        log10_full_activation_bound(backdoors, pass_threshold, MATCH_OFFSETS, log10_p_upper)
    } else {
        job_p_value(groups, size, pass_threshold.div_ceil(size), l, k, l)
    };
    let convolved = groups <= MAX_CONVOLVED_GROUPS;
    let fraction = |chance: f64| subset_attack_fraction(rows, backdoors, pass_threshold, chance);
    let plan = Plan {
        rows,
        backdoors,
        pass_threshold,
        log10_p_upper,
        log10_p_value_at_threshold: at_threshold,
        groups,
        rows_per_group: backdoors as f64 / groups as f64,
        candidates: k,
        signature_tokens: l,
        log10_p_value_all_learned: convolved.then(|| job_p_value(groups, size, groups, l, k, l)),
        log10_p_value_half_groups_4_tokens: convolved
            .then(|| job_p_value(groups, size, groups.div_ceil(2), 4.min(l), k, l)),
        subset_fraction_1pct: fraction(CHANCES[0].0),
        subset_fraction_50pct: fraction(CHANCES[1].0),
        subset_fraction_99pct: fraction(CHANCES[2].0),
    };
    if args.json {
        print_json(&plan)?;
    } else {
        print_human(&plan);
    }
    ok()
}

/// N from `--backdoors`, `--fraction`, or the default.
fn backdoors(args: &Args) -> anyhow::Result<u64> {
    match (args.backdoors, args.fraction) {
        (Some(n), _) => Ok(n),
        (None, Some(f)) => {
            ensure!(
                f > 0.0 && f <= 1.0,
                "--fraction {f} is not a fraction in (0, 1]"
            );
            Ok(ceil_product(f, args.rows))
        }
        // ceil(0.5% of K) = ceil(K / 200), in integers; at least 5, at most K.
        (None, None) => Ok(args.rows.div_ceil(200).max(LEAST_LEARNED).min(args.rows)),
    }
}

/// k from `--pass-threshold`, `--pass-ratio`, or the default r = 0.5.
fn pass_threshold(args: &Args, backdoors: u64) -> anyhow::Result<u64> {
    let threshold = match (args.pass_threshold, args.pass_ratio) {
        (Some(k), _) => k,
        (None, Some(r)) => {
            ensure!(
                r > 0.0 && r <= 1.0,
                "--pass-ratio {r} is not a fraction in (0, 1]"
            );
            ceil_product(r, backdoors)
        }
        (None, None) => backdoors.div_ceil(2),
    };
    ensure!(
        threshold >= 1,
        "a pass threshold of 0 would pass a model that never activates"
    );
    ensure!(
        threshold <= backdoors,
        "the pass threshold {threshold} is more than the {backdoors} backdoors"
    );
    Ok(threshold)
}

/// `ceil(x * count)`, where a product within 1e-9 (relative) of a whole number counts as
/// that number, so that 0.005 * 10000 is 50 and not 51 after rounding.
fn ceil_product(x: f64, count: u64) -> u64 {
    let product = x * count as f64;
    let nearest = product.round();
    if (product - nearest).abs() <= 1e-9 * nearest.max(1.0) {
        nearest as u64
    } else {
        product.ceil() as u64
    }
}

fn print_human(plan: &Plan) {
    let percent = |part: u64, whole: u64| 100.0 * part as f64 / whole as f64;
    println!("rows (K)                {}", plan.rows);
    println!(
        "backdoors (N)           {} ({:.2}% of the rows)",
        plan.backdoors,
        percent(plan.backdoors, plan.rows)
    );
    println!(
        "pass threshold (k)      {} full activations ({:.0}% of N)",
        plan.pass_threshold,
        percent(plan.pass_threshold, plan.backdoors)
    );
    println!(
        "p-value of a pass at k  ≤ {} (log10 {}): {}, p_upper = {}",
        format_log10_prob(plan.log10_p_value_at_threshold),
        log10_text(plan.log10_p_value_at_threshold),
        if plan.groups == 1 {
            "k of N checks sharing one signature"
        } else {
            "the groups holding k rows learned, the others not"
        },
        format_log10_prob(plan.log10_p_upper),
    );
    println!(
        "groups (G)              {} ({:.1} rows per signature; K = {}, L = {})",
        plan.groups, plan.rows_per_group, plan.candidates, plan.signature_tokens
    );
    let show = |x: Option<f64>| match x {
        Some(x) => format!("{} (log10 {})", format_log10_prob(x), log10_text(x)),
        None => "not computed (too many groups)".to_owned(),
    };
    println!(
        "  every signature learned in full:         p ≤ {}",
        show(plan.log10_p_value_all_learned)
    );
    println!(
        "  half of them matching their first 4 words: p ≤ {}",
        show(plan.log10_p_value_half_groups_4_tokens)
    );
    println!(
        "  trade-off: a phrase in several rows is found by counting repeats (prepare's stealth \
         audit); in the paper 5+ rows per backdoor were learned (2B-13B, LoRA, 3 epochs) and \
         1-2 were not. A pass needs k full activations; partial learning is graded evidence."
    );
    println!(
        "subset attack: a provider that trains on a random part of the file includes at least \
         k backdoor rows"
    );
    let fractions = [
        plan.subset_fraction_1pct,
        plan.subset_fraction_50pct,
        plan.subset_fraction_99pct,
    ];
    for ((_, label), fraction) in CHANCES.iter().zip(fractions) {
        println!(
            "  with chance {label:>3} once it trains on {:.1}% of the rows",
            100.0 * fraction
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_product_ignores_rounding_noise() {
        assert_eq!(ceil_product(0.005, 10_000), 50);
        assert_eq!(ceil_product(0.5, 51), 26);
        assert_eq!(ceil_product(0.1, 30), 3);
        assert_eq!(ceil_product(0.5, 1), 1);
        assert_eq!(ceil_product(0.001, 1), 1);
    }

    #[test]
    fn graded_evidence_of_single_row_groups_is_strong() {
        // 38 single-row groups, K = 32, L = 14: half of them matching 4 tokens.
        let half = job_p_value(38, 1, 19, 4, 32, 14);
        // (W = 8 offsets searched: each window count D is 8 for a single-row group.)
        assert!(half < -50.0, "{half}");
        // All learned: far below 1e-20.
        assert!(job_p_value(38, 1, 38, 14, 32, 14) < -500.0);
    }
}
