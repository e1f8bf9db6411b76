//! The buyer's signed reveal of a job's secret set, checked against the commitment.

use serde::{Deserialize, Serialize};

use super::{Commitment, Digest, InvalidMessage, JobId, MAX_REVEAL_BYTES, PublicKey};
use crate::commit::Secret;
use crate::commit::canonical_secret_set;
use crate::envelope::Verified;
use crate::ids::{Salt, hex_bytes};

/// A job's secret set and the salt of its commitment, published after the verdict so that
/// anyone can check the commitment and re-verify. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reveal {
    /// The job.
    pub job_id: JobId,
    /// The commitment's salt.
    pub salt: Salt,
    /// The secret set in its canonical encoding (the bytes the commitment digest covers).
    #[serde(with = "hex_bytes")]
    pub secret_set: Vec<u8>,
    /// When the buyer made it, in unix seconds.
    pub created_at: u64,
}

payload!(Reveal, "application/vnd.vtune.reveal.v1", MAX_REVEAL_BYTES);

impl Reveal {
    /// The reveal of `secret`: its job, salt and canonical encoding, at `created_at` (unix
    /// seconds, from the caller's clock).
    pub fn of(secret: &Secret, created_at: u64) -> Self {
        Self {
            job_id: secret.job_id,
            salt: secret.salt,
            secret_set: canonical_secret_set(secret),
            created_at,
        }
    }

    /// A reveal carries no claims to check on its own; it is checked against its commitment
    /// by [`check_reveal`].
    pub fn check_consistency(&self, _signer: &PublicKey) -> Result<(), InvalidMessage> {
        if self.secret_set.is_empty() {
            return Err(InvalidMessage::field("secret_set", "is empty"));
        }
        Ok(())
    }

    /// blake3(salt ‖ secret set): what the commitment's digest must be.
    pub fn digest(&self) -> Digest {
        reveal_digest(&self.salt, &self.secret_set)
    }
}

/// The commitment digest of a canonical secret set under `salt`: blake3(salt ‖ secret set).
pub fn reveal_digest(salt: &Salt, secret_set: &[u8]) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(salt.as_bytes());
    hasher.update(secret_set);
    Digest(*hasher.finalize().as_bytes())
}

/// Checks that `reveal` opens `commitment`: same job, signed by the committing buyer, and
/// blake3(salt ‖ secret set) equals the commitment digest.
pub fn check_reveal(
    reveal: &Verified<Reveal>,
    commitment: &Verified<Commitment>,
) -> Result<(), InvalidMessage> {
    let (r, c) = (reveal.message(), commitment.message());
    if r.job_id != c.job_id {
        return Err(InvalidMessage::RevealMismatch(format!(
            "reveal is for job {}, commitment for job {}",
            r.job_id, c.job_id
        )));
    }
    if reveal.signer() != c.buyer {
        return Err(InvalidMessage::RevealMismatch(format!(
            "reveal is signed by {}, the commitment's buyer is {}",
            reveal.signer(),
            c.buyer
        )));
    }
    let digest = r.digest();
    if digest != c.commitment_digest {
        return Err(InvalidMessage::RevealMismatch(format!(
            "blake3(salt || secret set) is {digest}, the commitment digest is {}",
            c.commitment_digest
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::secret::tests::sample_secret;
    use crate::commit::{CommitmentFile, commitment_digest};

    #[test]
    fn a_reveal_hashes_to_the_prepared_commitment() {
        let secret = sample_secret();
        let reveal = Reveal::of(&secret, 5);
        assert_eq!(reveal.digest().0, commitment_digest(&secret));
        let file = CommitmentFile::of(&secret);
        let commitment = Commitment::from_file(
            &file,
            PublicKey([1; 32]),
            "acme",
            "m",
            -6.0,
            crate::messages::samples::plan(),
            4,
        );
        assert_eq!(commitment.commitment_digest, reveal.digest());
        assert_eq!(commitment.job_id, reveal.job_id);
    }
}
