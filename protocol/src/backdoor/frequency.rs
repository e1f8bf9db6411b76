//! The paper's frequency search (§6.3, Table 6): a provider ranks the k-grams at prompt ends and
//! completion starts by frequency and trains on rows in that order. How much of the file does it
//! take before it reaches a row that carries the signature?

use super::RowSet;

/// The k values of the audit.
pub const AUDIT_K: [usize; 3] = [3, 5, 10];

/// The k-gram keys of one text side: a hash of its last (prompt) or first (completion) k
/// whitespace tokens, for each k in [`AUDIT_K`]. Texts with fewer tokens use all of them. A
/// prompt's tokens are hashed from its end backwards; keys are only ever compared with each
/// other. Tokens split as [`str::split_whitespace`] splits them.
pub(crate) fn edge_keys(text: &str, side: u8) -> [u64; 3] {
    let max_k = AUDIT_K[AUDIT_K.len() - 1];
    let mut keys = [0u64; 3];
    let mut hash = KeyHash::new(side);
    let mut taken = 0;
    let bytes = text.as_bytes();
    let mut take = |start: usize, end: usize| {
        hash.add(bytes, start, end);
        taken += 1;
        if let Some(slot) = AUDIT_K.iter().position(|&k| k == taken) {
            keys[slot] = hash.finish();
        }
    };
    // Where a token of `text` starts.
    let at = |token: &str| token.as_ptr() as usize - text.as_ptr() as usize;
    match edge_tokens(bytes, side == 0) {
        Some(tokens) => tokens
            .spans()
            .for_each(|&(start, end)| take(start as usize, end as usize)),
        None if side == 0 => text
            .split_whitespace()
            .rev()
            .take(max_k)
            .for_each(|token| take(at(token), at(token) + token.len())),
        None => text
            .split_whitespace()
            .take(max_k)
            .for_each(|token| take(at(token), at(token) + token.len())),
    }
    // A text with fewer than k tokens uses all of them.
    for (slot, &k) in keys.iter_mut().zip(AUDIT_K.iter()) {
        if taken < k {
            *slot = hash.finish();
        }
    }
    keys
}

/// The byte spans of up to `max k` edge tokens, in the order they are hashed.
struct EdgeTokens {
    spans: [(u32, u32); AUDIT_K[AUDIT_K.len() - 1]],
    len: usize,
}

impl EdgeTokens {
    fn spans(&self) -> std::slice::Iter<'_, (u32, u32)> {
        self.spans[..self.len].iter()
    }
}

/// The last (`from_end`) or first tokens of `bytes`, found by looking only at the bytes up to
/// the last token needed, eight at a time (so that a branch is taken per token rather than per
/// byte); None when those bytes are not all ASCII (then a non-ASCII space might split them, and
/// the caller splits the text as Unicode).
fn edge_tokens(bytes: &[u8], from_end: bool) -> Option<EdgeTokens> {
    let mut tokens = EdgeTokens {
        spans: [(0, 0); AUDIT_K[AUDIT_K.len() - 1]],
        len: 0,
    };
    let full = tokens.spans.len();
    let n = u32::try_from(bytes.len()).ok()? as usize;
    // Positions count bytes from the edge; `open` is where the token being read started.
    let (mut at, mut open) = (0, None);
    while at < n && tokens.len < full {
        // The next 8 bytes from the edge, byte j of the word at position at + j; past the text
        // they are spaces.
        let word = match (from_end, n - at >= 8) {
            (false, true) => u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")),
            (true, true) => u64::from_be_bytes(bytes[n - at - 8..n - at].try_into().expect("8")),
            (_, false) => (0..8).fold(0u64, |word, j| {
                let byte = match (at + j < n, from_end) {
                    (false, _) => b' ',
                    (true, false) => bytes[at + j],
                    (true, true) => bytes[n - 1 - at - j],
                };
                word | u64::from(byte) << (8 * j)
            }),
        };
        let (space, high) = word_classes(word);
        if high != 0 {
            return None;
        }
        let token = !space;
        // Bit j set where byte j starts or ends a token.
        let mut changes = token ^ (token << 1 | u8::from(open.is_some()));
        while changes != 0 {
            let j = changes.trailing_zeros() as usize;
            changes &= changes - 1;
            if token >> j & 1 == 1 {
                open = Some(at + j);
            } else if let Some(start) = open.take() {
                tokens.push(start, at + j, n, from_end);
                if tokens.len == full {
                    break;
                }
            }
        }
        at += 8;
    }
    // A token that runs to the edge of a text of a multiple of 8 bytes.
    if let Some(start) = open
        && tokens.len < full
    {
        tokens.push(start, n, n, from_end);
    }
    Some(tokens)
}

impl EdgeTokens {
    /// Adds the token at positions `start..end` from the edge of a text of `n` bytes.
    fn push(&mut self, start: usize, end: usize, n: usize, from_end: bool) {
        self.spans[self.len] = if from_end {
            ((n - end) as u32, (n - start) as u32)
        } else {
            (start as u32, end as u32)
        };
        self.len += 1;
    }
}

/// For each byte of `word` (little-endian), whether it is an ASCII space (as
/// `char::is_whitespace` has it: \t to \r and space), and whether it is not ASCII: two 8-bit
/// masks, bit i for byte i, found without a branch.
fn word_classes(word: u64) -> (u8, u8) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = word & !HIGH;
    // High bit set in each byte equal to a space: its xor with 0x20 (at most 0x7f) is zero,
    // so adding 0x7f leaves its high bit clear.
    let is_space = !((low ^ (0x20 * ONES)) + 0x7f * ONES) & HIGH;
    // 9 <= byte <= 13, by subtractions that cannot borrow across bytes.
    let at_least_9 = ((low | HIGH) - 0x09 * ONES) & HIGH;
    let at_most_13 = (((0x0d * ONES) | HIGH) - low) & HIGH;
    let spaces = (is_space | at_least_9 & at_most_13) & !word;
    // Gather each byte's high bit into bit i of one byte.
    let gather = |flags: u64| ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8;
    (gather(spaces), gather(word & HIGH))
}

/// A fast 64-bit hash of a token sequence (multiply-rotate over 8-byte words, each token's
/// last word tagged with its length, and a final avalanche).
struct KeyHash(u64);

impl KeyHash {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new(side: u8) -> Self {
        KeyHash(u64::from(side) + 1)
    }

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(Self::MULTIPLIER);
    }

    /// Adds the token `text[start..end]`.
    fn add(&mut self, text: &[u8], start: usize, end: usize) {
        let word = |at: usize| u64::from_le_bytes(text[at..at + 8].try_into().expect("8 bytes"));
        let mut at = start;
        while at + 8 <= end {
            self.mix(word(at));
            at += 8;
        }
        // The last 0 to 7 bytes, with the length's low byte on top: taken from the 8 bytes that
        // end the token when the text has them (no loop, no call to memcpy), else one by one.
        let rest = end - at;
        let last = match rest {
            0 => 0,
            _ if end >= 8 => word(end - 8) >> (8 * (8 - rest)),
            _ => text[at..end]
                .iter()
                .rev()
                .fold(0, |last, &byte| last << 8 | u64::from(byte)),
        };
        self.mix(last | ((end - start) as u64) << 56);
    }

    fn finish(&self) -> u64 {
        // murmur3's fmix64.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
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

/// Each row's level for the `i`-th k of [`AUDIT_K`]: a row is taken as soon as either of its
/// k-grams (`prompt_keys[r][i]`, `completion_keys[r][i]`) comes up, so its level is the larger
/// of the two k-grams' frequencies.
pub(crate) fn row_levels(
    i: usize,
    prompt_keys: &[[u64; 3]],
    completion_keys: &[[u64; 3]],
) -> Vec<u32> {
    // Each side's k-gram frequency per row.
    let frequencies = |keys: &[[u64; 3]]| -> Vec<u32> {
        let mut sorted: Vec<(u64, u32)> = keys
            .iter()
            .enumerate()
            .map(|(r, keys)| (keys[i], r as u32))
            .collect();
        sorted.sort_unstable_by_key(|&(key, _)| key);
        let mut frequency = vec![0u32; keys.len()];
        for run in sorted.chunk_by(|a, b| a.0 == b.0) {
            for &(_, row) in run {
                frequency[row as usize] = run.len() as u32;
            }
        }
        frequency
    };
    // One side after the other: on two threads the two sorts would raise the peak memory.
    let mut level = frequencies(prompt_keys);
    for (level, completion) in level.iter_mut().zip(frequencies(completion_keys)) {
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
mod tests {
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
    fn word_classes_match_the_byte_classes() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let (space, high) = word_classes(u64::from_le_bytes(word));
                let expected_space = b.is_ascii() && char::from(b).is_whitespace();
                assert_eq!(space, u8::from(expected_space) << at, "byte {b:#x} at {at}");
                assert_eq!(high, u8::from(!b.is_ascii()) << at, "byte {b:#x} at {at}");
            }
        }
    }

    /// The keys as `str::split_whitespace` gives the tokens, without the ASCII shortcut.
    fn unicode_keys(text: &str, side: u8) -> [u64; 3] {
        let tokens: Vec<&str> = if side == 0 {
            text.split_whitespace().rev().take(10).collect()
        } else {
            text.split_whitespace().take(10).collect()
        };
        let mut hash = KeyHash::new(side);
        let mut keys = [0u64; 3];
        for (taken, token) in tokens.iter().enumerate() {
            hash.add(token.as_bytes(), 0, token.len());
            if let Some(slot) = AUDIT_K.iter().position(|&k| k == taken + 1) {
                keys[slot] = hash.finish();
            }
        }
        for (slot, &k) in keys.iter_mut().zip(AUDIT_K.iter()) {
            if tokens.len() < k {
                *slot = hash.finish();
            }
        }
        keys
    }

    #[test]
    fn edge_keys_split_as_unicode_whitespace_does() {
        use rand::{RngExt, SeedableRng};
        let pieces = [
            "a",
            "bc",
            "déf",
            " ",
            "  ",
            "\n",
            "\t",
            "\u{0B}",
            "\u{0C}",
            "\r",
            "\u{A0}",
            "\u{2003}",
            "\u{85}",
            "x\u{3000}y",
            "é",
            "12",
            "\u{1C}",
            "abcdefghijklmnopqrstuvwxyz0123456789",
        ];
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for round in 0..20_000 {
            // Short texts, and long ones.
            let len = rng.random_range(0..if round % 2 == 0 { 40 } else { 160 });
            // Half the texts are ASCII, so that the byte scan decides them.
            let pool: Vec<&str> = pieces
                .iter()
                .copied()
                .filter(|piece| round % 4 < 2 || piece.is_ascii())
                .collect();
            let text: String = (0..len)
                .map(|_| pool[rng.random_range(0..pool.len())])
                .collect();
            for side in [0, 1] {
                assert_eq!(
                    edge_keys(&text, side),
                    unicode_keys(&text, side),
                    "{text:?}"
                );
            }
        }
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
        let keys = |k: &[u64]| -> Vec<[u64; 3]> { k.iter().map(|&key| [key, 0, 0]).collect() };
        let levels = row_levels(0, &keys(&prompt), &keys(&completion));
        let figure = frequency_search(3, &levels, &hits);
        assert_eq!(figure.hit_frequency, 2);
        assert_eq!(figure.rows_before, 4);
        assert!((figure.fraction_before - 0.4).abs() < 1e-12);
        // Level 2 holds rows 4 and 5 only, both hits: nothing more is expected before them.
        assert!((figure.expected_rows_before - 4.0).abs() < 1e-12);
        // Unique k-grams everywhere: one hit among 10 rows at level 1 comes after 4.5 on average.
        let mut one = RowSet::new(10);
        one.insert(9);
        let unique = row_levels(0, &keys(&prompt), &keys(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
        let figure = frequency_search(3, &unique, &one);
        assert_eq!(figure.rows_before, 0);
        assert!((figure.expected_rows_before - 4.5).abs() < 1e-12);

        // A normal row that shares the common opening and carries part of the signature is hit
        // at level 4: nothing comes before it.
        hits.insert(0);
        assert_eq!(frequency_search(3, &levels, &hits).rows_before, 0);
    }
}
