//! The operator's trusted attesters (`--trust FILE`): one ed25519 public key per line, as 64
//! hex digits or as a libp2p peer id (`12D3Koo...`); `#` starts a comment.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use libp2p::PeerId;
use vtune_protocol::messages::PublicKey;

/// A trust file that cannot be read or has a bad line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file could not be read.
    #[error("cannot read the trust file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is neither a hex key nor an ed25519 peer id.
    #[error("{path}:{line}: {text:?} is neither a 64-hex-digit ed25519 key nor an ed25519 peer id")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The line number (from 1).
        line: usize,
        /// The line's text.
        text: String,
    },
}

/// The set of trusted attester keys (empty when no file is given).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    keys: HashSet<PublicKey>,
}

impl Trust {
    /// Reads a trust file.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrustError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a trust file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, TrustError> {
        let mut keys = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            let key = parse_key(entry).ok_or_else(|| TrustError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
                text: entry.to_string(),
            })?;
            keys.insert(key);
        }
        Ok(Self { keys })
    }

    /// A set of the given keys.
    pub fn of(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    /// Whether `key` is trusted.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.contains(key)
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A key given as 64 hex digits or as an ed25519 libp2p peer id (`12D3Koo...`).
pub fn parse_key(entry: &str) -> Option<PublicKey> {
    if let Ok(key) = entry.parse::<PublicKey>() {
        return Some(key);
    }
    let peer: PeerId = entry.parse().ok()?;
    // An ed25519 peer id is the identity multihash of the protobuf-encoded key.
    let multihash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if multihash.code() != 0 {
        return None;
    }
    let public = libp2p::identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    Some(PublicKey(public.try_into_ed25519().ok()?.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::NodeKey;

    #[test]
    fn keys_parse_as_hex_or_peer_id_and_bad_lines_are_named() {
        let a = NodeKey::from_seed([1; 32]);
        let b = NodeKey::from_seed([2; 32]);
        let text = format!("# trusted\n{}\n\n{}  # b\n", a.public(), b.peer_id());
        let trust = Trust::parse(&text, Path::new("t.txt")).unwrap();
        assert!(trust.contains(&a.public()) && trust.contains(&b.public()));
        assert_eq!(trust.len(), 2);
        let err = Trust::parse("ok\n", Path::new("t.txt")).unwrap_err();
        assert!(err.to_string().starts_with("t.txt:1:"), "{err}");
    }
}
