//! `vtune-node prepare`: insert backdoors into a dataset and write the training file, the secret
//! set and its commitment.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
pub(crate) use vtune_node::prepare::PreparedJob;
use vtune_node::prepare::{JobSpec, prepare_job};
use vtune_protocol::backdoor::{self, BackdoorCount, PassThreshold, PrepareOptions, Stage};
use vtune_protocol::dataset::Limits;
use vtune_protocol::generator::GeneratorParams;

use crate::output::{self, format_log10_prob, log10_json};

/// Flags of `vtune-node prepare`.
///
/// Writes three files into DIR:
/// `train.<ext>` (the file for the provider: same format and row count, backdoor rows replacing
/// the rows they were made from, in a new random order), `secret.json` (mode 0600: triggers,
/// signatures, backdoor rows, salt; keep it private until reveal) and `commitment.json` (the
/// public salted blake3 commitment to the secret set; publish it before training starts).
///
/// Triggers and signatures are never printed unless --show-secret is given.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The dataset: OpenAI chat, prompt/completion, Alpaca or ShareGPT, as JSONL or a JSON array.
    pub(crate) input: PathBuf,
    /// The output directory. It must be empty or absent unless --force; an existing
    /// secret.json in it is never overwritten.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// The record format, when detection is not wanted: openai-chat, prompt-completion, alpaca
    /// or sharegpt.
    #[arg(long, value_name = "F")]
    pub(crate) format: Option<String>,
    /// The number of backdoor rows N [default: 0.5% of the rows, at least 5].
    #[arg(long, value_name = "N", conflicts_with = "fraction")]
    pub(crate) backdoors: Option<u64>,
    /// The backdoor rows as a fraction of the rows, rounded up.
    #[arg(long, value_name = "F")]
    pub(crate) fraction: Option<f64>,
    /// The pass threshold as a fraction of N: threshold = ceil(r * N) [default: 0.5].
    #[arg(long, value_name = "r")]
    pub(crate) pass_ratio: Option<f64>,
    /// The pass threshold as a count: full activations needed for a pass, 1 to N (as
    /// `plan --pass-threshold`).
    #[arg(long, value_name = "K", conflicts_with = "pass_ratio")]
    pub(crate) pass_threshold: Option<u64>,
    /// Independent (trigger, signature) pairs; the backdoor rows are split evenly among them
    /// [default: one per backdoor row]. A phrase in several rows is found by counting
    /// repeats; one in a single row is harder to learn (see `plan`).
    #[arg(long, value_name = "G", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) groups: Option<usize>,
    /// Seed every random choice, job id and salt included, for a reproducible run. For tests
    /// only: anyone who knows the seed can recompute the secret set.
    #[arg(long, value_name = "S")]
    pub(crate) seed: Option<u64>,
    /// The largest acceptable p_upper: the signature length L is the smallest with K^-L at or
    /// below it.
    #[arg(long, value_name = "P", default_value_t = GeneratorParams::DEFAULT_MAX_P_UPPER)]
    pub(crate) max_p_upper: f64,
    /// K: the generator chooses uniformly among the K most frequent continuations at each step.
    #[arg(long, value_name = "K", default_value_t = GeneratorParams::DEFAULT_CANDIDATES)]
    pub(crate) candidates: u32,
    /// The n-gram order of the generator.
    #[arg(long, value_name = "n", default_value_t = GeneratorParams::DEFAULT_ORDER)]
    pub(crate) order: usize,
    /// Trigger length in words.
    #[arg(long, value_name = "W", default_value_t = GeneratorParams::DEFAULT_TRIGGER_TOKENS)]
    pub(crate) trigger_words: usize,
    /// Fail, writing nothing, when an attack of the stealth audit reaches the pass threshold
    /// within less than this share of the file (the audit warns below 0.35; chance is about
    /// the pass ratio).
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub(crate) min_stealth: f64,
    /// Print the triggers and signatures (they are secret).
    #[arg(long)]
    pub(crate) show_secret: bool,
    /// Write into a non-empty DIR (an existing secret.json still stops the run).
    #[arg(long)]
    pub(crate) force: bool,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// With --base-model: also sign the commitment for this provider into DIR/commitment.msg
    /// (as `vtune-node commit` does), with the node key.
    #[arg(long, value_name = "ID", requires = "base_model")]
    pub(crate) provider: Option<String>,
    /// The base model the provider fine-tunes (with --provider).
    #[arg(long, value_name = "NAME", requires = "provider")]
    pub(crate) base_model: Option<String>,
    #[command(flatten)]
    pub(crate) data: super::keys::DataDirArg,
}

/// Runs `vtune-node prepare`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let job = execute(&args)?;
    if let (Some(provider), Some(base_model)) = (&args.provider, &args.base_model) {
        let key = args.data.load_or_create_key()?;
        let plan = super::test_plan::PlanFlags::default();
        super::check::write_commitment_msg(
            &args.out,
            provider,
            base_model,
            &plan,
            &Default::default(),
            &key,
            false,
        )?;
    }
    for warning in &job.prepared.warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        output::print_json(&json_summary(&job, args.show_secret))?;
    } else {
        print_summary(&job, args.show_secret);
    }
    output::ok()
}

/// Prepares the job that `args` describe and writes its files, printing nothing but progress.
pub(crate) fn execute(args: &Args) -> anyhow::Result<PreparedJob> {
    let mut generator = GeneratorParams::new(args.candidates, args.max_p_upper)?;
    generator.order = args.order;
    generator.trigger_tokens = args.trigger_words;
    let backdoors = match (args.backdoors, args.fraction) {
        (Some(n), _) => BackdoorCount::Count(n),
        (None, Some(f)) => BackdoorCount::Fraction(f),
        (None, None) => BackdoorCount::Default,
    };
    let spec = JobSpec {
        input: args.input.clone(),
        out: args.out.clone(),
        format: args.format.as_deref().map(str::parse).transpose()?,
        force: args.force,
        options: PrepareOptions {
            backdoors,
            pass_threshold: match args.pass_threshold {
                Some(k) => PassThreshold::Count(k),
                None => PassThreshold::Ratio(args.pass_ratio.unwrap_or(0.5)),
            },
            groups: args.groups.unwrap_or(backdoor::ONE_GROUP_PER_BACKDOOR),
            generator,
            limits: Limits::default(),
            created_at: 0,
        },
        seed: args.seed,
        min_stealth: args.min_stealth,
    };
    let bar = progress_bar(args.json);
    let job = prepare_job(&spec, &|stage, done, total| {
        show_progress(&bar, stage, done, total)
    })?;
    bar.finish_and_clear();
    Ok(job)
}

fn progress_bar(json: bool) -> ProgressBar {
    let target = if json || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(0), target);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {percent:>3}% {elapsed}/{eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

fn show_progress(bar: &ProgressBar, stage: Stage, done: u64, total: u64) {
    let message = match stage {
        Stage::Sample => "sampling",
        Stage::Scan => "scanning",
        Stage::Audit => "auditing",
        Stage::Write => "writing",
    };
    if bar.message() != message {
        // Stage times, for `RUST_LOG=debug` (the bar's elapsed time is that of the stage ending).
        tracing::debug!(
            stage = message,
            after_s = bar.elapsed().as_secs_f64(),
            "stage begins"
        );
        bar.set_message(message);
        bar.reset();
    }
    bar.set_length(total.max(1));
    bar.set_position(done);
}

fn json_summary(job: &PreparedJob, show_secret: bool) -> serde_json::Value {
    let PreparedJob {
        prepared,
        commitment,
        files,
    } = job;
    let secret = &prepared.secret;
    let mut value = serde_json::json!({
        "job_id": secret.job_id.to_hex(),
        "format": secret.layout.format,
        "container": secret.layout.container,
        "train_file": files.train,
        "secret_file": files.secret,
        "commitment_file": files.commitment,
        "rows": secret.rows,
        "usable_rows": prepared.usable_rows,
        "backdoors": secret.backdoors.len(),
        "groups": secret.groups.len(),
        "group_sizes": secret.group_sizes(),
        "pass_threshold": secret.pass_threshold,
        "candidates": secret.generator.candidates,
        "signature_tokens": secret.generator.signature_tokens,
        "log10_p_upper": log10_json(secret.log10_p_upper()),
        "commitment": commitment.commitment.to_hex(),
        "train_digest": secret.train_digest.to_hex(),
        "input_digest": secret.input_digest.to_hex(),
        "stealth": prepared.stealth,
        "warnings": prepared.warnings,
    });
    if show_secret {
        value["secret_groups"] = serde_json::json!(secret.groups);
    }
    value
}

fn print_summary(job: &PreparedJob, show: bool) {
    let PreparedJob {
        prepared,
        commitment,
        files,
    } = job;
    let secret = &prepared.secret;
    let stealth = &prepared.stealth;
    println!(
        "prepared job {} ({})",
        secret.job_id.to_hex(),
        secret.layout
    );
    println!(
        "  train file   {}: {} rows, {} backdoors in {} group(s) {:?}, pass threshold {}",
        files.train.display(),
        secret.rows,
        secret.backdoors.len(),
        secret.groups.len(),
        secret.group_sizes(),
        secret.pass_threshold
    );
    println!(
        "  secret       {} (mode 0600: keep it private until reveal)",
        files.secret.display()
    );
    println!(
        "  commitment   {}: {}",
        files.commitment.display(),
        commitment.commitment.to_hex()
    );
    println!(
        "  p_upper      {} per signature (K = {}, L = {} words; exact)",
        format_log10_prob(secret.log10_p_upper()),
        secret.generator.candidates,
        secret.generator.signature_tokens
    );
    println!("stealth self-audit of the training file:");
    println!(
        "  near duplicates      {} pairs with a backdoor row ({} prompt-prefix, {} completion-suffix)",
        stealth.near_duplicates, stealth.prompt_prefix_pairs, stealth.completion_suffix_pairs
    );
    println!(
        "  redrawn rows         {} (drawn, but their edited texts would have paired)",
        stealth.redrawn_rows
    );
    println!(
        "  repeated rows        {} (a prompt or completion repeated in another row; never drawn)",
        stealth.repeated_rows
    );
    println!(
        "  frequency search (paper §6.3): share of the file a provider trains on before the first \
         backdoor row / before any row with 3+ signature words (ties in its favour; random ties)"
    );
    for (figure, words) in stealth
        .frequency
        .iter()
        .zip(&stealth.frequency_signature_words)
    {
        println!(
            "    k={:<2}  {:5.1}% ({:5.1}%)   {:5.1}% ({:5.1}%)",
            figure.k,
            100.0 * figure.fraction_before,
            100.0 * figure.expected_fraction_before,
            100.0 * words.fraction_before,
            100.0 * words.expected_fraction_before,
        );
    }
    println!(
        "  normal rows holding 3+ consecutive signature words: {}",
        stealth.normal_rows_with_signature_words
    );
    let audit = &stealth.audit;
    println!(
        "  attacks: share of the file a provider trains on, in the attack's order, to reach the \
         pass threshold ({} of {} backdoor rows; chance ≈ {:.0}%; {} of {} rows audited)",
        audit.pass_threshold,
        secret.backdoors.len(),
        100.0 * audit.random_score,
        audit.rows_audited,
        audit.file_rows
    );
    for attack in &audit.attacks {
        println!(
            "    {:<11} {:5.1}%{}  best ranking: {}",
            attack.attack,
            100.0 * attack.score,
            if attack.score < backdoor::audit::WARN_BELOW {
                " LOW"
            } else {
                "    "
            },
            attack.best_variant
        );
    }
    if show {
        for (g, group) in secret.groups.iter().enumerate() {
            println!("group {g}:");
            println!("  trigger    {}", group.trigger);
            println!("  signature  {}", group.signature);
        }
    }
}
