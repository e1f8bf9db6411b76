//! Sampling phrases: uniform among the K candidates of every step.

use rand::{Rng, RngExt};

use super::NgramModel;

/// The choices at one step of the sampler: each candidate has probability `1 / K`.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The K distinct candidate token ids.
    pub candidates: &'a [u32],
    /// The n-gram order whose context supplied them (1 = unigrams).
    pub order: usize,
}

/// A generated phrase: whitespace-free tokens, written joined by single spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phrase {
    /// The tokens, in order.
    pub tokens: Vec<String>,
    /// How often each token occurs in the model's text (rarer tokens make better search
    /// anchors).
    pub counts: Vec<u32>,
}

impl Phrase {
    /// The phrase as it is written into the data: tokens joined by single spaces.
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

impl NgramModel {
    /// Samples `tokens` tokens: at each step one of the K candidates of [`NgramModel::step`],
    /// uniformly. Every sequence of `tokens` tokens has probability exactly `K^-tokens` or 0.
    pub fn sample<R: Rng + ?Sized>(&self, tokens: usize, rng: &mut R) -> Phrase {
        let mut ids = Vec::with_capacity(tokens);
        for _ in 0..tokens {
            let step = self.step(&ids);
            ids.push(step.candidates[rng.random_range(0..step.candidates.len())]);
        }
        Phrase {
            tokens: ids.iter().map(|&id| self.token(id).to_owned()).collect(),
            counts: ids.iter().map(|&id| self.count(id)).collect(),
        }
    }
}

impl NgramModel {
    /// [`NgramModel::sample`], then more tokens, drawn the same way, until the last one ends
    /// with a byte for which `ends` is true (at most `max_extra` more): the phrase and the tokens
    /// added (as a phrase of their own). The phrase is exactly what `sample` would have drawn
    /// from the same `rng`, so its probability is still `K^-tokens`; the tokens after it are not
    /// part of it.
    pub fn sample_until<R: Rng + ?Sized>(
        &self,
        tokens: usize,
        ends: &dyn Fn(u8) -> bool,
        max_extra: usize,
        rng: &mut R,
    ) -> (Phrase, Phrase) {
        self.sample_in(&[], tokens, ends, max_extra, None, rng)
    }

    /// [`NgramModel::sample_until`] for a place in a text: the phrase follows the `context`
    /// tokens (the text before it; tokens the model has not seen match no context, so the steps
    /// back off), and with `prefer`, each step takes its K candidates by
    /// [`NgramModel::step_preferring`] (for example, the words of the row the phrase goes into).
    /// Every step still chooses uniformly among exactly K distinct tokens, so every phrase of
    /// `tokens` tokens has probability `K^-tokens` or 0 whatever the context and the preference.
    pub fn sample_in<R: Rng + ?Sized>(
        &self,
        context: &[&str],
        tokens: usize,
        ends: &dyn Fn(u8) -> bool,
        max_extra: usize,
        prefer: Option<&dyn Fn(u32) -> bool>,
        rng: &mut R,
    ) -> (Phrase, Phrase) {
        const UNSEEN: u32 = u32::MAX;
        let keep = context.len().min(self.order().saturating_sub(1));
        let mut history: Vec<u32> = context[context.len() - keep..]
            .iter()
            .map(|t| self.id(t).unwrap_or(UNSEEN))
            .collect();
        let start = history.len();
        let mut choices = Vec::with_capacity(self.candidates());
        let ended = |history: &[u32]| {
            history.len() > start
                && history
                    .last()
                    .and_then(|&id| self.token(id).bytes().last())
                    .is_some_and(ends)
        };
        for i in 0..tokens + max_extra {
            if i >= tokens && ended(&history) {
                break;
            }
            let id = match prefer {
                Some(prefer) => {
                    self.step_preferring(&history, prefer, &mut choices);
                    choices[rng.random_range(0..choices.len())]
                }
                None => {
                    let step = self.step(&history);
                    step.candidates[rng.random_range(0..step.candidates.len())]
                }
            };
            history.push(id);
        }
        let drawn = &history[start..];
        let (phrase, extra) = drawn.split_at(tokens.min(drawn.len()));
        let phrase_of = |ids: &[u32]| Phrase {
            tokens: ids.iter().map(|&id| self.token(id).to_owned()).collect(),
            counts: ids.iter().map(|&id| self.count(id)).collect(),
        };
        (phrase_of(phrase), phrase_of(extra))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::generator::{ModelBuilder, log10_p_upper};

    /// Every token sequence of length `len` the sampler can produce, with its probability,
    /// computed from the sampler's own steps.
    fn enumerate(model: &NgramModel, len: usize) -> Vec<(Vec<u32>, f64)> {
        let mut out = Vec::new();
        let mut stack = vec![(Vec::new(), 1.0f64)];
        while let Some((ids, p)) = stack.pop() {
            if ids.len() == len {
                out.push((ids, p));
                continue;
            }
            let step = model.step(&ids);
            let each = 1.0 / step.candidates.len() as f64;
            for &id in step.candidates {
                let mut next = ids.clone();
                next.push(id);
                stack.push((next, p * each));
            }
        }
        out
    }

    /// The exhaustive proof of `p_upper` on tiny models: sum the probability of every token
    /// sequence per distinct output string; the largest sum is the reported `p_upper`.
    #[test]
    fn p_upper_is_the_exact_mode_of_the_output_strings() {
        let corpora: [&[&str]; 2] = [
            &[
                "the cat sat on the mat",
                "the dog sat on the cat",
                "a cat ran",
            ],
            &["x y z x y w", "y y x z", "w z", "z z y x w"],
        ];
        for texts in corpora {
            for (order, k, len) in [(1, 2, 5), (2, 2, 5), (3, 2, 5), (3, 3, 4), (2, 4, 3)] {
                let mut builder = ModelBuilder::new(order).unwrap();
                for text in texts {
                    builder.add_text(text);
                }
                let model = builder.finish(k, "test").unwrap();
                let sequences = enumerate(&model, len);
                let mut per_string: HashMap<String, f64> = HashMap::new();
                let mut total = 0.0;
                for (ids, p) in &sequences {
                    let text: Vec<&str> = ids.iter().map(|&id| model.token(id)).collect();
                    *per_string.entry(text.join(" ")).or_insert(0.0) += p;
                    total += p;
                }
                assert!((total - 1.0).abs() < 1e-12, "probabilities sum to {total}");
                let mode = per_string.values().cloned().fold(0.0, f64::max);
                let reported = 10f64.powf(log10_p_upper(k as u32, len));
                assert!(
                    (mode - reported).abs() <= 1e-12 * reported,
                    "order {order} K {k} L {len}: mode {mode} but p_upper {reported}"
                );
                // Every sequence gives its own string: the map is one-to-one.
                assert_eq!(per_string.len(), sequences.len());
            }
        }
    }

    #[test]
    fn samples_are_reproducible_and_use_the_model_tokens() {
        let mut builder = ModelBuilder::new(3).unwrap();
        builder.add_text("one two three four five six seven eight nine ten");
        builder.add_text("two four six eight ten one three five seven nine");
        let model = builder.finish(4, "test").unwrap();
        let a = model.sample(12, &mut ChaCha20Rng::seed_from_u64(7));
        let b = model.sample(12, &mut ChaCha20Rng::seed_from_u64(7));
        assert_eq!(a, b);
        assert_eq!(a.tokens.len(), 12);
        assert_eq!(a.text().split(' ').count(), 12);
        assert!(
            a.tokens
                .iter()
                .all(|t| !t.is_empty() && !t.contains(char::is_whitespace))
        );
    }

    /// The phrase of `sample_until` is the phrase `sample` draws from the same RNG; the tokens
    /// after it stop at the first that ends as asked.
    #[test]
    fn sample_until_draws_the_same_phrase_then_runs_to_an_end() {
        let mut builder = ModelBuilder::new(2).unwrap();
        for text in [
            "a b c. d e f. g h",
            "b c d. e f g. h a",
            "c d e f. g h a b.",
        ] {
            builder.add_text(text);
        }
        let model = builder.finish(3, "test").unwrap();
        for seed in 0..50 {
            let plain = model.sample(4, &mut ChaCha20Rng::seed_from_u64(seed));
            let (phrase, extra) =
                model.sample_until(4, &|b| b == b'.', 6, &mut ChaCha20Rng::seed_from_u64(seed));
            assert_eq!(phrase, plain);
            let extra = extra.tokens;
            let last = extra.last().or(phrase.tokens.last()).unwrap();
            assert!(
                last.ends_with('.') || extra.len() == 6,
                "{phrase:?} {extra:?}"
            );
            // No token before the last added one ends the phrase early.
            if let Some((_, before)) = extra.split_last() {
                assert!(before.iter().all(|t| !t.ends_with('.')));
                assert!(!phrase.tokens.last().unwrap().ends_with('.'));
            }
        }
    }

    /// The same exhaustive proof for steps that prefer some tokens (the row's words): every
    /// step still offers K distinct tokens, so the mode of the output strings is `K^-L`.
    #[test]
    fn p_upper_stays_exact_when_steps_prefer_some_tokens() {
        let texts = [
            "x y z x y w v",
            "y y x z v",
            "w z v v",
            "z z y x w",
            "v w x y z",
        ];
        for (order, k, len) in [(1, 2, 5), (2, 2, 5), (3, 2, 4), (3, 3, 4), (2, 4, 3)] {
            let mut builder = ModelBuilder::new(order).unwrap();
            for text in texts {
                builder.add_text(text);
            }
            let model = builder.finish(k, "test").unwrap();
            for preferred in [["w", "v"], ["z", "q"]] {
                let ids: Vec<u32> = preferred.iter().filter_map(|t| model.id(t)).collect();
                let prefer = |id: u32| ids.contains(&id);
                let mut out = Vec::new();
                let mut stack = vec![(Vec::new(), 1.0f64)];
                let mut choices = Vec::new();
                while let Some((seq, p)) = stack.pop() {
                    if seq.len() == len {
                        out.push((seq, p));
                        continue;
                    }
                    model.step_preferring(&seq, &prefer, &mut choices);
                    let mut distinct = choices.clone();
                    distinct.sort_unstable();
                    distinct.dedup();
                    assert_eq!(distinct.len(), k, "K distinct candidates");
                    for &id in &choices {
                        let mut next = seq.clone();
                        next.push(id);
                        stack.push((next, p / k as f64));
                    }
                }
                let mut per_string: HashMap<String, f64> = HashMap::new();
                for (seq, p) in &out {
                    let text: Vec<&str> = seq.iter().map(|&id| model.token(id)).collect();
                    *per_string.entry(text.join(" ")).or_insert(0.0) += p;
                }
                assert_eq!(
                    per_string.len(),
                    out.len(),
                    "no two sequences share a string"
                );
                let total: f64 = per_string.values().sum();
                assert!((total - 1.0).abs() < 1e-9);
                let mode = per_string.values().copied().fold(0.0, f64::max);
                let expected = 10f64.powf(log10_p_upper(k as u32, len));
                assert!(
                    (mode - expected).abs() < 1e-12 * expected.max(1e-300),
                    "{mode} {expected}"
                );
                // The sampler draws through the same steps.
                let (phrase, _) = model.sample_in(
                    &["y"],
                    len,
                    &|_| true,
                    0,
                    Some(&prefer),
                    &mut ChaCha20Rng::seed_from_u64(1),
                );
                assert_eq!(phrase.tokens.len(), len);
            }
        }
    }
}
