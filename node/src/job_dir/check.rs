//! Checking one signed message file: its signature and, for a reveal, attestation or sealed
//! secret, its binding to the commitment (given, or `commitment.msg` beside it).

use std::path::{Path, PathBuf};

use vtune_protocol::commit::{RevealedGroup, revealed_groups};
use vtune_protocol::envelope::Verified;
use vtune_protocol::messages::{self, AnyMessage, InvalidMessage, MessageId, Reveal};

use super::{COMMITMENT_MSG, JobDirError, read_commitment, read_message};

/// A message file that checked out.
#[derive(Debug)]
pub struct Checked {
    /// The verified message.
    pub message: Verified<AnyMessage>,
    /// The id of the commitment it was checked against, if any.
    pub commitment: Option<MessageId>,
    /// A reveal's groups, readable.
    pub revealed: Option<Vec<RevealedGroup>>,
}

/// Why a message file is not valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The file, or the commitment's, does not hold a valid signed message.
    #[error(transparent)]
    File(#[from] JobDirError),
    /// A reveal with no commitment to open.
    #[error("a reveal is valid only against its commitment (no {COMMITMENT_MSG} beside {})", .0.display())]
    NoCommitment(PathBuf),
    /// The message does not bind to the commitment.
    #[error("against the commitment {}: {source}", commitment.display())]
    Against {
        /// The commitment file.
        commitment: PathBuf,
        /// Why not.
        source: InvalidMessage,
    },
}

/// Checks the message in `file`, against `commitment` (default: `commitment.msg` beside
/// `file`, if there is one and it is another file).
pub fn check_file(file: &Path, commitment: Option<&Path>) -> Result<Checked, CheckError> {
    let message = read_message(file)?;
    let beside = file
        .parent()
        .map(|dir| dir.join(COMMITMENT_MSG))
        .filter(|path| path.exists() && !same_file(path, file));
    let commitment_path = commitment.map(Path::to_path_buf).or(beside);
    let mut checked_against = None;
    match (message.message(), &commitment_path) {
        (AnyMessage::Commitment(_), _) => {}
        (_, Some(path)) => {
            let commitment = read_commitment(path)?;
            let (id, c) = (commitment.id(), commitment.message());
            let bound = match message.message() {
                AnyMessage::Reveal(_) => message
                    .clone()
                    .downcast::<Reveal>()
                    .map_err(|_| InvalidMessage::RevealMismatch("not a reveal".into()))
                    .and_then(|reveal| messages::check_reveal(&reveal, &commitment)),
                AnyMessage::Attestation(a) => messages::check_attestation_binding(a, id, c),
                AnyMessage::SealedSecret(s) => messages::check_sealed_binding(s, id, c),
                AnyMessage::Commitment(_) => Ok(()),
            };
            bound.map_err(|source| CheckError::Against {
                commitment: path.clone(),
                source,
            })?;
            checked_against = Some(id);
        }
        (AnyMessage::Reveal(_), None) => return Err(CheckError::NoCommitment(file.to_path_buf())),
        (_, None) => {}
    }
    let revealed = match message.message() {
        AnyMessage::Reveal(r) => revealed_groups(&r.secret_set)
            .ok()
            .map(|(_, groups)| groups),
        _ => None,
    };
    Ok(Checked {
        message,
        commitment: checked_against,
        revealed,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
