//! Surprise: how unlikely a row's completion opening and prompt ending are under a trigram
//! model of the file itself (interpolated Kneser–Ney), alone and against the rest of the row.
//! A phrase that reads unlike the data, or a seam where it meets the row's own text, costs
//! bits a provider can count.
//!
//! The model is scored leave-one-out at the trigram order: a row's own trigrams are taken out
//! of the counts when it is scored, so that a phrase seen only in its own row is not predicted
//! by itself.

use super::{AuditRow, Map, Ranking, tokens};

/// The opening and ending lengths, in words.
const KS: [usize; 2] = [5, 10];
/// The Kneser–Ney discount.
const DISCOUNT: f64 = 0.75;
/// Token ids are packed 21 bits each; larger ids share the last one.
const ID_BITS: u32 = 21;
const MAX_ID: u32 = (1 << ID_BITS) - 1;
/// The id of the padding before a text's first token.
const START: u32 = 0;

pub(super) fn rankings(rows: &[AuditRow]) -> Vec<Ranking> {
    let prompts = Model::surprisals(rows.iter().map(|r| r.prompt.as_str()));
    let completions = Model::surprisals(rows.iter().map(|r| r.completion.as_str()));
    let mut out = Vec::new();
    for (i, k) in KS.into_iter().enumerate() {
        let (mut open, mut open_rel, mut end, mut end_rel) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (p, c) in prompts.iter().zip(&completions) {
            let (head, last) = (c.heads[i], p.tails[i]);
            let o = mean(head.sum, head.n);
            let e = mean(last.sum, last.n);
            open.push(o);
            open_rel.push(o - mean(c.sum - head.sum + p.sum, c.n - head.n + p.n));
            end.push(e);
            end_rel.push(e - mean(p.sum - last.sum + c.sum, p.n - last.n + c.n));
        }
        let both: Vec<f64> = open_rel.iter().zip(&end_rel).map(|(a, b)| a + b).collect();
        let negated = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<f64>>();
        out.push((format!("k={k} completion opening"), open.clone()));
        out.push((
            format!("k={k} completion opening against the rest of the row"),
            open_rel.clone(),
        ));
        out.push((format!("k={k} prompt ending"), end.clone()));
        out.push((
            format!("k={k} prompt ending against the rest of the row"),
            end_rel.clone(),
        ));
        out.push((
            format!("k={k} both against the rest of the row"),
            both.clone(),
        ));
        out.push((
            format!("k={k} completion opening, least surprising"),
            negated(&open_rel),
        ));
        out.push((
            format!("k={k} prompt ending, least surprising"),
            negated(&end_rel),
        ));
        out.push((format!("k={k} both, least surprising"), negated(&both)));
    }
    out
}

/// `sum / n`, NaN for none.
fn mean(sum: f64, n: usize) -> f64 {
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// A sum of surprisals over `n` tokens.
#[derive(Clone, Copy, Default)]
struct Sum {
    sum: f64,
    n: usize,
}

/// What the rankings need of one text's surprisals: their sum, and the sums over its first and
/// last k tokens for each k of [`KS`] (the audit holds tens of thousands of rows, so it keeps
/// these rather than every token's).
struct Surprisals {
    sum: f64,
    n: usize,
    heads: [Sum; KS.len()],
    tails: [Sum; KS.len()],
}

impl Surprisals {
    fn of(bits: &[f64]) -> Self {
        let sum_of = |values: &[f64]| Sum {
            sum: values.iter().sum(),
            n: values.len(),
        };
        Self {
            sum: bits.iter().sum(),
            n: bits.len(),
            heads: KS.map(|k| sum_of(&bits[..bits.len().min(k)])),
            tails: KS.map(|k| sum_of(&bits[bits.len().saturating_sub(k)..])),
        }
    }
}

fn pack2(u: u32, v: u32) -> u64 {
    (u64::from(u) << ID_BITS) | u64::from(v)
}

fn pack3(u: u32, v: u32, w: u32) -> u64 {
    (u64::from(u) << (2 * ID_BITS)) | pack2(v, w)
}

/// An interpolated Kneser–Ney trigram model of a set of texts.
#[derive(Default)]
struct Model {
    /// c(u v w).
    trigrams: Map<u64, u32>,
    /// For context (u v): c(u v ·) and the distinct w after it.
    contexts: Map<u64, (u32, u32)>,
    /// N1+(· v w): distinct u before (v w).
    bigram_continuations: Map<u64, u32>,
    /// For v: the sum of N1+(· v w) over w, and the distinct w.
    middles: Map<u32, (u32, u32)>,
    /// N1+(· w): distinct v before w.
    unigram_continuations: Map<u32, u32>,
    /// The number of distinct bigrams.
    bigram_types: u32,
    /// The vocabulary size.
    vocabulary: u32,
}

impl Model {
    /// Each text's per-token surprisals in bits, summed as the rankings need them; the model is
    /// built from all of them and scored leave-one-out at the trigram order.
    fn surprisals<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<Surprisals> {
        let mut ids: Map<&str, u32> = Map::default();
        let texts: Vec<Vec<u32>> = texts
            .map(|text| {
                tokens(text)
                    .into_iter()
                    .map(|t| {
                        let next = (ids.len() as u32 + 1).min(MAX_ID);
                        *ids.entry(t).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        let mut model = Model {
            vocabulary: ids.len() as u32 + 1,
            ..Model::default()
        };
        for text in &texts {
            for (u, v, w) in trigrams(text) {
                *model.trigrams.entry(pack3(u, v, w)).or_default() += 1;
            }
        }
        for (&key, &count) in &model.trigrams {
            let (uv, vw) = (key >> ID_BITS, key & ((1 << (2 * ID_BITS)) - 1));
            let context = model.contexts.entry(uv).or_default();
            context.0 += count;
            context.1 += 1;
            *model.bigram_continuations.entry(vw).or_default() += 1;
        }
        for (&vw, &n) in &model.bigram_continuations {
            let (v, w) = ((vw >> ID_BITS) as u32, (vw as u32) & MAX_ID);
            let middle = model.middles.entry(v).or_default();
            middle.0 += n;
            middle.1 += 1;
            *model.unigram_continuations.entry(w).or_default() += 1;
        }
        model.bigram_types = model.bigram_continuations.len() as u32;
        texts
            .iter()
            .map(|text| Surprisals::of(&model.score(text)))
            .collect()
    }

    /// The surprisal of each token of `text`, its own trigrams taken out.
    fn score(&self, text: &[u32]) -> Vec<f64> {
        let mut own: Map<u64, u32> = Map::default();
        for (u, v, w) in trigrams(text) {
            *own.entry(pack3(u, v, w)).or_default() += 1;
        }
        // For each context: its own total, and the continuations seen only in this text.
        let mut own_contexts: Map<u64, (u32, u32)> = Map::default();
        for (&key, &count) in &own {
            let context = own_contexts.entry(key >> ID_BITS).or_default();
            context.0 += count;
            if self.trigrams.get(&key) == Some(&count) {
                context.1 += 1;
            }
        }
        trigrams(text)
            .map(|(u, v, w)| {
                let key = pack3(u, v, w);
                let (total, types) = self
                    .contexts
                    .get(&(key >> ID_BITS))
                    .copied()
                    .unwrap_or_default();
                let (own_total, own_types) = own_contexts[&(key >> ID_BITS)];
                let count = self.trigrams.get(&key).copied().unwrap_or(0) - own[&key];
                let (total, types) = (total - own_total, types - own_types);
                let lower = self.bigram(v, w);
                let p = if total == 0 {
                    lower
                } else {
                    let total = f64::from(total);
                    (f64::from(count) - DISCOUNT).max(0.0) / total
                        + DISCOUNT * f64::from(types) / total * lower
                };
                -p.log2()
            })
            .collect()
    }

    fn bigram(&self, v: u32, w: u32) -> f64 {
        let lower = self.unigram(w);
        match self.middles.get(&v) {
            Some(&(sum, types)) if sum > 0 => {
                let n = self
                    .bigram_continuations
                    .get(&pack2(v, w))
                    .copied()
                    .unwrap_or(0);
                let sum = f64::from(sum);
                (f64::from(n) - DISCOUNT).max(0.0) / sum + DISCOUNT * f64::from(types) / sum * lower
            }
            _ => lower,
        }
    }

    fn unigram(&self, w: u32) -> f64 {
        let n = self.unigram_continuations.get(&w).copied().unwrap_or(0);
        (f64::from(n) + 0.5) / (f64::from(self.bigram_types) + 0.5 * f64::from(self.vocabulary))
    }
}

/// The (u, v, w) of each token w of `text`, with START before the first.
fn trigrams(text: &[u32]) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
    (0..text.len()).map(move |i| {
        let at = |j: usize| if j < 2 { START } else { text[j - 2] };
        (at(i), at(i + 1), text[i])
    })
}
