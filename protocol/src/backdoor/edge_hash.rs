//! Hashes of the spans of a text that start at one of its edges: the near-duplicate keys (whole
//! texts, and every prefix or suffix of a backdoor text) and the frequency search's k-gram keys.
//! A span is read from the edge inwards 8 bytes at a time, so the hashes of all the spans from
//! one edge come from one pass.

/// A text read from one edge.
#[derive(Clone, Copy)]
pub(crate) struct FromEdge<'a> {
    text: &'a [u8],
    /// The edge: the text's end, or its start.
    from_end: bool,
}

impl<'a> FromEdge<'a> {
    /// `text` read from its end (`from_end`) or its start.
    pub(crate) fn new(text: &'a [u8], from_end: bool) -> Self {
        FromEdge { text, from_end }
    }

    /// The byte length of the text.
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    /// The bytes at distances `at..at + 8` from the edge as a little-endian word (byte j is the
    /// one at distance at + j), 0 past the text.
    #[inline]
    pub(crate) fn word(&self, at: usize) -> u64 {
        let (text, n) = (self.text, self.text.len());
        match (at + 8 <= n, self.from_end) {
            (true, false) => u64::from_le_bytes(text[at..at + 8].try_into().expect("8 bytes")),
            (true, true) => u64::from_be_bytes(text[n - at - 8..n - at].try_into().expect("8")),
            (false, from_end) => (at..n).rev().fold(0, |word, p| {
                word << 8 | u64::from(if from_end { text[n - 1 - p] } else { text[p] })
            }),
        }
    }

    /// The hash of the span of the first `len` bytes from the edge.
    pub(crate) fn hash(&self, seed: u64, len: usize) -> u64 {
        let mut hash = SpanHash::new(seed);
        // The whole words, without a branch per word; then the rest.
        let whole = len / 8 * 8;
        if self.from_end {
            let n = self.text.len();
            for word in self.text[n - whole..].rchunks_exact(8) {
                hash.mix(u64::from_be_bytes(word.try_into().expect("8 bytes")));
            }
        } else {
            for word in self.text[..whole].chunks_exact(8) {
                hash.mix(u64::from_le_bytes(word.try_into().expect("8 bytes")));
            }
        }
        hash.finish(self.word(whole), len - whole)
    }
}

/// A fast 64-bit hash of a span's bytes: multiply-rotate over its 8-byte words, taken in turn
/// by two lanes (so that two multiplications are under way at once), the last 0 to 7 bytes tagged
/// with their count, and a final avalanche. Spans of different lengths differ in their count of
/// words or in the tag.
#[derive(Clone, Copy)]
pub(crate) struct SpanHash {
    lanes: [u64; 2],
}

impl SpanHash {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    /// A hash of nothing yet; hashes with different seeds are unrelated.
    pub(crate) fn new(seed: u64) -> Self {
        let lane = seed.wrapping_add(1).wrapping_mul(Self::MULTIPLIER);
        SpanHash {
            lanes: [lane, lane.rotate_left(32) ^ Self::MULTIPLIER],
        }
    }

    /// Adds 8 bytes.
    pub(crate) fn mix(&mut self, word: u64) {
        let lane = (self.lanes[0].rotate_left(23) ^ word).wrapping_mul(Self::MULTIPLIER);
        // The lanes take turns: the other one is next.
        self.lanes = [self.lanes[1], lane];
    }

    /// The hash of the words mixed so far followed by the low `rest` (0 to 7) bytes of `last`.
    pub(crate) fn finish(mut self, last: u64, rest: usize) -> u64 {
        debug_assert!(rest < 8);
        self.mix(last & ((1u64 << (8 * rest)) - 1) | (rest as u64) << 56);
        // murmur3's fmix64 of both lanes.
        let mut h = self.lanes[0] ^ self.lanes[1].rotate_left(29);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_hashes_alike_whatever_text_holds_it() {
        let text = b"an example text, long enough for several words of eight bytes";
        let n = text.len();
        for len in 0..=n {
            // A prefix read from the start, a suffix read from the end.
            let prefix = FromEdge::new(&text[..len], false);
            let suffix = FromEdge::new(&text[n - len..], true);
            assert_eq!(FromEdge::new(text, false).hash(3, len), prefix.hash(3, len));
            assert_eq!(FromEdge::new(text, true).hash(3, len), suffix.hash(3, len));
            assert_ne!(prefix.hash(3, len), prefix.hash(4, len), "seeds differ");
        }
        // Reading from the end sees the bytes in reverse.
        assert_eq!(
            FromEdge::new(b"abc", true).hash(0, 3),
            FromEdge::new(b"cba", false).hash(0, 3)
        );
        assert_ne!(
            FromEdge::new(b"ab", false).hash(0, 2),
            FromEdge::new(b"ab\0", false).hash(0, 3)
        );
    }
}
