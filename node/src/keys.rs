//! The node key: ed25519, stored 0600 in the data dir; the libp2p peer id derives from it.
//!
//! The key file (`node.key` in the data dir) holds the 32-byte ed25519 seed as 64 lowercase
//! hex digits and a newline. It is created with mode 0600 and refused if anyone but its
//! owner may read it. A file that does not parse is an error: it is never replaced silently.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use libp2p::PeerId;
use libp2p::identity::Keypair;
use vtune_protocol::messages::PublicKey;

use crate::job_dir::{PRIVATE, Problem, Replace, install};

/// The key file's name inside the data dir.
pub const KEY_FILE: &str = "node.key";

/// The data dir's name under the platform data dir.
const APP_DIR: &str = "vtune-node";

/// Why the node key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No data dir given, and neither `$XDG_DATA_HOME` nor `$HOME` is set.
    #[error("no data dir given, and neither XDG_DATA_HOME nor HOME is set")]
    NoDataDir,
    /// Reading or writing the key file or data dir failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or dir.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key file may be read by others than its owner.
    #[error(
        "key file {path} has mode {mode:03o}, so others may read the node's secret key; \
         make it private with `chmod 600 {path}`"
    )]
    LoosePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold a key.
    #[error(
        "key file {path} is corrupt ({reason}); it was left as it is: \
         restore it from a backup, or move it away and run `vtune-node keygen`"
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `keygen` without `--force` found a key already there.
    #[error("key file {0} already exists (replacing it loses the old identity)")]
    Exists(PathBuf),
}

/// This node's identity: an ed25519 signing key.
#[derive(Clone)]
pub struct NodeKey {
    signing: SigningKey,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", self.public().fmt_short())
    }
}

impl NodeKey {
    /// The key with this 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        Self::from_seed(seed)
    }

    /// The ed25519 signing key, for sealing envelopes.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key, as it appears in messages.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The same key as a libp2p identity keypair.
    pub fn libp2p_keypair(&self) -> Keypair {
        Keypair::ed25519_from_bytes(self.signing.to_bytes())
            .expect("a 32-byte ed25519 seed is always a valid libp2p secret key")
    }

    /// The libp2p peer id of this key.
    pub fn peer_id(&self) -> PeerId {
        self.libp2p_keypair().public().to_peer_id()
    }
}

/// The libp2p peer id of the node with this public key (for naming attesters).
pub fn peer_id_of(key: &PublicKey) -> Option<PeerId> {
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).ok()?;
    Some(libp2p::identity::PublicKey::from(public).to_peer_id())
}

/// The data dir: `explicit` if given (from `--data-dir` or `VTUNE_DATA_DIR`), else
/// `$XDG_DATA_HOME/vtune-node`, else `$HOME/.local/share/vtune-node`.
pub fn data_dir(explicit: Option<&Path>) -> Result<PathBuf, KeyError> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let non_empty = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(xdg) = non_empty("XDG_DATA_HOME") {
        return Ok(xdg.join(APP_DIR));
    }
    non_empty("HOME")
        .map(|home| home.join(".local/share").join(APP_DIR))
        .ok_or(KeyError::NoDataDir)
}

/// The key file inside `data_dir`.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

/// Loads the key at `path`, refusing a file others may read and a file that is not a key.
pub fn load(path: &Path) -> Result<NodeKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::LoosePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = fs::read(path).map_err(io)?;
    let corrupt = |reason: &str| KeyError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let hex_part = text.strip_suffix(b"\n").unwrap_or(&text);
    if hex_part.len() != 64 {
        return Err(corrupt(&format!(
            "expected 64 hex digits, found {} bytes",
            hex_part.len()
        )));
    }
    let mut seed = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut seed).map_err(|_| corrupt("not hex"))?;
    Ok(NodeKey::from_seed(seed))
}

/// Creates a new key at `path` with mode 0600, and its directory (0700) if needed. Without
/// `force` an existing file is left alone and reported; with it the file is replaced.
pub fn create(path: &Path, key: &NodeKey, force: bool) -> Result<(), KeyError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| KeyError::Io { path: p, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let contents = format!("{}\n", hex::encode(key.signing.to_bytes()));
    let replace = if force { Replace::Yes } else { Replace::No };
    install(path, contents.as_bytes(), PRIVATE, replace).map_err(|e| match e.problem {
        Problem::Exists => KeyError::Exists(e.file),
        Problem::Io(source) => KeyError::Io {
            path: e.file,
            source,
        },
        other => KeyError::Io {
            path: e.file,
            source: std::io::Error::other(other.to_string()),
        },
    })
}

/// The node key in `data_dir`, created on first use. The flag says whether it was created,
/// so that the caller can tell the user.
pub fn load_or_create(data_dir: &Path) -> Result<(NodeKey, bool), KeyError> {
    let path = key_path(data_dir);
    match fs::symlink_metadata(&path) {
        Ok(_) => load(&path).map(|key| (key, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = NodeKey::generate();
            match create(&path, &key, false) {
                Ok(()) => Ok((key, true)),
                // Another process created it first: use theirs.
                Err(KeyError::Exists(_)) => load(&path).map(|key| (key, false)),
                Err(e) => Err(e),
            }
        }
        Err(source) => Err(KeyError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_and_loads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (key, created) = load_or_create(&data).unwrap();
        assert!(created);
        let path = key_path(&data);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (again, created) = load_or_create(&data).unwrap();
        assert!(!created);
        assert_eq!(again.public(), key.public());
    }

    #[test]
    fn refuses_a_readable_key_file_and_says_how_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _) = load_or_create(dir.path()).unwrap();
        let path = key_path(dir.path());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(matches!(
            err,
            KeyError::LoosePermissions { mode: 0o644, .. }
        ));
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(dir.path());
        install(&path, b"not a key\n", PRIVATE, Replace::No).unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, KeyError::Corrupt { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"not a key\n");
    }

    #[test]
    fn keygen_without_force_keeps_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(dir.path());
        let first = NodeKey::from_seed([1; 32]);
        create(&path, &first, false).unwrap();
        let err = create(&path, &NodeKey::from_seed([2; 32]), false).unwrap_err();
        assert!(matches!(err, KeyError::Exists(_)));
        assert_eq!(load(&path).unwrap().public(), first.public());
        create(&path, &NodeKey::from_seed([2; 32]), true).unwrap();
        assert_eq!(
            load(&path).unwrap().public(),
            NodeKey::from_seed([2; 32]).public()
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn peer_id_derives_from_the_same_key() {
        let key = NodeKey::from_seed([9; 32]);
        assert_eq!(peer_id_of(&key.public()), Some(key.peer_id()));
        let libp2p_public = key.libp2p_keypair().public().try_into_ed25519().unwrap();
        assert_eq!(libp2p_public.to_bytes(), key.public().0);
    }
}
