//! `vtune-node prepare`: insert backdoors into a dataset and write the training file, the secret
//! set and its commitment.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, IsTerminal, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vtune_protocol::backdoor::{
    self, BackdoorCount, Input, Output, PassThreshold, PrepareOptions, Prepared, Stage,
};
use vtune_protocol::commit::CommitmentFile;
use vtune_protocol::dataset::{self, Container, Format, Layout, Limits};
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
        output::print_json(&json_summary(
            &job.prepared,
            &job.commitment,
            &job.files,
            args.show_secret,
        ))?;
    } else {
        print_summary(&job.prepared, &job.commitment, &job.files, args.show_secret);
    }
    output::ok()
}

/// A prepared job: what `prepare` made and where it wrote it.
pub(crate) struct PreparedJob {
    /// The secret set and the self-audit.
    pub(crate) prepared: Prepared,
    /// The public commitment.
    pub(crate) commitment: CommitmentFile,
    /// The files written.
    pub(crate) files: Files,
}

/// Prepares the job that `args` describe and writes its files, printing nothing but progress.
pub(crate) fn execute(args: &Args) -> anyhow::Result<PreparedJob> {
    let input_name = args.input.display().to_string();
    let format = args
        .format
        .as_deref()
        .map(str::parse::<Format>)
        .transpose()?;
    let layout = detect_layout(&args.input, format)?;
    check_out_dir(&args.out, args.force)?;

    let mut generator = GeneratorParams::new(args.candidates, args.max_p_upper)?;
    generator.order = args.order;
    generator.trigger_tokens = args.trigger_words;
    let backdoors = match (args.backdoors, args.fraction) {
        (Some(n), _) => BackdoorCount::Count(n),
        (None, Some(f)) => BackdoorCount::Fraction(f),
        (None, None) => BackdoorCount::Default,
    };
    let created_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let options = PrepareOptions {
        backdoors,
        pass_threshold: match args.pass_threshold {
            Some(k) => PassThreshold::Count(k),
            None => PassThreshold::Ratio(args.pass_ratio.unwrap_or(0.5)),
        },
        groups: args.groups.unwrap_or(backdoor::ONE_GROUP_PER_BACKDOOR),
        generator,
        limits: Limits::default(),
        workers: scan_workers(),
        created_at,
    };
    let mut rng = match args.seed {
        Some(seed) => ChaCha20Rng::seed_from_u64(seed),
        None => ChaCha20Rng::from_rng(&mut rand::rng()),
    };

    // Everything is written into a fresh directory beside DIR and moved into place at the end,
    // so a failure leaves nothing behind.
    let parent = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create the parent of --out {}", args.out.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".vtune-prepare-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot write in {} (for --out)", parent.display()))?;
    let extension = args
        .input
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_owned)
        .unwrap_or_else(|| match layout.container {
            Container::Jsonl => "jsonl".into(),
            Container::JsonArray => "json".into(),
        });
    let train_name = format!("train.{extension}");

    let input = File::open(&args.input).with_context(|| format!("cannot open {input_name}"))?;
    let input_len = input
        .metadata()
        .with_context(|| format!("cannot read {input_name}"))?
        .len();
    // Read and written: the rows wait in it between the scan and the write.
    let train = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(staging.path().join(&train_name))
        .with_context(|| format!("cannot write {}", staging.path().display()))?;
    // The training file is about as long as the input.
    preallocate(&train, input_len);
    let hint_file = input
        .try_clone()
        .with_context(|| format!("cannot open {input_name}"))?;
    let bar = progress_bar(args.json);
    let scratch_dir = staging.path().to_path_buf();
    let mut scratch = move || tempfile::tempfile_in(&scratch_dir);
    // The training file goes to the disk while the rest is computed (each stretch of final
    // bytes as it is written; not the rows waiting in it), and is on the disk before the job is
    // reported (its digest is in the commitment).
    let prepared = std::thread::scope(|threads| {
        let (flush, flushes) = std::sync::mpsc::channel::<Range<u64>>();
        let train = &train;
        threads.spawn(move || {
            for range in flushes {
                start_writeback(train, range);
            }
        });
        let (hints, hinted) = std::sync::mpsc::channel::<Range<u64>>();
        let hint_file = &hint_file;
        threads.spawn(move || {
            // Each stretch is asked for once (the scan's hints repeat the sample's), and not
            // past the end of the file, which the hints near it run beyond.
            let mut asked = 0;
            for range in hinted {
                let (start, end) = (range.start.max(asked), range.end.min(input_len));
                if start < end {
                    read_in(hint_file, start..end);
                    asked = end;
                }
            }
        });
        let mut dataset = Dataset { file: input, hints };
        backdoor::prepare(
            &input_name,
            &mut dataset,
            layout,
            Output {
                file: train,
                written: &|range| {
                    let _ = flush.send(range);
                },
            },
            &options,
            &mut rng,
            &mut scratch,
            &mut |stage, done, total| show_progress(&bar, stage, done, total),
        )
    })?;
    train
        .sync_all()
        .with_context(|| format!("cannot write {train_name}"))?;
    bar.finish_and_clear();
    tracing::debug!(
        after_s = bar.elapsed().as_secs_f64(),
        rss_kb = memory_kb("VmRSS:"),
        peak_kb = memory_kb("VmHWM:"),
        "prepared"
    );

    // Signatures found in the data were redrawn, which raises every probability of the
    // signatures by up to 1 / (1 - G T p_upper) (specs/statistics.md, "Novelty redraws");
    // T is at most the input's token positions, fewer than half its bytes plus one.
    let secret = &prepared.secret;
    let positions = input_len / 2 + 1;
    let chance = secret.groups.len() as f64 * positions as f64 * 10f64.powf(secret.log10_p_upper());
    if chance > vtune_protocol::stats::MAX_COLLISION_CHANCE {
        anyhow::bail!(
            "with p_upper {:.2e} and {} groups, a drawn signature could occur in this data              (chance up to {chance:.2e} over {positions} token positions); signatures that do are              redrawn, and p-values would then no longer be exact. Lower --max-p-upper (or use              more --candidates) so that groups x positions x p_upper <= {:e}. Nothing was written.",
            10f64.powf(secret.log10_p_upper()),
            secret.groups.len(),
            vtune_protocol::stats::MAX_COLLISION_CHANCE
        );
    }

    let audit = &prepared.stealth.audit;
    if audit.min_score() < args.min_stealth {
        let failing: Vec<String> = audit
            .attacks
            .iter()
            .filter(|a| a.score < args.min_stealth)
            .map(|a| format!("{} {:.1}% ({})", a.attack, 100.0 * a.score, a.best_variant))
            .collect();
        bail!(
            "the stealth audit is below --min-stealth {}: {}; nothing was written ({})",
            args.min_stealth,
            failing.join(", "),
            prepared.warnings.join("; ")
        );
    }
    let secret = &prepared.secret;
    let commitment = CommitmentFile::of(secret);
    write_new_private(
        &staging.path().join("secret.json"),
        secret.to_json().as_bytes(),
    )?;
    fs::write(
        staging.path().join("commitment.json"),
        serde_json::to_string_pretty(&commitment)? + "\n",
    )?;
    install(staging.path(), &args.out, &train_name)?;

    let files = Files {
        train: args.out.join(&train_name),
        secret: args.out.join("secret.json"),
        commitment: args.out.join("commitment.json"),
    };
    Ok(PreparedJob {
        prepared,
        commitment,
        files,
    })
}

/// The dataset file. The stretches that `prepare` says it will read next go to `hints`, whose
/// thread asks the kernel to read them in ([`read_in`]): the pages not in memory then arrive
/// together, ahead of the scan, rather than each when the scan reaches it.
struct Dataset {
    file: File,
    hints: std::sync::mpsc::Sender<Range<u64>>,
}

impl Read for Dataset {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for Dataset {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Input for Dataset {
    fn read_exact_at_offset(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at_offset(buf, offset)
    }

    fn will_need(&self, range: Range<u64>) {
        let _ = self.hints.send(range); // The thread ends only after prepare.
    }
}

/// Asks the kernel to read `range` of `file` into memory, without waiting for it. Only a hint.
/// The kernel reads at most its read-ahead window per request, so the range goes in pieces of
/// 128 KiB, the smallest usual window; pieces already in memory cost a lookup.
fn read_in(file: &File, range: Range<u64>) {
    #[cfg(target_os = "linux")]
    for start in range.clone().step_by(128 << 10) {
        use std::os::fd::AsRawFd;
        let len = (range.end - start).min(128 << 10);
        if let (Ok(start), Ok(len)) = (libc::off_t::try_from(start), libc::off_t::try_from(len)) {
            // SAFETY: posix_fadvise reads no memory of ours; the descriptor is open.
            unsafe { libc::posix_fadvise(file.as_raw_fd(), start, len, libc::POSIX_FADV_WILLNEED) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, range);
}

/// Starts writing `range` of `file` to the disk, without waiting for it. Only a hint: errors
/// come back from the final sync.
fn start_writeback(file: &File, range: Range<u64>) {
    #[cfg(target_os = "linux")]
    if let (Ok(start), Ok(len)) = (
        libc::off64_t::try_from(range.start),
        libc::off64_t::try_from(range.end - range.start),
    ) {
        use std::os::fd::AsRawFd;
        // SAFETY: sync_file_range reads no memory of ours; the descriptor is open.
        unsafe { libc::sync_file_range(file.as_raw_fd(), start, len, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, range);
}

/// Reserves `len` bytes of disk for `file`, which makes writing it cheaper (the blocks are
/// allocated at once rather than page by page). Only a hint: a file system that cannot do it
/// leaves the file as it is, and a disk that is too full fails at the writes that follow.
fn preallocate(file: &File, len: u64) {
    #[cfg(target_os = "linux")]
    if let Ok(len @ 1..) = libc::off_t::try_from(len) {
        use std::os::fd::AsRawFd;
        // SAFETY: fallocate reads no memory of ours; the descriptor is open for writing.
        unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, len);
}

/// Threads that examine rows during the scan: one per core (the reading thread is light).
fn scan_workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

fn detect_layout(input: &Path, format: Option<Format>) -> anyhow::Result<Layout> {
    let name = input.display().to_string();
    let file = File::open(input).with_context(|| format!("cannot open {name}"))?;
    let reader = dataset::Reader::detect(&name, BufReader::new(file), format, Limits::default())?;
    Ok(reader.layout())
}

/// Refuses an existing secret.json always, and a non-empty DIR without --force.
fn check_out_dir(out: &Path, force: bool) -> anyhow::Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        bail!("--out {} exists and is not a directory", out.display());
    }
    if out.join("secret.json").exists() {
        bail!(
            "{} already holds a secret.json; it is never overwritten (choose another --out)",
            out.display()
        );
    }
    let mut entries =
        fs::read_dir(out).with_context(|| format!("cannot read --out {}", out.display()))?;
    if !force && entries.next().is_some() {
        bail!(
            "--out {} is not empty; use --force to write into it",
            out.display()
        );
    }
    Ok(())
}

/// Creates `path` with mode 0600 from the start, failing if it exists.
fn write_new_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Moves the staged files into `out`: the whole directory when `out` does not exist, else file
/// by file, secret.json without ever replacing an existing one.
fn install(staging: &Path, out: &Path, train_name: &str) -> anyhow::Result<()> {
    if !out.exists() {
        fs::rename(staging, out)
            .with_context(|| format!("cannot create --out {}", out.display()))?;
        return Ok(());
    }
    // hard_link fails if the target exists, so an existing secret.json is never replaced.
    fs::hard_link(staging.join("secret.json"), out.join("secret.json")).with_context(|| {
        format!(
            "cannot place secret.json in {} (it is never overwritten)",
            out.display()
        )
    })?;
    for name in [train_name, "commitment.json"] {
        fs::rename(staging.join(name), out.join(name))
            .with_context(|| format!("cannot write {}", out.join(name).display()))?;
    }
    Ok(())
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
            rss_kb = memory_kb("VmRSS:"),
            peak_kb = memory_kb("VmHWM:"),
            "stage begins"
        );
        bar.set_message(message);
        bar.reset();
    }
    bar.set_length(total.max(1));
    bar.set_position(done);
}

/// A memory figure of this process in KiB (Linux: `VmRSS:`, `VmHWM:`), for the debug log.
fn memory_kb(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The files of a prepared job.
pub(crate) struct Files {
    /// The training file for the provider.
    pub(crate) train: PathBuf,
    /// secret.json (0600).
    pub(crate) secret: PathBuf,
    /// commitment.json.
    pub(crate) commitment: PathBuf,
}

fn json_summary(
    prepared: &Prepared,
    commitment: &CommitmentFile,
    files: &Files,
    show_secret: bool,
) -> serde_json::Value {
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

fn print_summary(prepared: &Prepared, commitment: &CommitmentFile, files: &Files, show: bool) {
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Instant;

    use super::*;

    /// How many of `file`'s pages are in memory (`mincore` over a mapping of it).
    fn pages_in_memory(file: &File, len: usize) -> usize {
        use std::os::fd::AsRawFd;
        let pages = len.div_ceil(4096);
        let mut resident = vec![0u8; pages];
        // SAFETY: a fresh read-only shared mapping of the whole file, unmapped before return;
        // mincore writes one byte per page into `resident`, which has that many.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            assert_eq!(libc::mincore(map, len, resident.as_mut_ptr()), 0);
            libc::munmap(map, len);
        }
        resident.iter().filter(|&&r| r & 1 == 1).count()
    }

    #[test]
    fn read_in_brings_back_a_range_longer_than_the_read_ahead_window() {
        use std::os::fd::AsRawFd;
        let len = 64 << 20; // More than any usual read-ahead window.
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'x'; len]).unwrap();
        file.sync_all().unwrap();
        // SAFETY: a hint on an open descriptor.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let pages = len / 4096;
        if pages_in_memory(&file, len) > pages / 2 {
            eprintln!("SKIP: this file system keeps dropped pages in memory (tmpfs?)");
            return;
        }
        read_in(&file, 0..len as u64);
        // One request for the whole range would bring back one read-ahead window (8 MiB on the
        // development machine, an eighth of the file); a few pages may be taken back meanwhile.
        let wanted = pages * 95 / 100;
        let start = Instant::now();
        let mut resident = 0;
        while start.elapsed() < Duration::from_secs(20) {
            resident = pages_in_memory(&file, len);
            if resident >= wanted {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            resident >= wanted,
            "{resident} of {pages} pages in memory after read_in"
        );
    }
}
