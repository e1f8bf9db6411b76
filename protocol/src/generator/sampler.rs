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
}
