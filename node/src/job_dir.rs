//! A job's directory: the names of its files, and reading and writing them.
//!
//! `prepare` writes `secret.json` (0600), `commitment.json` and `train.*`; `commit` adds the
//! signed `commitment.msg`; `verify` writes `transcript.jsonl` (0600), `attestation.json`,
//! the signed `attestation.msg`, and keeps every run in `attestations/<created_at>-<id>.*`;
//! `seal` writes `sealed.msg` and `reveal` the private `reveal.msg`. A `.msg` file holds one
//! signed envelope. Every file is installed atomically: written to a temporary file in the
//! same dir, synced, and renamed (or linked, where an existing file must not be replaced).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

mod check;

use vtune_protocol::commit::CommitmentFile;
use vtune_protocol::commit::{Secret, SecretError};
use vtune_protocol::envelope::{Envelope, Verified};
use vtune_protocol::messages::{
    self, AnyMessage, Commitment, MAX_ENVELOPE_BYTES, Message, MessageId, OpenError, SealError,
};

pub use check::{CheckError, Checked, check_file};

/// The secret set (0600), from `prepare`.
pub const SECRET_JSON: &str = "secret.json";
/// The unsigned commitment, from `prepare`.
pub const COMMITMENT_JSON: &str = "commitment.json";
/// The signed commitment.
pub const COMMITMENT_MSG: &str = "commitment.msg";
/// The latest run's public, unsigned attestation.
pub const ATTESTATION_JSON: &str = "attestation.json";
/// The latest run's signed attestation.
pub const ATTESTATION_MSG: &str = "attestation.msg";
/// The dir that keeps every run's attestation.
pub const ATTESTATIONS: &str = "attestations";
/// The latest run's requests and answers (0600: they hold the triggers).
pub const TRANSCRIPT: &str = "transcript.jsonl";
/// The secret set sealed to the commitment's witnesses.
pub const SEALED_MSG: &str = "sealed.msg";
/// The signed reveal of the secret set (0600 until published).
pub const REVEAL_MSG: &str = "reveal.msg";

/// Mode of a file that only its owner may read.
pub const PRIVATE: u32 = 0o600;
/// Mode of a file anyone may read.
pub const PUBLIC: u32 = 0o644;

/// Why a job dir's file could not be read or written: the file, and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct JobDirError {
    /// The file (or dir).
    pub file: PathBuf,
    /// What went wrong.
    pub problem: Problem,
}

/// What went wrong with a job dir's file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// Reading or writing it failed.
    #[error("{0}")]
    Io(io::Error),
    /// A file the job needs is not there.
    #[error("cannot read it (is this a prepared job?): {0}")]
    NotPrepared(io::Error),
    /// It exists and must not be replaced.
    #[error("already exists")]
    Exists,
    /// `secret.json` does not hold a secret set.
    #[error("{0}")]
    Secret(SecretError),
    /// `commitment.json` does not hold a commitment.
    #[error("not a commitment.json: {0}")]
    CommitmentFile(serde_json::Error),
    /// The dir holds no `train.*` file, or several (how many).
    #[error("holds {0} train.* files, not one (is this a prepared job?)")]
    TrainFiles(usize),
    /// It is larger than any signed message (its length).
    #[error("{0} bytes is larger than any message ({MAX_ENVELOPE_BYTES})")]
    TooLarge(u64),
    /// It is JSON, not a signed envelope; the `.msg` file beside it, if there is one.
    #[error("is JSON, not a signed message{}", match .0 {
        Some(signed) => format!(": the signed envelope beside it is {}", signed.display()),
        None => " (`*.msg` files hold one signed envelope)".to_string(),
    })]
    NotEnvelope(Option<PathBuf>),
    /// The envelope does not open: bytes, signature or message.
    #[error("{0}")]
    Open(OpenError),
    /// It holds another kind of message (found, expected).
    #[error("holds a {0}, not a {1}")]
    WrongKind(&'static str, &'static str),
    /// A message for it could not be signed.
    #[error("signing: {0}")]
    Sign(SealError),
    /// A record for it could not be encoded as JSON.
    #[error("encoding: {0}")]
    Encode(serde_json::Error),
}

impl JobDirError {
    /// `problem` with `file`.
    pub fn new(file: &Path, problem: Problem) -> Self {
        Self {
            file: file.to_path_buf(),
            problem,
        }
    }

    /// Whether the error is an existing file that must not be replaced.
    pub fn is_exists(&self) -> bool {
        matches!(self.problem, Problem::Exists)
    }
}

/// The text of a file that `prepare` writes.
fn read_prepared(file: &Path) -> Result<String, JobDirError> {
    fs::read_to_string(file).map_err(|e| JobDirError::new(file, Problem::NotPrepared(e)))
}

/// A closure that makes an I/O error of `file` into a [`JobDirError`].
fn io(file: &Path) -> impl FnOnce(io::Error) -> JobDirError + '_ {
    move |e| JobDirError::new(file, Problem::Io(e))
}

/// Whether an install may replace a file already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace it (atomically: a reader sees the old file or the new one).
    Yes,
    /// Refuse with [`Problem::Exists`].
    No,
}

/// A job's directory, as `prepare` made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDir {
    dir: PathBuf,
}

impl JobDir {
    /// The job dir at `dir` (nothing is read yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The dir itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The path of the file `name` in the dir.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether the file `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.file(name).exists()
    }

    /// The checked secret set of `secret.json`.
    pub fn secret(&self) -> Result<Secret, JobDirError> {
        read_secret(&self.file(SECRET_JSON))
    }

    /// The unsigned commitment of `commitment.json`.
    pub fn commitment_file(&self) -> Result<CommitmentFile, JobDirError> {
        let file = self.file(COMMITMENT_JSON);
        let text = read_prepared(&file)?;
        serde_json::from_str(&text).map_err(|e| JobDirError::new(&file, Problem::CommitmentFile(e)))
    }

    /// The job's training file: the one `train.*` in the dir.
    pub fn train_file(&self) -> Result<PathBuf, JobDirError> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| JobDirError::new(&self.dir, Problem::NotPrepared(e)))?;
        let mut found = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(&self.dir))?.path();
            let name = path.file_name().and_then(|name| name.to_str());
            if name.is_some_and(|name| name.starts_with("train.")) && path.is_file() {
                found.push(path);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(JobDirError::new(&self.dir, Problem::TrainFiles(n))),
        }
    }

    /// The verified signed commitment, `commitment.msg`.
    pub fn commitment(&self) -> Result<Verified<Commitment>, JobDirError> {
        read_commitment(&self.file(COMMITMENT_MSG))
    }

    /// Signs `message` with `key` for the file `name` (without writing it), and opens it as a
    /// reader of the file will.
    pub fn sign<T: Message>(
        &self,
        name: &str,
        message: &T,
        key: &ed25519_dalek::SigningKey,
    ) -> Result<Verified<T>, JobDirError> {
        let file = self.file(name);
        let bytes = Envelope::seal(message, key)
            .map_err(|e| JobDirError::new(&file, Problem::Sign(e)))?
            .to_bytes();
        messages::open::<T>(&bytes).map_err(|e| JobDirError::new(&file, Problem::Open(e)))
    }

    /// Installs a signed message as the file `name`.
    pub fn install_signed<T>(
        &self,
        name: &str,
        signed: &Verified<T>,
        mode: u32,
        replace: Replace,
    ) -> Result<(), JobDirError> {
        install(
            &self.file(name),
            &signed.envelope().to_bytes(),
            mode,
            replace,
        )
    }

    /// [`Self::sign`]s `message` and installs it as the file `name`.
    pub fn write_signed<T: Message>(
        &self,
        name: &str,
        message: &T,
        key: &ed25519_dalek::SigningKey,
        mode: u32,
        replace: Replace,
    ) -> Result<Verified<T>, JobDirError> {
        let signed = self.sign(name, message, key)?;
        self.install_signed(name, &signed, mode, replace)?;
        Ok(signed)
    }

    /// Keeps the latest run for good: copies `attestation.json` (and `attestation.msg`, when
    /// `signed`) to `attestations/<created_at>-<id>.{json,msg}`, where `id` starts the signed
    /// message's id (or `tag`, the transcript's blake3). No kept file is ever replaced: a
    /// second run in one second with the same answers gets `-2`, and so on. Returns the kept
    /// `.json`.
    pub fn keep_run(
        &self,
        created_at: u64,
        tag: &str,
        signed: bool,
    ) -> Result<PathBuf, JobDirError> {
        let dir = self.file(ATTESTATIONS);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let read = |name: &str| fs::read(self.file(name)).map_err(io(&self.file(name)));
        let msg = signed.then(|| read(ATTESTATION_MSG)).transpose()?;
        let json = read(ATTESTATION_JSON)?;
        let tag = match &msg {
            Some(bytes) => MessageId::of(bytes).to_string(),
            None => tag.to_string(),
        };
        let base = format!("{created_at}-{}", &tag[..16.min(tag.len())]);
        for n in 1.. {
            let stem = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let kept = dir.join(format!("{stem}.json"));
            match install(&kept, &json, PUBLIC, Replace::No) {
                Err(e) if e.is_exists() => continue,
                result => result?,
            }
            if let Some(msg) = &msg {
                install(&dir.join(format!("{stem}.msg")), msg, PUBLIC, Replace::No)?;
            }
            return Ok(kept);
        }
        unreachable!("some number is free")
    }
}

/// The checked secret set in the file at `path` (a job's `secret.json`).
pub fn read_secret(path: &Path) -> Result<Secret, JobDirError> {
    let text = read_prepared(path)?;
    Secret::from_json(&text).map_err(|e| JobDirError::new(path, Problem::Secret(e)))
}

/// The verified message in the file at `path`, of whichever kind. A file larger than any
/// envelope is refused before it is read, and a JSON file is pointed at its `.msg`.
pub fn read_message(path: &Path) -> Result<Verified<AnyMessage>, JobDirError> {
    let len = fs::metadata(path).map_err(io(path))?.len();
    if len > MAX_ENVELOPE_BYTES as u64 {
        return Err(JobDirError::new(path, Problem::TooLarge(len)));
    }
    let bytes = fs::read(path).map_err(io(path))?;
    if bytes.first() == Some(&b'{') {
        let signed = Some(path.with_extension("msg")).filter(|p| p.exists());
        return Err(JobDirError::new(path, Problem::NotEnvelope(signed)));
    }
    messages::open_any(&bytes).map_err(|e| JobDirError::new(path, Problem::Open(e)))
}

/// The verified commitment in the file at `path`.
pub fn read_commitment(path: &Path) -> Result<Verified<Commitment>, JobDirError> {
    read_message(path)?
        .downcast::<Commitment>()
        .map_err(|other| {
            JobDirError::new(
                path,
                Problem::WrongKind(other.message().kind(), "commitment"),
            )
        })
}

/// Writes `value` as pretty JSON (and a newline) to `file`, replacing it atomically.
pub fn write_json<T: serde::Serialize>(
    file: &Path,
    value: &T,
    mode: u32,
) -> Result<(), JobDirError> {
    let mut json =
        serde_json::to_vec_pretty(value).map_err(|e| JobDirError::new(file, Problem::Encode(e)))?;
    json.push(b'\n');
    install(file, &json, mode, Replace::Yes)
}

/// Installs `bytes` as `file` with `mode`: writes a temporary file in the same dir, syncs it,
/// and renames it over `file` ([`Replace::Yes`]) or links it to `file`, which fails if `file`
/// exists ([`Replace::No`]). A reader never sees a partly written file.
pub fn install(file: &Path, bytes: &[u8], mode: u32, replace: Replace) -> Result<(), JobDirError> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let written = (|| {
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        out.set_permissions(fs::Permissions::from_mode(mode))?;
        out.write_all(bytes)?;
        out.sync_all()
    })();
    let installed = written.and_then(|()| match replace {
        Replace::Yes => fs::rename(&temp, file),
        Replace::No => fs::hard_link(&temp, file),
    });
    if replace == Replace::No || installed.is_err() {
        let _ = fs::remove_file(&temp);
    }
    match installed {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(JobDirError::new(file, Problem::Exists))
        }
        Err(e) => Err(io(file)(e)),
        // The rename or link is durable once the dir is synced.
        Ok(()) => fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir)),
    }
}

#[cfg(test)]
mod tests;
