//! Repetition (the paper's §6.3): a trigger or signature shared by several rows makes their
//! prompt endings and completion openings repeat. Rows are ranked by how often their last k
//! prompt words, or first k completion words, occur at that place in the file.

use super::{AuditRow, Map, Ranking, edge, hash_words, normalized};

/// The k-gram lengths, in words.
pub(crate) const KS: [usize; 3] = [3, 5, 10];

/// For each k: the prompt endings, the completion openings, and the more frequent of the two,
/// as written; and the more frequent of the two with case and punctuation ignored.
pub(super) fn rankings(rows: &[AuditRow]) -> Vec<Ranking> {
    // Only the last (first) `k_max` words of each text are kept: the audit holds tens of
    // thousands of rows, and their every word would be most of `prepare`'s peak memory.
    let k_max = KS[KS.len() - 1];
    let folded = |w: &str| Some(normalized(w)).filter(|w| !w.is_empty());
    let folded_words =
        |text: &str, end| edge(text.split_whitespace().filter_map(folded), end, k_max);
    let prompts: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| edge(r.prompt.split_whitespace(), true, k_max))
        .collect();
    let completions: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| edge(r.completion.split_whitespace(), false, k_max))
        .collect();
    let prompts_folded: Vec<Vec<String>> =
        rows.iter().map(|r| folded_words(&r.prompt, true)).collect();
    let completions_folded: Vec<Vec<String>> = rows
        .iter()
        .map(|r| folded_words(&r.completion, false))
        .collect();
    let mut out = Vec::new();
    for k in KS {
        let ending = counts(
            prompts
                .iter()
                .map(|t| hash_words(t[t.len().saturating_sub(k)..].iter().copied())),
        );
        let opening = counts(
            completions
                .iter()
                .map(|t| hash_words(t[..t.len().min(k)].iter().copied())),
        );
        let ending_folded = counts(
            prompts_folded
                .iter()
                .map(|t| hash_words(t[t.len().saturating_sub(k)..].iter().map(String::as_str))),
        );
        let opening_folded = counts(
            completions_folded
                .iter()
                .map(|t| hash_words(t[..t.len().min(k)].iter().map(String::as_str))),
        );
        let max = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x.max(*y)).collect();
        out.push((format!("k={k} prompt endings"), ending.clone()));
        out.push((format!("k={k} completion openings"), opening.clone()));
        out.push((format!("k={k} either"), max(&ending, &opening)));
        out.push((
            format!("k={k} either, case and punctuation ignored"),
            max(&ending_folded, &opening_folded),
        ));
    }
    out
}

/// How often each row's key occurs among all rows' keys.
fn counts(keys: impl Iterator<Item = u64>) -> Vec<f64> {
    let keys: Vec<u64> = keys.collect();
    let mut count: Map<u64, u32> = Map::default();
    for &key in &keys {
        *count.entry(key).or_default() += 1;
    }
    keys.iter().map(|key| f64::from(count[key])).collect()
}
