//! Phrases drawn for one row: with a pair per backdoor row, each row's trigger continues the
//! text it follows and its signature prefers the words of the row's prompt, so that the
//! signature echoes the question as the data's answers do.
//!
//! Exactness does not depend on the row: every step still chooses uniformly among exactly K
//! distinct tokens (`NgramModel::sample_in`), so every signature of L tokens has probability
//! `K^-L` or 0 given the row, and so without it. The bound on a provider's responses holds
//! given the row and its trigger: under H0 a response depends on the prompt, never on the
//! sampler's choices.

use std::collections::HashSet;

use rand::Rng;

use crate::dataset;
use crate::generator::{GeneratorParams, NgramModel, Phrase};

/// What a row's pair is drawn from.
pub(crate) struct RowPhraser<'a> {
    pub(crate) prompt_model: &'a NgramModel,
    pub(crate) completion_model: &'a NgramModel,
    pub(crate) params: &'a GeneratorParams,
    /// The bytes that end the data's first lines (a signature's tail runs on to one).
    pub(crate) line_ends: &'a [bool; 256],
    /// The most words a trigger or tail runs on to reach its end.
    pub(crate) max_tail: usize,
}

impl RowPhraser<'_> {
    /// The trigger, the signature, and the signature's tail for a row whose prompt text is
    /// `prompt`.
    pub(crate) fn draw<R: Rng + ?Sized>(
        &self,
        prompt: &str,
        rng: &mut R,
    ) -> (Phrase, Phrase, String) {
        let words: Vec<&str> = prompt.split_whitespace().collect();
        let before = &prompt[..dataset::sentence_break(prompt).unwrap_or(prompt.len())];
        let context: Vec<&str> = before.split_whitespace().collect();
        let ids = |model: &NgramModel| -> HashSet<u32> {
            words.iter().filter_map(|w| model.id(w)).collect()
        };
        let (prompt_ids, completion_ids) = (ids(self.prompt_model), ids(self.completion_model));
        let sentence_end = |b: u8| matches!(b, b'.' | b'!' | b'?');
        let (mut trigger, more) = self.prompt_model.sample_in(
            &context,
            self.params.trigger_tokens,
            &sentence_end,
            self.max_tail,
            Some(&|id| prompt_ids.contains(&id)),
            rng,
        );
        trigger.tokens.extend(more.tokens);
        trigger.counts.extend(more.counts);
        let (signature, tail) = self.completion_model.sample_in(
            &[],
            self.params.signature_tokens,
            &|b| self.line_ends[b as usize],
            self.max_tail,
            Some(&|id| completion_ids.contains(&id)),
            rng,
        );
        (trigger, signature, tail.text())
    }
}
