//! Candidate phrases: drawn from the models before the scan, several rounds at once (so that
//! the models can be freed before the scan), and chosen once the scan says which occur in the
//! data.

use rand::Rng;

use super::examine::Scan;
use super::sample::Sample;
use super::scan::{PhraseScanner, Rarity};
use crate::generator::{GeneratorParams, NgramModel, Phrase};

/// Fresh triggers drawn per group in each round.
const TRIGGERS_PER_ROUND: usize = 2;
/// Fresh signatures drawn per group in each round: one, as a 14-word signature almost never
/// occurs in the data, and every signature searched for costs its 3-word runs in the scan.
pub(crate) const SIGNATURES_PER_ROUND: usize = 1;
/// Rounds of candidates (and of novelty scans) before giving up on novelty.
pub const MAX_ROUNDS: usize = 6;

/// One round's candidate triggers and signatures, per group.
#[derive(Debug, Clone)]

pub struct Candidates {
    pub(crate) triggers: Vec<Vec<Phrase>>,
    pub(crate) signatures: Vec<Vec<Phrase>>,
    /// After each signature, the words that end its sentence (or line) as the data's first
    /// lines end: written into the completion after it, not part of it.
    pub(crate) tails: Vec<Vec<String>>,
}

/// The most words a trigger or a signature's tail runs on to reach the end of its sentence.
pub(crate) const MAX_SENTENCE_TAIL: usize = 24;
/// With a pair per row, the normal rows holding 3 signature words are counted for this many
/// groups' signatures (the rest are not searched for: a row set is kept per signature).
pub(crate) const MAX_SIGNATURE_WORD_GROUPS: usize = 64;
/// Up to this many groups, no group's phrase may contain another's; beyond, the check (quadratic)
/// is left out: a phrase of 10 or more words inside another is vanishingly rare.
pub(crate) const MAX_CONTAINMENT_CHECK: usize = 2000;

impl Candidates {
    /// The candidates of [`MAX_ROUNDS`] rounds for `groups` groups (none with a pair per row).
    pub fn rounds<R: Rng + ?Sized>(
        sample: &Sample,
        params: &GeneratorParams,
        groups: usize,
        rng: &mut R,
    ) -> Vec<Self> {
        (0..MAX_ROUNDS)
            .map(|_| {
                Self::draw(
                    &sample.prompt_model,
                    &sample.completion_model,
                    params,
                    &sample.line_ends,
                    groups,
                    rng,
                )
            })
            .collect()
    }

    /// The scanner that looks for these candidates (and their signatures' 3-word runs).
    pub fn scanner(&self, sample: &Sample) -> PhraseScanner {
        PhraseScanner::new(
            &self.texts(),
            &self.signature_tokens(),
            &Rarity {
                token_counts: &self.signature_counts(),
                byte_counts: Some(&sample.byte_counts),
                sample: &sample.text,
            },
        )
    }

    fn draw<R: Rng + ?Sized>(
        prompt_model: &NgramModel,
        completion_model: &NgramModel,
        params: &GeneratorParams,
        line_ends: &[bool; 256],
        groups: usize,
        rng: &mut R,
    ) -> Self {
        // A trigger is a sentence of its own: it runs on to a word that ends one.
        let sentence_end = |b: u8| matches!(b, b'.' | b'!' | b'?');
        let triggers = (0..groups)
            .map(|_| {
                (0..TRIGGERS_PER_ROUND)
                    .map(|_| {
                        let (mut phrase, more) = prompt_model.sample_until(
                            params.trigger_tokens,
                            &sentence_end,
                            MAX_SENTENCE_TAIL,
                            rng,
                        );
                        phrase.tokens.extend(more.tokens);
                        phrase.counts.extend(more.counts);
                        phrase
                    })
                    .collect()
            })
            .collect();
        let (mut signatures, mut tails) = (Vec::new(), Vec::new());
        for _ in 0..groups {
            let (mut group, mut group_tails) = (Vec::new(), Vec::new());
            for _ in 0..SIGNATURES_PER_ROUND {
                let (phrase, tail) = completion_model.sample_until(
                    params.signature_tokens,
                    &|b| line_ends[b as usize],
                    MAX_SENTENCE_TAIL,
                    rng,
                );
                group.push(phrase);
                group_tails.push(tail.text());
            }
            signatures.push(group);
            tails.push(group_tails);
        }
        Self {
            triggers,
            signatures,
            tails,
        }
    }

    /// All phrase texts, triggers first, in a fixed order.
    fn texts(&self) -> Vec<String> {
        self.triggers
            .iter()
            .chain(&self.signatures)
            .flatten()
            .map(Phrase::text)
            .collect()
    }

    fn signature_tokens(&self) -> Vec<Vec<String>> {
        self.signatures
            .iter()
            .flatten()
            .map(|p| p.tokens.clone())
            .collect()
    }

    /// Each signature token's count in the sample, as [`Candidates::signature_tokens`].
    fn signature_counts(&self) -> Vec<Vec<u32>> {
        self.signatures
            .iter()
            .flatten()
            .map(|p| p.counts.clone())
            .collect()
    }
}

/// For each group, the index of its first novel trigger and signature: not in the data, and
/// neither containing nor contained in another group's. Errs with the role that ran out.
pub fn choose_phrases(
    candidates: &Candidates,
    scan: &Scan,
) -> Result<Vec<(usize, usize)>, &'static str> {
    let found = &scan.phrase_found;
    let groups = candidates.triggers.len();
    let signature_base = groups * TRIGGERS_PER_ROUND;
    let pick = |role: &'static str, lists: &[Vec<Phrase>], base: usize, per_group: usize| {
        let mut chosen: Vec<(usize, String)> = Vec::new();
        for (g, list) in lists.iter().enumerate() {
            let pick = list.iter().enumerate().find(|(i, phrase)| {
                let text = phrase.text();
                !found[base + g * per_group + i]
                    && chosen
                        .iter()
                        .all(|(_, other)| !other.contains(&text) && !text.contains(other.as_str()))
            });
            match pick {
                Some((i, phrase)) => chosen.push((i, phrase.text())),
                None => return Err(role),
            }
        }
        Ok(chosen.into_iter().map(|(i, _)| i).collect::<Vec<_>>())
    };
    let triggers = pick("trigger", &candidates.triggers, 0, TRIGGERS_PER_ROUND)?;
    let signatures = pick(
        "signature",
        &candidates.signatures,
        signature_base,
        SIGNATURES_PER_ROUND,
    )?;
    Ok(triggers.into_iter().zip(signatures).collect())
}
