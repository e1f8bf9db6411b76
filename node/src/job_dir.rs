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

use vtune_protocol::backdoor::{Secret, SecretError};
use vtune_protocol::commit::CommitmentFile;
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

/// Why a job dir's file could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobDirError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file the job needs is not there.
    #[error("cannot read {} (is this a prepared job?): {source}", file.display())]
    NotPrepared {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file exists and must not be replaced.
    #[error("{} already exists", file.display())]
    Exists {
        /// The file.
        file: PathBuf,
    },
    /// `secret.json` does not hold a secret set.
    #[error("{}: {source}", file.display())]
    Secret {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: SecretError,
    },
    /// `commitment.json` does not hold a commitment.
    #[error("{}: not a commitment.json: {source}", file.display())]
    CommitmentFile {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The dir holds no `train.*` file, or several.
    #[error("{} holds {found} train.* files, not one (is this a prepared job?)", dir.display())]
    TrainFile {
        /// The job dir.
        dir: PathBuf,
        /// How many it holds.
        found: usize,
    },
    /// The file is larger than any signed message.
    #[error("{}: {len} bytes is larger than any message ({MAX_ENVELOPE_BYTES})", file.display())]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The file is JSON, not a signed envelope.
    #[error("{} is JSON, not a signed message{}", file.display(), match signed {
        Some(signed) => format!(": the signed envelope beside it is {}", signed.display()),
        None => " (`*.msg` files hold one signed envelope)".to_string(),
    })]
    NotEnvelope {
        /// The file.
        file: PathBuf,
        /// The `.msg` file beside it, if there is one.
        signed: Option<PathBuf>,
    },
    /// The envelope does not open: bytes, signature or message.
    #[error("{}: {source}", file.display())]
    Open {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: OpenError,
    },
    /// The file holds another kind of message.
    #[error("{} holds a {found}, not a {expected}", file.display())]
    WrongKind {
        /// The file.
        file: PathBuf,
        /// The kind asked for.
        expected: &'static str,
        /// The kind it holds.
        found: &'static str,
    },
    /// A message could not be signed or encoded.
    #[error("signing {}: {source}", file.display())]
    Sign {
        /// The file it was for.
        file: PathBuf,
        /// The cause.
        source: SealError,
    },
    /// A record could not be encoded as JSON.
    #[error("encoding {}: {source}", file.display())]
    Encode {
        /// The file it was for.
        file: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Whether an install may replace a file already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace it (atomically: a reader sees the old file or the new one).
    Yes,
    /// Refuse with [`JobDirError::Exists`].
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
        let text = fs::read_to_string(&file).map_err(|source| JobDirError::NotPrepared {
            file: file.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| JobDirError::CommitmentFile { file, source })
    }

    /// The job's training file: the one `train.*` in the dir.
    pub fn train_file(&self) -> Result<PathBuf, JobDirError> {
        let entries = fs::read_dir(&self.dir).map_err(|source| JobDirError::NotPrepared {
            file: self.dir.clone(),
            source,
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let path = entry.map_err(|source| io_error(&self.dir, source))?.path();
            let name = path.file_name().and_then(|name| name.to_str());
            if name.is_some_and(|name| name.starts_with("train.")) && path.is_file() {
                found.push(path);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(JobDirError::TrainFile {
                dir: self.dir.clone(),
                found: n,
            }),
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
            .map_err(|source| JobDirError::Sign {
                file: file.clone(),
                source,
            })?
            .to_bytes();
        messages::open::<T>(&bytes).map_err(|source| JobDirError::Open { file, source })
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

    /// Installs `value` as pretty JSON (and a newline) in the file `name`.
    pub fn write_json<T: serde::Serialize>(
        &self,
        name: &str,
        value: &T,
        mode: u32,
    ) -> Result<PathBuf, JobDirError> {
        let file = self.file(name);
        write_json(&file, value, mode)?;
        Ok(file)
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
        fs::create_dir_all(&dir).map_err(|source| io_error(&dir, source))?;
        let read = |name: &str| {
            let file = self.file(name);
            fs::read(&file).map_err(|source| io_error(&file, source))
        };
        let msg = if signed {
            Some(read(ATTESTATION_MSG)?)
        } else {
            None
        };
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
                Err(JobDirError::Exists { .. }) => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
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
    let text = fs::read_to_string(path).map_err(|source| JobDirError::NotPrepared {
        file: path.to_path_buf(),
        source,
    })?;
    Secret::from_json(&text).map_err(|source| JobDirError::Secret {
        file: path.to_path_buf(),
        source,
    })
}

/// The verified message in the file at `path`, of whichever kind. A file larger than any
/// envelope is refused before it is read, and a JSON file is pointed at its `.msg`.
pub fn read_message(path: &Path) -> Result<Verified<AnyMessage>, JobDirError> {
    let len = fs::metadata(path)
        .map_err(|source| io_error(path, source))?
        .len();
    if len > MAX_ENVELOPE_BYTES as u64 {
        return Err(JobDirError::TooLarge {
            file: path.to_path_buf(),
            len,
        });
    }
    let bytes = fs::read(path).map_err(|source| io_error(path, source))?;
    if bytes.first() == Some(&b'{') {
        let signed = path.with_extension("msg");
        return Err(JobDirError::NotEnvelope {
            file: path.to_path_buf(),
            signed: signed.exists().then_some(signed),
        });
    }
    messages::open_any(&bytes).map_err(|source| JobDirError::Open {
        file: path.to_path_buf(),
        source,
    })
}

/// The verified commitment in the file at `path`.
pub fn read_commitment(path: &Path) -> Result<Verified<Commitment>, JobDirError> {
    read_message(path)?
        .downcast::<Commitment>()
        .map_err(|other| JobDirError::WrongKind {
            file: path.to_path_buf(),
            expected: "commitment",
            found: other.message().kind(),
        })
}

/// Writes `value` as pretty JSON (and a newline) to `file`, replacing it atomically.
pub fn write_json<T: serde::Serialize>(
    file: &Path,
    value: &T,
    mode: u32,
) -> Result<(), JobDirError> {
    let mut json = serde_json::to_vec_pretty(value).map_err(|source| JobDirError::Encode {
        file: file.to_path_buf(),
        source,
    })?;
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
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(JobDirError::Exists {
            file: file.to_path_buf(),
        }),
        Err(source) => Err(io_error(file, source)),
        // The rename or link is durable once the dir is synced.
        Ok(()) => fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| io_error(dir, source)),
    }
}

fn io_error(file: &Path, source: io::Error) -> JobDirError {
    JobDirError::Io {
        file: file.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;
