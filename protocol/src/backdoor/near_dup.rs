//! Near duplicates, found by hashing rather than sorting texts, so that memory stays a few words
//! per row whatever the input size.
//!
//! - **Repeats.** A row whose prompt or completion occurs again elsewhere cannot carry a
//!   backdoor: its twin would stay behind as a near duplicate. Texts are compared by
//!   ([`text_key`]), so a hash collision can only exclude a row, never let a repeat through.
//! - **Pairs with a backdoor row.** In the output, the pairs where one prompt is a prefix of the
//!   other, or one completion a suffix of the other, and one of the two rows is a backdoor.
//!   Every prefix (suffix) of a backdoor text is hashed incrementally and looked up among the
//!   other rows' text hashes; backdoor texts are also compared with each other directly. A
//!   backdoor text can never be a prefix of a normal row's text: it holds the novel trigger
//!   (signature), which occurs in no input row.

use super::RowSet;
use super::edge_hash::{FromEdge, SpanHash};

/// A text's key: the hash of its bytes read from the end where its pairs meet (the start of a
/// prompt, the end of a completion), so that the keys of every prefix (suffix) of a backdoor text
/// come from one pass over it; 0 for a blank text, which takes part in no pair and is never a
/// repeat.
pub(crate) fn text_key(text: &str, end: End) -> u64 {
    if text.trim().is_empty() {
        return 0;
    }
    let text = FromEdge::new(text.as_bytes(), end == End::Finish);
    text.hash(KEY_SEED, text.len()).max(1)
}

/// The seed of the text keys' hash.
const KEY_SEED: u64 = 0x6b65_7973;

/// Every non-blank text's row, sorted by its key: for the repeats, and for the lookups of the
/// pair search. The keys stay in the rows' table it borrows (a row number is a quarter of a
/// (key, row) pair, and a large file has millions of rows).
pub(crate) struct SortedKeys<'a> {
    keys: &'a [u64],
    order: Vec<u32>,
    /// Where the keys with each value of their leading `bits` bits start in `order` (keys are
    /// hashes, so a lookup searches only a handful of rows).
    index: Vec<u32>,
    bits: u32,
    /// A Bloom filter of the keys, two bits in one word each (about 16 bits a key): most
    /// lookups find nothing, and this answers almost all of them with one read.
    filter: Vec<u64>,
}

impl<'a> SortedKeys<'a> {
    /// Sorts the rows by their keys ([`text_key`] by row; 0 for a blank text, left out).
    pub(crate) fn new(keys: &'a [u64]) -> Self {
        let order = {
            // Sorting the pairs reads memory in order; the keys are then dropped.
            let mut pairs: Vec<(u64, u32)> = keys
                .iter()
                .enumerate()
                .filter(|&(_, &key)| key != 0)
                .map(|(row, &key)| (key, row as u32))
                .collect();
            pairs.sort_unstable_by_key(|&(key, _)| key);
            pairs.into_iter().map(|(_, row)| row).collect::<Vec<u32>>()
        };
        let bits = (order.len() / 8).max(1).ilog2().clamp(1, 24);
        let mut index = vec![0u32; (1 << bits) + 1];
        let mut sorted = SortedKeys {
            keys,
            filter: vec![0u64; (order.len() / 4).max(1).next_power_of_two()],
            order: Vec::new(),
            index: Vec::new(),
            bits,
        };
        for &row in &order {
            let key = keys[row as usize];
            index[(key >> (64 - bits)) as usize + 1] += 1;
            let (word, mask) = sorted.filter_bits(key);
            sorted.filter[word] |= mask;
        }
        for b in 1..index.len() {
            index[b] += index[b - 1];
        }
        sorted.order = order;
        sorted.index = index;
        sorted
    }

    /// Where `key` is in the filter: a word, and the two bits in it.
    #[inline]
    fn filter_bits(&self, key: u64) -> (usize, u64) {
        let word = (key >> 12) as usize & (self.filter.len() - 1);
        (word, 1 << (key & 63) | 1 << ((key >> 6) & 63))
    }

    /// False when no row has key `key`; true when one may.
    #[inline]
    fn may_hold(&self, key: u64) -> bool {
        let (word, mask) = self.filter_bits(key);
        self.filter[word] & mask == mask
    }

    /// The rows whose text occurs in another row too.
    pub(crate) fn repeated(&self) -> RowSet {
        let mut rows = RowSet::new(self.keys.len());
        let key = |row: &u32| self.keys[*row as usize];
        for run in self.order.chunk_by(|a, b| key(a) == key(b)) {
            if run.len() > 1 {
                for &row in run {
                    rows.insert(row as usize);
                }
            }
        }
        rows
    }

    /// The rows with key `key`.
    fn rows_with(&self, key: u64) -> impl Iterator<Item = u32> + '_ {
        let range = if !self.may_hold(key) {
            0..0
        } else {
            let b = (key >> (64 - self.bits)) as usize;
            self.index[b] as usize..self.index[b + 1] as usize
        };
        let bucket = &self.order[range];
        let start = bucket.partition_point(|&row| self.keys[row as usize] < key);
        bucket[start..]
            .iter()
            .copied()
            .take_while(move |&row| self.keys[row as usize] == key)
    }
}

/// Which end of the texts a pair shares: prompts pair as prefixes, completions as suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// One text is a prefix of the other.
    Start,
    /// One text is a suffix of the other.
    Finish,
}

/// The near-duplicate pairs of one side (prompts or completions) that involve a backdoor.
#[derive(Debug, Default)]
pub(crate) struct Pairs {
    /// Pairs counted once each.
    pub(crate) total: u64,
    /// The backdoor rows in any pair.
    pub(crate) rows: Vec<u32>,
}

/// Counts the pairs between the `backdoors` (row, text as it is in the output) and every other
/// row's text (`keys`; `lengths` holds every non-blank text length), and among the backdoors
/// themselves.
pub(crate) fn backdoor_pairs(
    keys: &SortedKeys<'_>,
    lengths: &RowSet,
    backdoors: &[(u32, &str)],
    end: End,
) -> Pairs {
    let is_backdoor: RowSet = {
        let mut set = RowSet::new(keys.keys.len());
        for &(row, _) in backdoors {
            set.insert(row as usize);
        }
        set
    };
    let others = Others {
        keys,
        is_backdoor: &is_backdoor,
    };
    let mut pairs = Pairs::default();
    let mut prefix_keys = Vec::new();
    for &(row, text) in backdoors {
        // The key of every prefix (suffix) of the text as long as some text, extended 8 bytes
        // at a time.
        let bytes = FromEdge::new(text.as_bytes(), end == End::Finish);
        let mut hash = SpanHash::new(KEY_SEED);
        let (mut mixed, mut word) = (0, bytes.word(0));
        prefix_keys.clear();
        for len in 1..=bytes.len() {
            if len - mixed == 8 {
                hash.mix(word);
                mixed = len;
                word = bytes.word(mixed);
            }
            if lengths.contains(len) {
                prefix_keys.push(hash.finish(word, len - mixed).max(1));
            }
        }
        // The filter reads, apart from the hashing, so that many are under way at once.
        let found: u64 = prefix_keys
            .iter()
            .filter(|&&key| keys.may_hold(key))
            .map(|&key| others.count(key))
            .sum();
        if found > 0 {
            pairs.total += found;
            pairs.rows.push(row);
        }
    }
    // Among the backdoors: sort (completions byte-reversed) and follow prefix chains.
    let mut own: Vec<(Vec<u8>, u32)> = backdoors
        .iter()
        .filter(|(_, text)| !text.trim().is_empty())
        .map(|&(row, text)| match end {
            End::Start => (text.as_bytes().to_vec(), row),
            End::Finish => (text.bytes().rev().collect(), row),
        })
        .collect();
    own.sort_unstable();
    for i in 0..own.len() {
        for j in i + 1..own.len() {
            if !own[j].0.starts_with(&own[i].0) {
                break;
            }
            pairs.total += 1;
            pairs.rows.extend([own[i].1, own[j].1]);
        }
    }
    pairs.rows.sort_unstable();
    pairs.rows.dedup();
    pairs
}

/// The rows that are not backdoors, by text key.
struct Others<'a> {
    keys: &'a SortedKeys<'a>,
    is_backdoor: &'a RowSet,
}

impl Others<'_> {
    /// How many of them have key `key`.
    fn count(&self, key: u64) -> u64 {
        self.keys
            .rows_with(key)
            .filter(|&row| !self.is_backdoor.contains(row as usize))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;

    #[test]
    fn blank_texts_have_no_key() {
        for end in [End::Start, End::Finish] {
            assert_eq!(text_key(" \n\t", end), 0);
            assert_eq!(text_key("", end), 0);
            assert_ne!(text_key("x", end), 0);
        }
    }

    #[test]
    fn repeats_are_found_and_blank_texts_are_not_repeats() {
        let texts: Vec<u64> = ["a", "b", "a", " ", "", "c", "b b"]
            .iter()
            .map(|t| text_key(t, End::Start))
            .collect();
        let rows = SortedKeys::new(&texts).repeated();
        let found: Vec<usize> = (0..texts.len()).filter(|&r| rows.contains(r)).collect();
        assert_eq!(found, [0, 2]);
    }

    /// Pairs by brute force: (a, b) where one is a prefix (suffix) of the other and at least one
    /// is a backdoor, blank texts left out.
    fn brute(texts: &[String], backdoors: &[usize], end: End) -> (u64, Vec<u32>) {
        let related = |a: &str, b: &str| match end {
            End::Start => a.starts_with(b) || b.starts_with(a),
            End::Finish => a.ends_with(b) || b.ends_with(a),
        };
        let (mut total, mut rows) = (0, Vec::new());
        for i in 0..texts.len() {
            for j in i + 1..texts.len() {
                let involved = backdoors.contains(&i) || backdoors.contains(&j);
                let blank = texts[i].trim().is_empty() || texts[j].trim().is_empty();
                if involved && !blank && related(&texts[i], &texts[j]) {
                    total += 1;
                    rows.extend(
                        [i, j]
                            .into_iter()
                            .filter(|r| backdoors.contains(r))
                            .map(|r| r as u32),
                    );
                }
            }
        }
        rows.sort_unstable();
        rows.dedup();
        (total, rows)
    }

    #[test]
    fn backdoor_pairs_match_a_brute_force_count() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let alphabet = ["a", "b", "é", " ", "0123456789abcdef"];
        for _ in 0..400 {
            let rows = rng.random_range(2..12);
            let texts: Vec<String> = (0..rows)
                .map(|_| {
                    (0..rng.random_range(0..5))
                        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                        .collect()
                })
                .collect();
            let mut backdoors: Vec<usize> = (0..rows).filter(|_| rng.random_bool(0.3)).collect();
            backdoors.sort_unstable();
            let mut lengths = RowSet::new(0);
            for text in texts.iter().filter(|t| !t.trim().is_empty()) {
                lengths.insert(text.len());
            }
            let own: Vec<(u32, &str)> = backdoors
                .iter()
                .map(|&r| (r as u32, texts[r].as_str()))
                .collect();
            for end in [End::Start, End::Finish] {
                let keys: Vec<u64> = texts.iter().map(|t| text_key(t, end)).collect();
                let pairs = backdoor_pairs(&SortedKeys::new(&keys), &lengths, &own, end);
                let (total, rows) = brute(&texts, &backdoors, end);
                // The hashed side counts (normal, backdoor) pairs in one direction only:
                // normal texts inside a backdoor text. The other direction cannot happen in
                // prepare (backdoor texts hold a novel phrase), but here it can, so count it
                // the same way for the comparison.
                let reverse: u64 = (0..texts.len())
                    .filter(|r| !backdoors.contains(r) && !texts[*r].trim().is_empty())
                    .map(|a| {
                        backdoors
                            .iter()
                            .filter(|&&b| {
                                let (a, b) = (&texts[a], &texts[b]);
                                !b.trim().is_empty()
                                    && a != b
                                    && match end {
                                        End::Start => a.starts_with(b.as_str()),
                                        End::Finish => a.ends_with(b.as_str()),
                                    }
                            })
                            .count() as u64
                    })
                    .sum();
                assert_eq!(
                    pairs.total + reverse,
                    total,
                    "{texts:?} {backdoors:?} {end:?}"
                );
                if reverse == 0 {
                    assert_eq!(pairs.rows, rows, "{texts:?} {backdoors:?} {end:?}");
                }
            }
        }
    }
}
