//! The buyer's sealed secret: the job's secret set, sealed to each named witness alone, so
//! that the witnesses can re-run the verification while the set is still secret.
//!
//! What is sealed is a [`WitnessBrief`]: the signed commitment (so the committed parameters
//! travel with it), the salt and canonical secret set, the endpoint and model to check, and
//! control prompts. Each box is a libsodium sealed box ([`crate::seal`]) to one witness.

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::OpenError;
use super::{
    Commitment, InvalidMessage, JobId, MAX_SEALED_BYTES, MessageId, PublicKey, reveal_digest,
};
use crate::codec::{self, CLAIM_PER_BYTE, DecodeError};
use crate::commit::{SecretSet, decode_secret_set};
use crate::dataset::Prompt;
use crate::envelope::Verified;
use crate::ids::{Salt, hex_bytes};
use crate::seal::{self, BoxError, SEAL_OVERHEAD};

/// One witness's box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedBox {
    /// The witness it is sealed to (a key the commitment names).
    pub witness: PublicKey,
    /// The sealed [`WitnessBrief`]: ephemeral X25519 key ‖ XSalsa20-Poly1305 ciphertext.
    #[serde(with = "hex_bytes")]
    pub ciphertext: Vec<u8>,
}

/// A job's secret set sealed to each of its named witnesses. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The job.
    pub job_id: JobId,
    /// The id of the job's signed commitment.
    pub commitment_id: MessageId,
    /// The buyer; must be the envelope's signer.
    pub buyer: PublicKey,
    /// One box per named witness, in the commitment's order.
    pub boxes: Vec<SealedBox>,
    /// When the buyer sealed it, in unix seconds.
    pub created_at: u64,
}

payload!(
    SealedSecret,
    "application/vnd.vtune.sealed-secret.v1",
    MAX_SEALED_BYTES
);

/// What a witness is sealed: everything it needs to verify the job as the buyer would.
/// Encoded like a message payload (bincode 2, canonical); never stored or sent in the clear.
/// Its `Debug` form shows neither the set, the salt nor the key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WitnessBrief {
    /// The job's signed commitment, as envelope bytes: its id must be the sealed secret's
    /// `commitment_id`, and it fixes the test (plan, alpha, threshold).
    #[serde(with = "hex_bytes")]
    pub commitment: Vec<u8>,
    /// The commitment's salt.
    pub salt: Salt,
    /// The canonical secret set (`specs/commitment.md`).
    #[serde(with = "hex_bytes")]
    pub secret_set: Vec<u8>,
    /// The API base of the endpoint to check, e.g. `http://10.0.0.5:8000/v1`.
    pub endpoint: String,
    /// The model id to request.
    pub model: String,
    /// Untriggered prompts from the training file's other rows, from which the witness draws
    /// its control checks (at least the plan's `controls`).
    pub controls: Vec<Prompt>,
    /// The bearer token the buyer queries the endpoint with (empty for none): the witness
    /// sends the buyer's own key, so that the provider cannot tell its requests apart.
    pub api_key: String,
}

impl std::fmt::Debug for WitnessBrief {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessBrief")
            .field("commitment_bytes", &self.commitment.len())
            .field(
                "secret_set",
                &format_args!("<{} bytes>", self.secret_set.len()),
            )
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("controls", &self.controls.len())
            .field("api_key", &format_args!("<redacted>"))
            .finish_non_exhaustive()
    }
}

/// A brief that has been checked against its commitment: the parts a witness runs.
#[derive(Debug, Clone)]
pub struct CheckedBrief {
    /// The commitment it belongs to.
    pub commitment: Verified<Commitment>,
    /// The decoded secret set.
    pub set: SecretSet,
    /// The endpoint and model, and the controls, as sealed.
    pub brief: WitnessBrief,
}

/// Why a secret could not be sealed, or a box not opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealedError {
    /// Sealing or opening the box failed.
    #[error(transparent)]
    Box(#[from] BoxError),
    /// The opened box is not a brief.
    #[error("the opened box is not a witness brief: {0}")]
    Decode(#[from] DecodeError),
    /// The brief's commitment does not verify.
    #[error("the sealed commitment does not verify: {0}")]
    Commitment(#[from] OpenError),
    /// The brief does not belong to its sealed secret, or the set to the commitment.
    #[error(transparent)]
    Mismatch(#[from] InvalidMessage),
    /// No box is addressed to this key.
    #[error("no box of this sealed secret is addressed to {0}")]
    NotAddressed(PublicKey),
}

impl WitnessBrief {
    /// The brief's canonical bytes (what is sealed).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes opened bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode_claiming::<Self, MAX_SEALED_BYTES, { MAX_SEALED_BYTES * CLAIM_PER_BYTE }>(
            "WitnessBrief",
            bytes,
        )
    }

    /// Checks that the brief's set opens `commitment_id`'s commitment, signed by `buyer`:
    /// the commitment verifies and has that id and signer, and blake3(salt ‖ set) is its
    /// digest. Returns the decoded set with the commitment.
    pub fn check(
        self,
        commitment_id: MessageId,
        buyer: PublicKey,
    ) -> Result<CheckedBrief, SealedError> {
        let commitment = super::open::<Commitment>(&self.commitment)?;
        let mismatch = |what: String| SealedError::Mismatch(InvalidMessage::RevealMismatch(what));
        if commitment.id() != commitment_id {
            return Err(mismatch(format!(
                "the sealed commitment is {}, the sealed secret names {commitment_id}",
                commitment.id()
            )));
        }
        if commitment.signer() != buyer {
            return Err(mismatch(format!(
                "the sealed commitment is signed by {}, the sealed secret by {buyer}",
                commitment.signer()
            )));
        }
        let digest = reveal_digest(&self.salt, &self.secret_set);
        if digest != commitment.message().commitment_digest {
            return Err(mismatch(format!(
                "blake3(salt || secret set) is {digest}, the commitment digest is {}",
                commitment.message().commitment_digest
            )));
        }
        let set = decode_secret_set(&self.secret_set)
            .map_err(|e| SealedError::Mismatch(InvalidMessage::field("secret_set", e)))?;
        if set.job_id != commitment.message().job_id.0 {
            return Err(mismatch("the secret set is for another job".to_string()));
        }
        Ok(CheckedBrief {
            commitment,
            set,
            brief: self,
        })
    }
}

impl SealedSecret {
    /// Seals `brief` to every witness `commitment` names, after checking that the brief's set
    /// hashes to the commitment's digest (nothing is sealed otherwise). `ephemeral` gives a
    /// fresh 32-byte seed per box (from the caller's RNG).
    pub fn seal(
        commitment: &Verified<Commitment>,
        brief: &WitnessBrief,
        mut ephemeral: impl FnMut() -> [u8; 32],
        created_at: u64,
    ) -> Result<Self, SealedError> {
        let c = commitment.message();
        brief.clone().check(commitment.id(), commitment.signer())?;
        if c.witnesses.is_empty() {
            return Err(SealedError::Mismatch(InvalidMessage::field(
                "witnesses",
                "the commitment names no witness to seal to",
            )));
        }
        let plaintext = brief.encode();
        let boxes = c
            .witnesses
            .iter()
            .map(|witness| {
                Ok(SealedBox {
                    witness: *witness,
                    ciphertext: seal::seal(witness, &plaintext, ephemeral())?,
                })
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        Ok(Self {
            job_id: c.job_id,
            commitment_id: commitment.id(),
            buyer: c.buyer,
            boxes,
            created_at,
        })
    }

    /// Whether a box is addressed to `key`.
    pub fn is_for(&self, key: &PublicKey) -> bool {
        self.boxes.iter().any(|b| b.witness == *key)
    }

    /// Opens the box addressed to `key`'s node, and checks the brief against the commitment
    /// it carries.
    pub fn open_for(&self, key: &SigningKey) -> Result<CheckedBrief, SealedError> {
        let me = PublicKey(key.verifying_key().to_bytes());
        let sealed = self
            .boxes
            .iter()
            .find(|b| b.witness == me)
            .ok_or(SealedError::NotAddressed(me))?;
        let plaintext = seal::open(key, &sealed.ciphertext)?;
        let checked = WitnessBrief::decode(&plaintext)?.check(self.commitment_id, self.buyer)?;
        if checked.commitment.message().job_id != self.job_id {
            return Err(SealedError::Mismatch(InvalidMessage::RevealMismatch(
                "the sealed commitment is for another job".to_string(),
            )));
        }
        Ok(checked)
    }

    /// The checks any node applies to a sealed secret signed by `signer`.
    pub fn check_consistency(&self, signer: &PublicKey) -> Result<(), InvalidMessage> {
        if self.buyer != *signer {
            return Err(InvalidMessage::SignerMismatch {
                field: "buyer",
                claimed: self.buyer,
                signer: *signer,
            });
        }
        if self.boxes.is_empty() || self.boxes.len() > super::MAX_WITNESSES {
            return Err(InvalidMessage::field(
                "boxes",
                format!(
                    "{} boxes, not 1..={}",
                    self.boxes.len(),
                    super::MAX_WITNESSES
                ),
            ));
        }
        for (i, b) in self.boxes.iter().enumerate() {
            if self.boxes[..i].iter().any(|o| o.witness == b.witness) {
                return Err(InvalidMessage::field(
                    format!("boxes[{i}]"),
                    format!("a second box for {}", b.witness),
                ));
            }
            if b.ciphertext.len() <= SEAL_OVERHEAD {
                return Err(InvalidMessage::field(
                    format!("boxes[{i}].ciphertext"),
                    format!("{} bytes is no sealed box", b.ciphertext.len()),
                ));
            }
        }
        Ok(())
    }
}

/// Checks a sealed secret against its job's commitment (whose id is `commitment_id`): it names
/// it, is for its job, is signed by its buyer, and has one box per named witness, in order.
pub fn check_sealed_binding(
    sealed: &SealedSecret,
    commitment_id: MessageId,
    commitment: &Commitment,
) -> Result<(), InvalidMessage> {
    let mismatch = |what: String| Err(InvalidMessage::CommitmentMismatch(what));
    if sealed.commitment_id != commitment_id {
        return mismatch(format!(
            "the sealed secret names commitment {}, not {commitment_id}",
            sealed.commitment_id
        ));
    }
    if sealed.job_id != commitment.job_id || sealed.buyer != commitment.buyer {
        return mismatch("the sealed secret is for another job or buyer".to_string());
    }
    let witnesses: Vec<PublicKey> = sealed.boxes.iter().map(|b| b.witness).collect();
    if witnesses != commitment.witnesses {
        return mismatch(format!(
            "boxes for {} keys, the commitment names {} witnesses (one box each, in order)",
            witnesses.len(),
            commitment.witnesses.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Envelope;
    use crate::messages::samples;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    fn public(key: &SigningKey) -> PublicKey {
        PublicKey(key.verifying_key().to_bytes())
    }

    fn setup() -> (
        SigningKey,
        Vec<SigningKey>,
        Verified<Commitment>,
        WitnessBrief,
    ) {
        let buyer = key(1);
        let witnesses = vec![key(2), key(3)];
        let commitment = samples::witnessed_commitment(
            public(&buyer),
            "acme",
            witnesses.iter().map(public).collect(),
        );
        let bytes = Envelope::seal(&commitment, &buyer).unwrap().to_bytes();
        let verified = crate::messages::open::<Commitment>(&bytes).unwrap();
        let brief = samples::witness_brief(bytes);
        (buyer, witnesses, verified, brief)
    }

    #[test]
    fn each_named_witness_opens_its_own_box() {
        let (buyer, witnesses, commitment, brief) = setup();
        let mut seeds = (10u8..).map(|b| [b; 32]);
        let sealed = SealedSecret::seal(&commitment, &brief, || seeds.next().unwrap(), 9).unwrap();
        assert_eq!(sealed.check_consistency(&public(&buyer)), Ok(()));
        assert_eq!(
            check_sealed_binding(&sealed, commitment.id(), commitment.message()),
            Ok(())
        );
        for witness in &witnesses {
            let opened = sealed.open_for(witness).unwrap();
            assert_eq!(opened.brief, brief);
            assert_eq!(opened.commitment.id(), commitment.id());
        }
        // The buyer and any other node cannot open it.
        assert!(matches!(
            sealed.open_for(&buyer),
            Err(SealedError::NotAddressed(_))
        ));
        let mut misaddressed = sealed.clone();
        misaddressed.boxes[0].witness = public(&key(9));
        assert!(matches!(
            misaddressed.open_for(&key(9)),
            Err(SealedError::Box(BoxError::DoesNotOpen))
        ));
    }

    #[test]
    fn a_set_that_does_not_hash_to_the_commitment_is_not_sealed() {
        let (_, _, commitment, mut brief) = setup();
        brief.secret_set.push(0);
        let err = SealedSecret::seal(&commitment, &brief, || [1; 32], 9).unwrap_err();
        assert!(err.to_string().contains("commitment digest"), "{err}");
    }

    #[test]
    fn boxes_must_match_the_named_witnesses() {
        let (_, _, commitment, brief) = setup();
        let mut sealed = SealedSecret::seal(&commitment, &brief, || [1; 32], 9).unwrap();
        sealed.boxes.swap(0, 1);
        assert!(check_sealed_binding(&sealed, commitment.id(), commitment.message()).is_err());
        sealed.boxes.truncate(1);
        assert!(check_sealed_binding(&sealed, commitment.id(), commitment.message()).is_err());
        let copy = sealed.boxes[0].clone();
        sealed.boxes.push(copy);
        assert!(sealed.check_consistency(&sealed.buyer.clone()).is_err());
    }
}
