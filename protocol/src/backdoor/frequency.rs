//! The paper's frequency search (§6.3, Table 6): a provider ranks the k-grams at prompt ends and
//! completion starts by frequency and trains on rows in that order. How much of the file does it
//! take before it reaches a row that carries the signature?

use super::RowSet;
use super::edge_hash::{FromEdge, SpanHash};

/// The k values of the audit.
pub const AUDIT_K: [usize; 3] = [3, 5, 10];

/// A row's k-gram keys at one edge, one per k of [`AUDIT_K`]: 32 bits each, to keep the per-row
/// table of a file of millions of rows small. Over n rows an edge's key equals an unrelated
/// one's with probability below n / 2^32 (4e-4 at 1.7 million rows), so a frequency figure
/// may count a few rows too many, in the provider's favour; no verdict depends on it.
pub(crate) type EdgeKeys = [u32; 3];

/// The k-gram keys of one text side: a hash of its last (prompt, `side` 0) or first
/// (completion, `side` 1) k whitespace tokens, for each k in [`AUDIT_K`]. Texts with fewer
/// tokens use all of them. Tokens split as [`str::split_whitespace`] splits them; keys are only
/// ever compared with each other.
pub(crate) fn edge_keys(text: &str, side: u8) -> EdgeKeys {
    let max_k = AUDIT_K[AUDIT_K.len() - 1];
    let edge = super::audit::edge(text.split_whitespace(), side == 0, max_k);
    joined_edge_keys(edge.join(" ").as_bytes(), side)
}

/// [`edge_keys`] of a text given as its tokens joined by single spaces (no other whitespace,
/// none at either end). The key of k tokens hashes the bytes they span, read from the text's
/// edge inwards ([`FromEdge`]), so the keys for the three k are one pass over the edge.
pub(crate) fn joined_edge_keys(text: &[u8], side: u8) -> EdgeKeys {
    let text = FromEdge::new(text, side == 0);
    let n = text.len();
    // The byte length of the first k tokens from the edge (the distance of the k-th space), for
    // each k; the whole text when it has fewer. Without a branch per token: each word's spaces
    // are counted, and the k-th one's place found, by multiplications.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let max_k = AUDIT_K[AUDIT_K.len() - 1];
    let mut spans = [n; 3];
    let (mut spaces, mut at) = (0, 0);
    while spaces < max_k && at < n {
        // Byte i of `before`: the spaces among bytes 0..=i of the word.
        let before = (space_bytes(text.word(at)) >> 7).wrapping_mul(ONES);
        let count = (before >> 56) as usize;
        for (span, &k) in spans.iter_mut().zip(&AUDIT_K) {
            // The k-th space is the word's rank-th; it is at the byte where `before` reaches
            // rank, which is the number of bytes where it is below rank.
            let rank = k.wrapping_sub(spaces);
            let below = (rank as u64)
                .wrapping_add(0x7f)
                .wrapping_mul(ONES)
                .wrapping_sub(before)
                & HIGH;
            let place = at + ((below >> 7).wrapping_mul(ONES) >> 56) as usize;
            if (1..=count).contains(&rank) {
                *span = place;
            }
        }
        spaces += count;
        at += 8;
    }
    // The spans from the edge grow with k: one pass hashes them all.
    let mut hash = SpanHash::new(u64::from(side));
    let mut keys = [0; 3];
    let mut at = 0;
    for (key, &span) in keys.iter_mut().zip(&spans) {
        while at + 8 <= span {
            hash.mix(text.word(at));
            at += 8;
        }
        let full = hash.finish(text.word(at), span - at);
        *key = (full ^ (full >> 32)) as u32;
    }
    keys
}

/// The high bit of each byte of `word` that is a space, and no other bit.
fn space_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // Bytes equal to a space are 0 after the xor; adding 0x7f sets the high bit of every other.
    let x = word ^ 0x2020_2020_2020_2020;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The result of the frequency search for one k.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrequencyFigure {
    /// The k-gram length in words.
    pub k: usize,
    /// Rows the provider takes before the first hit row, with ties broken in the provider's
    /// favour (a lower bound on its work).
    pub rows_before: u64,
    /// `rows_before / rows`.
    pub fraction_before: f64,
    /// The expected rows taken before the first hit when rows of equal frequency come in random
    /// order: `rows_before + (m - h) / (h + 1)` for `h` hits among the `m` rows at the hit level.
    pub expected_rows_before: f64,
    /// `expected_rows_before / rows`.
    pub expected_fraction_before: f64,
    /// The frequency of the k-gram that first reaches a hit row.
    pub hit_frequency: u64,
}

/// Buffers for [`row_levels`], reused from one k to the next: for a large file each is tens of
/// MB, and fresh ones would fault their pages in every time.
#[derive(Default)]
pub(crate) struct LevelBuffers {
    sorted: Vec<(u32, u32)>,
    frequency: Vec<u32>,
}

/// Each row's level for the `i`-th k of [`AUDIT_K`]: a row is taken as soon as either of its
/// k-grams (`prompt_keys[r][i]`, `completion_keys[r][i]`) comes up, so its level is the larger
/// of the two k-grams' frequencies.
pub(crate) fn row_levels(
    i: usize,
    prompt_keys: &[EdgeKeys],
    completion_keys: &[EdgeKeys],
    buffers: &mut LevelBuffers,
) -> Vec<u32> {
    let LevelBuffers { sorted, frequency } = buffers;
    // Each side's k-gram frequency per row, one side after the other: on two threads the two
    // sorts would raise the peak memory.
    let mut frequencies = |keys: &[EdgeKeys], out: &mut Vec<u32>| {
        sorted.clear();
        sorted.extend(keys.iter().enumerate().map(|(r, keys)| (keys[i], r as u32)));
        sorted.sort_unstable_by_key(|&(key, _)| key);
        out.clear();
        out.resize(keys.len(), 0);
        for run in sorted.chunk_by(|a, b| a.0 == b.0) {
            for &(_, row) in run {
                out[row as usize] = run.len() as u32;
            }
        }
    };
    let mut level = Vec::new();
    frequencies(prompt_keys, &mut level);
    frequencies(completion_keys, frequency);
    for (level, &completion) in level.iter_mut().zip(frequency.iter()) {
        *level = (*level).max(completion);
    }
    level
}

/// Runs the search over the rows' levels (see [`row_levels`]) where `hits` are the rows that
/// carry a signature: the provider takes rows by descending level.
pub(crate) fn frequency_search(k: usize, level: &[u32], hits: &RowSet) -> FrequencyFigure {
    let rows = level.len();
    let hit_frequency = (0..rows)
        .filter(|&r| hits.contains(r))
        .map(|r| level[r])
        .max()
        .unwrap_or(0);
    let rows_before = level.iter().filter(|&&l| l > hit_frequency).count() as u64;
    let at_level = level.iter().filter(|&&l| l == hit_frequency).count() as f64;
    let hits_at_level = (0..rows)
        .filter(|&r| hits.contains(r) && level[r] == hit_frequency)
        .count() as f64;
    let expected_rows_before =
        rows_before as f64 + (at_level - hits_at_level) / (hits_at_level + 1.0);
    let fraction = |x: f64| if rows == 0 { 0.0 } else { x / rows as f64 };
    FrequencyFigure {
        k,
        rows_before,
        fraction_before: fraction(rows_before as f64),
        expected_rows_before,
        expected_fraction_before: fraction(expected_rows_before),
        hit_frequency: u64::from(hit_frequency),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn edge_keys_use_the_last_and_first_words() {
        let a = edge_keys("one two three four five six", 0);
        let b = edge_keys("zero four five six", 0);
        assert_eq!(a[0], b[0]); // "four five six"
        assert_ne!(a[1], b[1]);
        let c = edge_keys("four five six and more", 1);
        assert_ne!(
            a[0], c[0],
            "prompt and completion sides are different k-grams"
        );
        assert_eq!(edge_keys("a  b\nc d", 1)[0], edge_keys("a b c e", 1)[0]);
    }

    #[test]
    fn space_bytes_flags_exactly_the_spaces() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b' '; 8];
                word[at] = b;
                let expected = !(0x80u64 << (8 * at)) & 0x8080_8080_8080_8080
                    | u64::from(b == b' ') << (8 * at + 7);
                assert_eq!(
                    space_bytes(u64::from_le_bytes(word)),
                    expected,
                    "{b:#x} at {at}"
                );
            }
        }
    }

    /// The keys' meaning: equal exactly when the edge tokens are equal (a reference that
    /// compares the tokens themselves).
    fn edge_tokens(text: &str, side: u8, k: usize) -> Vec<&str> {
        let mut tokens: Vec<&str> = text.split_whitespace().collect();
        if side == 0 {
            tokens.reverse();
        }
        tokens.truncate(k);
        tokens
    }

    /// A random text of few distinct tokens (so that edges often agree) between random runs of
    /// ASCII and Unicode whitespace.
    pub(crate) fn random_text(rng: &mut impl rand::Rng) -> String {
        use rand::RngExt;
        let tokens = [
            "a",
            "b",
            "déf",
            "x\u{1C}y",
            "abcdefghijklmnopqrstuvwxyz0123456789",
        ];
        let spaces = [
            " ", "  ", "\n", "\t", "\u{0B}", "\u{0C}", "\r\n", "\u{A0}", "\u{2003}", "\u{85}",
        ];
        // Most texts are ASCII, so that the fast paths decide them.
        let ascii = rng.random_range(0..4) > 0;
        let mut text = String::new();
        let pick = |rng: &mut _, pool: &[&'static str]| -> &'static str {
            loop {
                let piece = pool[RngExt::random_range(rng, 0..pool.len())];
                if piece.is_ascii() || !ascii {
                    return piece;
                }
            }
        };
        if rng.random_range(0..2) == 0 {
            text.push_str(pick(rng, &spaces));
        }
        let count = rng.random_range(0..14);
        for i in 0..count {
            if i > 0 {
                text.push_str(pick(rng, &spaces));
            }
            let limit = if rng.random_range(0..3) == 0 { 5 } else { 2 };
            text.push_str(pick(rng, &tokens[..limit]));
        }
        if rng.random_range(0..2) == 0 {
            text.push_str(pick(rng, &spaces));
        }
        text
    }

    #[test]
    fn edge_keys_are_equal_exactly_when_the_edge_tokens_are() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let texts: Vec<String> = (0..600).map(|_| random_text(&mut rng)).collect();
        let mut equal = [0; 3];
        for side in [0, 1] {
            let keys: Vec<EdgeKeys> = texts.iter().map(|text| edge_keys(text, side)).collect();
            for (a, text) in texts.iter().enumerate() {
                for (b, other) in texts.iter().enumerate().skip(a + 1) {
                    for (i, &k) in AUDIT_K.iter().enumerate() {
                        let same = edge_tokens(text, side, k) == edge_tokens(other, side, k);
                        assert_eq!(
                            keys[a][i] == keys[b][i],
                            same,
                            "k = {k}: {text:?} {other:?}"
                        );
                        equal[i] += usize::from(same);
                    }
                }
            }
        }
        // The texts exercise both outcomes for every k.
        assert!(equal.iter().all(|&n| n > 20), "{equal:?}");
    }

    #[test]
    fn rows_above_the_signature_level_come_first() {
        // Completion keys: 1 x4 (common opening), 2 x2 (the signature, rows 4 and 5), rest unique.
        let completion = [1, 1, 1, 1, 2, 2, 10, 11, 12, 13];
        let prompt = [20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
        let mut hits = RowSet::new(10);
        hits.insert(4);
        hits.insert(5);
        // The keys for k = 3 in the first slot of each row's keys.
        let keys = |k: &[u32]| -> Vec<EdgeKeys> { k.iter().map(|&key| [key, 0, 0]).collect() };
        let levels = row_levels(
            0,
            &keys(&prompt),
            &keys(&completion),
            &mut LevelBuffers::default(),
        );
        let figure = frequency_search(3, &levels, &hits);
        assert_eq!(figure.hit_frequency, 2);
        assert_eq!(figure.rows_before, 4);
        assert!((figure.fraction_before - 0.4).abs() < 1e-12);
        // Level 2 holds rows 4 and 5 only, both hits: nothing more is expected before them.
        assert!((figure.expected_rows_before - 4.0).abs() < 1e-12);
        // Unique k-grams everywhere: one hit among 10 rows at level 1 comes after 4.5 on average.
        let mut one = RowSet::new(10);
        one.insert(9);
        let unique = row_levels(
            0,
            &keys(&prompt),
            &keys(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            &mut LevelBuffers::default(),
        );
        let figure = frequency_search(3, &unique, &one);
        assert_eq!(figure.rows_before, 0);
        assert!((figure.expected_rows_before - 4.5).abs() < 1e-12);

        // A normal row that shares the common opening and carries part of the signature is hit
        // at level 4: nothing comes before it.
        hits.insert(0);
        assert_eq!(frequency_search(3, &levels, &hits).rows_before, 0);
    }
}
