//! A whole `prepare` job: the training file, `secret.json` (mode 0600) and `commitment.json`,
//! written into a fresh `.vtune-prepare-*` directory beside the output directory and moved into
//! place at the end, so that a failed run leaves nothing behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vtune_protocol::backdoor::{PrepareError, PrepareOptions, Prepared};
use vtune_protocol::commit::CommitmentFile;
use vtune_protocol::dataset::{self, Container, DatasetError, Format, Layout};
use vtune_protocol::stats::MAX_COLLISION_CHANCE;

use super::{Progress, prepare_file};

/// What to prepare, and where.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The dataset.
    pub input: PathBuf,
    /// The output directory: empty or absent unless `force`.
    pub out: PathBuf,
    /// The record format, when detection is not wanted.
    pub format: Option<Format>,
    /// Write into a non-empty `out` (an existing secret.json still stops the run).
    pub force: bool,
    /// The settings; `created_at` is set to the time of the run.
    pub options: PrepareOptions,
    /// Seeds every random choice, job id and salt included (tests only).
    pub seed: Option<u64>,
    /// Fail, writing nothing, when an attack of the audit scores below this.
    pub min_stealth: f64,
}

/// The files of a prepared job.
#[derive(Debug, Clone)]
pub struct JobFiles {
    /// The training file for the provider.
    pub train: PathBuf,
    /// secret.json (0600).
    pub secret: PathBuf,
    /// commitment.json.
    pub commitment: PathBuf,
}

/// A prepared job: what `prepare` made and where it wrote it.
#[derive(Debug, Clone)]
pub struct PreparedJob {
    /// The secret set and the self-audit.
    pub prepared: Prepared,
    /// The public commitment.
    pub commitment: CommitmentFile,
    /// The files written.
    pub files: JobFiles,
}

/// Why a job was not prepared. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The pipeline failed.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, on which path.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// The output directory, the settings or the audit stop the run.
    #[error("{0}")]
    Refused(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> JobError {
    let what = what.into();
    move |source| JobError::Io { what, source }
}

/// Prepares the job that `spec` describes and writes its files.
pub fn prepare_job(spec: &JobSpec, progress: Progress<'_>) -> Result<PreparedJob, JobError> {
    let input_name = spec.input.display().to_string();
    let open = || File::open(&spec.input).map_err(io_err(format!("cannot open {input_name}")));
    let layout = dataset::Reader::detect(
        &input_name,
        BufReader::new(open()?),
        spec.format,
        spec.options.limits,
    )?
    .layout();
    check_out_dir(&spec.out, spec.force)?;
    let mut options = spec.options.clone();
    options.created_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let mut rng = match spec.seed {
        Some(seed) => ChaCha20Rng::seed_from_u64(seed),
        None => ChaCha20Rng::from_rng(&mut rand::rng()),
    };

    let parent = match spec.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_err(format!(
        "cannot create the parent of --out {}",
        spec.out.display()
    )))?;
    let staging = tempfile::Builder::new()
        .prefix(".vtune-prepare-")
        .tempdir_in(&parent)
        .map_err(io_err(format!(
            "cannot write in {} (for --out)",
            parent.display()
        )))?;
    let train_name = format!("train.{}", extension(&spec.input, layout));
    let input = open()?;
    let train_path = staging.path().join(&train_name);
    let train = File::create_new(&train_path)
        .map_err(io_err(format!("cannot write {}", train_path.display())))?;
    let prepared = prepare_file(
        &input_name,
        &input,
        layout,
        &train,
        staging.path(),
        &options,
        &mut rng,
        progress,
    )?;
    // Its digest is in the commitment: it is on the disk before the job is reported.
    train
        .sync_all()
        .map_err(io_err(format!("cannot write {train_name}")))?;
    let input_len = input
        .metadata()
        .map_err(io_err(format!("cannot read {input_name}")))?
        .len();
    check_collision_chance(&prepared, input_len)?;
    check_stealth(&prepared, spec.min_stealth)?;

    let secret = &prepared.secret;
    let commitment = CommitmentFile::of(secret);
    write_new_private(
        &staging.path().join("secret.json"),
        secret.to_json().as_bytes(),
    )?;
    let commitment_json = serde_json::to_string_pretty(&commitment)
        .map_err(|err| JobError::Refused(format!("cannot encode the commitment: {err}")))?;
    fs::write(
        staging.path().join("commitment.json"),
        commitment_json + "\n",
    )
    .map_err(io_err("cannot write commitment.json"))?;
    install(staging.path(), &spec.out, &train_name)?;
    let files = JobFiles {
        train: spec.out.join(&train_name),
        secret: spec.out.join("secret.json"),
        commitment: spec.out.join("commitment.json"),
    };
    Ok(PreparedJob {
        prepared,
        commitment,
        files,
    })
}

/// The extension of the training file: the input's, else that of its container.
fn extension(input: &Path, layout: Layout) -> String {
    match input.extension().and_then(|e| e.to_str()) {
        Some(extension) => extension.to_owned(),
        None => match layout.container {
            Container::Jsonl => "jsonl".into(),
            Container::JsonArray => "json".into(),
        },
    }
}

/// Signatures found in the data were redrawn, which raises every probability of the signatures
/// by up to 1 / (1 - G T p_upper) (specs/statistics.md, "Novelty redraws"); T is at most the
/// input's token positions, fewer than half its bytes plus one.
fn check_collision_chance(prepared: &Prepared, input_len: u64) -> Result<(), JobError> {
    let secret = &prepared.secret;
    let positions = input_len / 2 + 1;
    let p_upper = 10f64.powf(secret.log10_p_upper());
    let chance = secret.groups.len() as f64 * positions as f64 * p_upper;
    if chance > MAX_COLLISION_CHANCE {
        return Err(JobError::Refused(format!(
            "with p_upper {p_upper:.2e} and {} groups, a drawn signature could occur in this data \
             (chance up to {chance:.2e} over {positions} token positions); signatures that do are \
             redrawn, and p-values would then no longer be exact. Lower --max-p-upper (or use \
             more --candidates) so that groups x positions x p_upper <= {MAX_COLLISION_CHANCE:e}. \
             Nothing was written.",
            secret.groups.len(),
        )));
    }
    Ok(())
}

/// Refuses a run whose audit found an attack below `min_stealth`.
fn check_stealth(prepared: &Prepared, min_stealth: f64) -> Result<(), JobError> {
    let audit = &prepared.stealth.audit;
    if audit.min_score() >= min_stealth {
        return Ok(());
    }
    let failing: Vec<String> = audit
        .attacks
        .iter()
        .filter(|a| a.score < min_stealth)
        .map(|a| format!("{} {:.1}% ({})", a.attack, 100.0 * a.score, a.best_variant))
        .collect();
    Err(JobError::Refused(format!(
        "the stealth audit is below --min-stealth {min_stealth}: {}; nothing was written ({})",
        failing.join(", "),
        prepared.warnings.join("; ")
    )))
}

/// Refuses an existing secret.json always, and a non-empty DIR without `force`.
fn check_out_dir(out: &Path, force: bool) -> Result<(), JobError> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(JobError::Refused(format!(
            "--out {} exists and is not a directory",
            out.display()
        )));
    }
    if out.join("secret.json").exists() {
        return Err(JobError::Refused(format!(
            "{} already holds a secret.json; it is never overwritten (choose another --out)",
            out.display()
        )));
    }
    let mut entries =
        fs::read_dir(out).map_err(io_err(format!("cannot read --out {}", out.display())))?;
    if !force && entries.next().is_some() {
        return Err(JobError::Refused(format!(
            "--out {} is not empty; use --force to write into it",
            out.display()
        )));
    }
    Ok(())
}

/// Creates `path` with mode 0600 from the start, failing if it exists.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    let what = || format!("cannot create {}", path.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(what()))?;
    file.write_all(bytes).map_err(io_err(what()))?;
    file.sync_all().map_err(io_err(what()))
}

/// Moves the staged files into `out`: the whole directory when `out` does not exist, else file
/// by file, secret.json without ever replacing an existing one.
fn install(staging: &Path, out: &Path, train_name: &str) -> Result<(), JobError> {
    if !out.exists() {
        return fs::rename(staging, out)
            .map_err(io_err(format!("cannot create --out {}", out.display())));
    }
    // hard_link fails if the target exists, so an existing secret.json is never replaced.
    fs::hard_link(staging.join("secret.json"), out.join("secret.json")).map_err(io_err(
        format!(
            "cannot place secret.json in {} (it is never overwritten)",
            out.display()
        ),
    ))?;
    for name in [train_name, "commitment.json"] {
        fs::rename(staging.join(name), out.join(name))
            .map_err(io_err(format!("cannot write {}", out.join(name).display())))?;
    }
    Ok(())
}
