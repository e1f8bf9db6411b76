//! The n-gram counts and, once built, the top-K continuation tables.

use std::cmp::Reverse;
use std::collections::HashMap as StdHashMap;

/// A hash map with a fast, well-mixed, fixed-seed hasher.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::FixedState>;

use super::MAX_ORDER;

/// The id that pads a context before the first token. It is never a continuation.
pub const START: u32 = u32::MAX - 1;
/// Each context keeps up to `WIDE * K` continuations, by frequency: the first K are the
/// candidates of [`NgramModel::step`]; [`NgramModel::step_preferring`] may take others.
const WIDE: usize = 4;
/// The id that fills unused slots of an n-gram key.
const EMPTY: u32 = u32::MAX;

type Key = [u32; MAX_ORDER];
/// Context ids -> the K candidate ids.
type Table = HashMap<Box<[u32]>, Box<[u32]>>;

/// Why a model could not be built or a parameter is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The text has fewer distinct tokens than K, so not every step can offer K candidates.
    #[error(
        "the {role} text has only {distinct} distinct words, fewer than --candidates {candidates}; \
         use a smaller K or a larger dataset"
    )]
    TooFewTokens {
        /// Which model (`prompt` or `completion`).
        role: &'static str,
        /// Distinct tokens seen.
        distinct: usize,
        /// K.
        candidates: usize,
    },
    /// A generator parameter is out of range.
    #[error("{0}")]
    BadParameter(String),
}

/// Counts n-grams of orders 1 to `order` over whitespace tokens.
///
/// It keeps one n-gram of the highest order per token (16 bytes) and counts them all at the end
/// by sorting, which is several times faster than updating a hash table per token and order:
/// the order-`o` n-gram at a token is the last `o` ids of the highest-order one. Memory grows
/// with the text given to it; callers bound that text (the `prepare` pipeline gives it at most
/// `GeneratorParams::sample_bytes` per model).
#[derive(Debug)]
pub struct ModelBuilder {
    order: usize,
    ids: HashMap<String, u32>,
    vocab: Vec<String>,
    /// The highest-order n-gram at every token, packed by [`pack`].
    grams: Vec<u128>,
}

/// Packs a key's ids so that comparing the numbers compares the keys.
fn pack(key: &Key) -> u128 {
    key.iter()
        .fold(0u128, |packed, &id| (packed << 32) | u128::from(id))
}

fn unpack(packed: u128) -> Key {
    let mut key = [EMPTY; MAX_ORDER];
    for (i, id) in key.iter_mut().enumerate() {
        *id = (packed >> (32 * (MAX_ORDER - 1 - i))) as u32;
    }
    key
}

/// The order-`o` key inside a key of order `order`: its last `o` ids, moved to the front.
fn project(key: &Key, order: usize, o: usize) -> Key {
    let mut projected = [EMPTY; MAX_ORDER];
    projected[..o].copy_from_slice(&key[order - o..order]);
    projected
}

impl ModelBuilder {
    /// A builder for n-grams of order `order` (1 to [`MAX_ORDER`]).
    pub fn new(order: usize) -> Result<Self, ModelError> {
        if !(1..=MAX_ORDER).contains(&order) {
            return Err(ModelError::BadParameter(format!(
                "the n-gram order must be between 1 and {MAX_ORDER}, got {order}"
            )));
        }
        Ok(Self {
            order,
            ids: HashMap::default(),
            vocab: Vec::new(),
            grams: Vec::new(),
        })
    }

    /// Counts the n-grams of one text (a prompt or a completion). Contexts at its start are
    /// padded with [`START`].
    pub fn add_text(&mut self, text: &str) {
        let mut history = [START; MAX_ORDER];
        for token in text.split_whitespace() {
            let id = self.intern(token);
            // history[MAX_ORDER - 1] is the newest token before `id`.
            let o = self.order;
            let mut key = [EMPTY; MAX_ORDER];
            key[..o - 1].copy_from_slice(&history[MAX_ORDER - (o - 1)..]);
            key[o - 1] = id;
            self.grams.push(pack(&key));
            history.rotate_left(1);
            history[MAX_ORDER - 1] = id;
        }
    }

    fn intern(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = self.vocab.len() as u32;
        self.vocab.push(token.to_owned());
        self.ids.insert(token.to_owned(), id);
        id
    }

    /// The tokens counted so far.
    pub fn tokens(&self) -> usize {
        self.grams.len()
    }

    /// Keeps, for every context, its `candidates` most frequent continuations (ties broken by
    /// the token's text), and only for contexts that have at least that many. `role` names the
    /// model in errors.
    pub fn finish(self, candidates: usize, role: &'static str) -> Result<NgramModel, ModelError> {
        if candidates < 2 {
            return Err(ModelError::BadParameter(format!(
                "--candidates must be at least 2, got {candidates}"
            )));
        }
        if self.vocab.len() < candidates {
            return Err(ModelError::TooFewTokens {
                role,
                distinct: self.vocab.len(),
                candidates,
            });
        }
        let vocab = self.vocab;
        let ids = self.ids;
        // Each token's place in text order, to break ties between equal counts.
        let mut by_text: Vec<u32> = (0..vocab.len() as u32).collect();
        by_text.sort_unstable_by(|&a, &b| vocab[a as usize].cmp(&vocab[b as usize]));
        let mut text_rank = vec![0u32; vocab.len()];
        for (rank, &id) in by_text.iter().enumerate() {
            text_rank[id as usize] = rank as u32;
        }
        let mut tables = Vec::with_capacity(self.order);
        let mut counts = vec![0u32; vocab.len()];
        let mut projected = Vec::with_capacity(self.grams.len());
        for o in 1..=self.order {
            let context_len = o - 1;
            let mut entries: Vec<(Key, u32)> = if o == 1 {
                // Unigrams are counted by id, in id order as the sort would give them.
                for &gram in &self.grams {
                    counts[unpack(gram)[self.order - 1] as usize] += 1;
                }
                (0..vocab.len() as u32)
                    .filter(|&id| counts[id as usize] > 0)
                    .map(|id| {
                        let mut key = [EMPTY; MAX_ORDER];
                        key[0] = id;
                        (key, counts[id as usize])
                    })
                    .collect()
            } else {
                projected.clear();
                projected.extend(
                    self.grams
                        .iter()
                        .map(|&gram| pack(&project(&unpack(gram), self.order, o))),
                );
                projected.sort_unstable();
                projected
                    .chunk_by(|a, b| a == b)
                    .map(|run| (unpack(run[0]), run.len() as u32))
                    .collect()
            };
            // `projected` was sorted, so the entries come grouped by context; order each group
            // that can give K candidates by count, then by the token's text.
            let mut table = HashMap::default();
            for group in entries.chunk_by_mut(|(a, _), (b, _)| a[..context_len] == b[..context_len])
            {
                if group.len() >= candidates {
                    group.sort_unstable_by_key(|(key, count)| {
                        (Reverse(*count), text_rank[key[context_len] as usize])
                    });
                    let kept = group.len().min(candidates * WIDE);
                    let top: Box<[u32]> = group[..kept]
                        .iter()
                        .map(|(key, _)| key[context_len])
                        .collect();
                    table.insert(Box::<[u32]>::from(&group[0].0[..context_len]), top);
                }
            }
            tables.push(table);
        }
        Ok(NgramModel {
            ids,
            order: tables.len(),
            candidates,
            vocab,
            counts,
            tables,
        })
    }
}

/// A built model: for each order, the contexts that have at least K continuations, with their K
/// most frequent ones.
#[derive(Debug)]
pub struct NgramModel {
    /// Token text -> id.
    ids: HashMap<String, u32>,
    order: usize,
    candidates: usize,
    vocab: Vec<String>,
    /// How often each token occurs in the text the model was built from.
    counts: Vec<u32>,
    /// `tables[o - 1]`: context of `o - 1` ids -> the K candidate ids. `tables[0]` has the one
    /// empty context (unigrams).
    tables: Vec<Table>,
}

impl NgramModel {
    /// K.
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// The n-gram order.
    pub fn order(&self) -> usize {
        self.order
    }

    /// The text of token `id`.
    pub fn token(&self, id: u32) -> &str {
        &self.vocab[id as usize]
    }

    /// How often token `id` occurs in the text the model was built from.
    pub fn count(&self, id: u32) -> u32 {
        self.counts[id as usize]
    }

    /// The K candidates after `history` (token ids so far): those of the longest context with
    /// at least K continuations, backing off to shorter ones, down to the unigrams. Always
    /// exactly K distinct ids, never [`START`].
    pub fn step(&self, history: &[u32]) -> super::Step<'_> {
        for o in (1..=self.order).rev() {
            let context_len = o - 1;
            let mut context = [START; MAX_ORDER];
            let have = history.len().min(context_len);
            context[context_len - have..context_len]
                .copy_from_slice(&history[history.len() - have..]);
            if let Some(top) = self.tables[o - 1].get(&context[..context_len]) {
                return super::Step {
                    candidates: &top[..self.candidates],
                    order: o,
                };
            }
        }
        unreachable!("the unigram table holds K tokens, checked when the model was built")
    }

    /// Like [`NgramModel::step`], but the K candidates are the `prefer`red tokens among the
    /// context's most frequent continuations (up to `4K` of them, by frequency) first, then the
    /// others by frequency: still exactly K distinct ids, never [`START`], written to `out`.
    pub fn step_preferring(
        &self,
        history: &[u32],
        prefer: &dyn Fn(u32) -> bool,
        out: &mut Vec<u32>,
    ) {
        let step = self.step(history);
        let context_len = step.order - 1;
        let mut context = [START; MAX_ORDER];
        let have = history.len().min(context_len);
        context[context_len - have..context_len].copy_from_slice(&history[history.len() - have..]);
        let wide = &self.tables[step.order - 1][&context[..context_len]];
        out.clear();
        out.extend(
            wide.iter()
                .copied()
                .filter(|&id| prefer(id))
                .take(self.candidates),
        );
        for &id in wide.iter() {
            if out.len() == self.candidates {
                break;
            }
            if !prefer(id) {
                out.push(id);
            }
        }
    }

    /// The id of a token, if the model has seen it.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(texts: &[&str], order: usize, k: usize) -> NgramModel {
        let mut builder = ModelBuilder::new(order).unwrap();
        for text in texts {
            builder.add_text(text);
        }
        builder.finish(k, "test").unwrap()
    }

    fn words<'a>(model: &'a NgramModel, ids: &[u32]) -> Vec<&'a str> {
        ids.iter().map(|&id| model.token(id)).collect()
    }

    #[test]
    fn most_frequent_continuations_win_and_ties_go_by_text() {
        let m = model(&["a x a y a x a z a x b x b y"], 2, 2);
        // After "a": x three times, then y and z once each: the tie goes to "y".
        let a = m.vocab.iter().position(|t| t == "a").unwrap() as u32;
        let step = m.step(&[a]);
        assert_eq!(step.order, 2);
        assert_eq!(words(&m, step.candidates), ["x", "y"]);
    }

    #[test]
    fn backs_off_when_a_context_has_fewer_than_k_continuations() {
        let m = model(&["a b a c d e"], 2, 2);
        let d = m.vocab.iter().position(|t| t == "d").unwrap() as u32;
        // "d" is followed only by "e": back off to unigrams (a twice, then b c d e by text).
        let step = m.step(&[d]);
        assert_eq!(step.order, 1);
        assert_eq!(words(&m, step.candidates), ["a", "b"]);
        // The first token: the START context has only "a" after it, so it backs off too.
        assert_eq!(m.step(&[]).order, 1);
    }

    #[test]
    fn start_contexts_count_text_openings() {
        let m = model(&["x 1", "y 2", "x 3"], 2, 2);
        let step = m.step(&[]);
        assert_eq!(step.order, 2);
        assert_eq!(words(&m, step.candidates), ["x", "y"]);
    }

    #[test]
    fn too_few_words_is_an_error() {
        let mut builder = ModelBuilder::new(3).unwrap();
        builder.add_text("only three words");
        let err = builder.finish(32, "completion").unwrap_err();
        assert!(err.to_string().contains("only 3 distinct words"), "{err}");
        assert!(ModelBuilder::new(0).is_err());
        assert!(ModelBuilder::new(MAX_ORDER + 1).is_err());
    }
}
