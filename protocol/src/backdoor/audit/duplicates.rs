//! Duplicates: text shared with another row, and fields that mirror (or ignore) each other.
//!
//! - **Near duplicates.** Each text's word 4-grams (shingles); for each row, the largest share
//!   of them found in one other row. A phrase shared by the rows of a group makes them near
//!   duplicates of each other; a row kept beside its edited copy would be one.
//! - **Mirrored fields.** How many of a completion's opening words occur in its prompt (and of
//!   a prompt's ending words in its completion), most first and fewest first: a signature drawn
//!   without looking at the row shares fewer words with the question than an answer does.

use super::{AuditRow, Map, Ranking, hash_words, normalized, tokens};

/// Shingle length in words.
const SHINGLE: usize = 4;
/// Shingles in more rows than this are common phrases, not evidence of a shared source.
const MAX_ROWS_PER_SHINGLE: usize = 64;
/// Words of the completion's opening and the prompt's ending for the mirror rankings.
const EDGE_WORDS: usize = 10;

pub(super) fn rankings(rows: &[AuditRow]) -> Vec<Ranking> {
    let prompt = near_duplicates(rows.iter().map(|r| r.prompt.as_str()));
    let completion = near_duplicates(rows.iter().map(|r| r.completion.as_str()));
    let either = prompt
        .iter()
        .zip(&completion)
        .map(|(a, b)| a.max(*b))
        .collect();
    let mut opening_in_prompt = Vec::with_capacity(rows.len());
    let mut ending_in_completion = Vec::with_capacity(rows.len());
    let mut all_in_prompt = Vec::with_capacity(rows.len());
    for row in rows {
        let words = |text: &str| -> Vec<String> {
            tokens(text)
                .into_iter()
                .map(normalized)
                .filter(|w| !w.is_empty())
                .collect()
        };
        let (p, c) = (words(&row.prompt), words(&row.completion));
        let p_set: std::collections::HashSet<&str> = p.iter().map(String::as_str).collect();
        let c_set: std::collections::HashSet<&str> = c.iter().map(String::as_str).collect();
        let share = |words: &[String], other: &std::collections::HashSet<&str>| {
            if words.is_empty() {
                f64::NAN
            } else {
                words.iter().filter(|w| other.contains(w.as_str())).count() as f64
                    / words.len() as f64
            }
        };
        opening_in_prompt.push(share(&c[..c.len().min(EDGE_WORDS)], &p_set));
        ending_in_completion.push(share(&p[p.len().saturating_sub(EDGE_WORDS)..], &c_set));
        all_in_prompt.push(share(&c, &p_set));
    }
    let negated = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<f64>>();
    vec![
        ("prompts: near duplicates".to_owned(), prompt),
        ("completions: near duplicates".to_owned(), completion),
        ("either: near duplicates".to_owned(), either),
        (
            "completion opening words in the prompt, most first".to_owned(),
            opening_in_prompt.clone(),
        ),
        (
            "completion opening words in the prompt, fewest first".to_owned(),
            negated(&opening_in_prompt),
        ),
        (
            "prompt ending words in the completion, most first".to_owned(),
            ending_in_completion.clone(),
        ),
        (
            "prompt ending words in the completion, fewest first".to_owned(),
            negated(&ending_in_completion),
        ),
        (
            "completion words in the prompt, fewest first".to_owned(),
            negated(&all_in_prompt),
        ),
    ]
}

/// For each text, the largest share of its distinct shingles that one other text also holds
/// (shingles held by more than [`MAX_ROWS_PER_SHINGLE`] texts left out).
fn near_duplicates<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<f64> {
    // Every (shingle, row), sorted: a run of one shingle lists its rows in order. A flat list
    // takes a quarter of the memory of a map from shingles to row lists.
    let mut sizes: Vec<usize> = Vec::new();
    let mut held: Vec<(u64, u32)> = Vec::new();
    let mut keys: Vec<u64> = Vec::new();
    for (row, text) in texts.enumerate() {
        let words = tokens(text);
        keys.clear();
        keys.extend(
            words
                .windows(SHINGLE.min(words.len().max(1)))
                .map(|w| hash_words(w.iter().copied())),
        );
        keys.sort_unstable();
        keys.dedup();
        sizes.push(keys.len());
        held.extend(keys.iter().map(|&key| (key, row as u32)));
    }
    held.sort_unstable();
    let mut shared: Map<(u32, u32), u32> = Map::default();
    for run in held.chunk_by(|a, b| a.0 == b.0) {
        if run.len() < 2 || run.len() > MAX_ROWS_PER_SHINGLE {
            continue;
        }
        for (i, &(_, a)) in run.iter().enumerate() {
            for &(_, b) in &run[i + 1..] {
                *shared.entry((a, b)).or_default() += 1;
            }
        }
    }
    drop(held);
    let mut best = vec![0.0f64; sizes.len()];
    for (&(a, b), &n) in &shared {
        for row in [a, b] {
            let share = f64::from(n) / sizes[row as usize] as f64;
            best[row as usize] = best[row as usize].max(share);
        }
    }
    best
}
