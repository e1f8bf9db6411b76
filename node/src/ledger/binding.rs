//! The check of a message against its job's stored commitment, made before it is stored.

use vtune_protocol::envelope::Verified;
use vtune_protocol::messages::OpenError;
use vtune_protocol::messages::{
    AnyMessage, Commitment, InvalidMessage, check_attestation_binding, check_reveal,
    check_sealed_binding, open_any,
};

use super::{InsertError, Ledger, LedgerError, MAX_PAGE, PageRequest};

impl Ledger {
    /// Refuses an attestation or a sealed secret whose named commitment is stored and
    /// disagrees with it, and a
    /// reveal when the job's stored commitments are all by other buyers or other digests. A
    /// message whose commitment is not (yet) here passes: readers re-check at query time.
    pub(super) fn check_binding(&self, verified: &Verified<AnyMessage>) -> Result<(), InsertError> {
        let invalid = |e: InvalidMessage| InsertError::Invalid(OpenError::Invalid(e));
        match verified.message() {
            AnyMessage::Attestation(a) => {
                if let Some(commitment) = self.commitment(&a.commitment_id)? {
                    check_attestation_binding(a, a.commitment_id, commitment.message())
                        .map_err(invalid)?;
                }
            }
            AnyMessage::Reveal(r) => {
                let commitments = self.job_commitments(&r.job_id)?;
                let reveal = verified.clone().downcast().expect("a reveal");
                let mut last = None;
                for commitment in &commitments {
                    match check_reveal(&reveal, commitment) {
                        Ok(()) => return Ok(()),
                        Err(e) => last = Some(e),
                    }
                }
                if let Some(e) = last {
                    return Err(invalid(e));
                }
            }
            AnyMessage::SealedSecret(sealed) => {
                if let Some(commitment) = self.commitment(&sealed.commitment_id)? {
                    check_sealed_binding(sealed, sealed.commitment_id, commitment.message())
                        .map_err(invalid)?;
                }
            }
            AnyMessage::Commitment(_) => {}
        }
        Ok(())
    }

    /// The stored commitment with message id `id`, if any (and if it is a commitment).
    pub fn commitment(
        &self,
        id: &vtune_protocol::messages::MessageId,
    ) -> Result<Option<Verified<Commitment>>, LedgerError> {
        let Some(bytes) = self.get(id)? else {
            return Ok(None);
        };
        Ok(open_any(&bytes)
            .ok()
            .and_then(|v| v.downcast::<Commitment>().ok()))
    }

    /// Every stored commitment of job `job`.
    pub fn job_commitments(
        &self,
        job: &vtune_protocol::messages::JobId,
    ) -> Result<Vec<Verified<Commitment>>, LedgerError> {
        let mut found = Vec::new();
        let mut request = PageRequest::first(MAX_PAGE);
        loop {
            let page = self.by_job(job, &request)?;
            for entry in &page.entries {
                if let Ok(commitment) = entry.open().map(|v| v.downcast::<Commitment>()) {
                    found.extend(commitment.ok());
                }
            }
            match page.next {
                Some(next) => request = PageRequest::after(next, MAX_PAGE),
                None => return Ok(found),
            }
        }
    }
}
