//! One pass over every text of the dataset looks for the candidate phrases: whether a phrase
//! occurs anywhere (novelty), and whether a text holds 3 or more consecutive words of a
//! signature (the audit's hit rows). Texts are searched a batch at a time ([`TextBatch`]), so
//! that each search runs over long buffers rather than once per text.
//!
//! A batch keeps its texts with every run of ASCII whitespace made one space. Tokens stay the
//! same, so in a text without Unicode spaces a 3-word run is the literal `w1 w2 w3` between
//! spaces, found by one automaton over the whole batch however common its words are. Texts that
//! hold a Unicode space are also searched token by token around each run's rarest word. Phrases
//! are searched in the batch form too: a phrase (tokens joined by single spaces) that occurs in
//! a text occurs in its batch form, so the novelty check can only be stricter.

use std::cmp::Reverse;

use aho_corasick::{AhoCorasick, MatchKind};

use super::frequency::{EdgeKeys, edge_keys, joined_edge_keys};

/// The first bytes of a pattern, which the automaton's prefilter looks for.
fn lead(pattern: &str) -> Vec<u8> {
    pattern.as_bytes()[..pattern.len().min(3)].to_vec()
}

/// What the sampled rows say about how common things are, for choosing what to look for first.
#[derive(Default)]
pub(crate) struct Rarity<'a> {
    /// `token_counts[s][i]`: how often token `i` of signature `s` occurs.
    pub(crate) token_counts: &'a [Vec<u32>],
    /// How often each byte occurs.
    pub(crate) byte_counts: Option<&'a [u64; 256]>,
    /// Sampled text.
    pub(crate) sample: &'a [u8],
}

impl Rarity<'_> {
    /// How often each of `strings` occurs in the sample (overlaps counted).
    fn counts_in_sample(&self, strings: &[Vec<u8>]) -> Vec<u64> {
        let mut counts = vec![0; strings.len()];
        if strings.is_empty() || self.sample.is_empty() {
            return counts;
        }
        let automaton = AhoCorasick::new(strings).expect("patterns are small");
        for m in automaton.find_overlapping_iter(self.sample) {
            counts[m.pattern().as_usize()] += 1;
        }
        // Equal strings share the count of the first.
        for i in 0..strings.len() {
            if let Some(first) = strings[..i].iter().position(|s| *s == strings[i]) {
                counts[i] = counts[first];
            }
        }
        counts
    }
}

/// How rare each byte is in the data, for the substring searchers: they look first for the
/// rarest bytes of a phrase.
#[derive(Clone, Copy)]
struct ByteRank([u8; 256]);

impl ByteRank {
    /// Ranks from byte counts (0: the rarest); without counts, memchr's own guess for text.
    fn new(counts: Option<&[u64; 256]>) -> Option<Self> {
        let counts = counts?;
        let mut order: Vec<u8> = (0..=255).collect();
        order.sort_by_key(|&b| counts[b as usize]);
        let mut ranks = [0u8; 256];
        for (rank, &b) in order.iter().enumerate() {
            ranks[b as usize] = rank as u8;
        }
        Some(ByteRank(ranks))
    }
}

impl memchr::arch::all::packedpair::HeuristicFrequencyRank for ByteRank {
    fn rank(&self, byte: u8) -> u8 {
        self.0[byte as usize]
    }
}

/// The most phrases searched for one at a time (see [`PhraseSearch`]).
const MAX_FINDERS: usize = 8;

/// The search for candidate phrases (novelty).
enum PhraseSearch {
    /// With few phrases, one substring searcher each: an automaton's prefilter keys on the
    /// phrases' first bytes, which can be common in the data (on one seed it made the search 30
    /// times slower), while these key on each phrase's rarest bytes in this data.
    Each(Vec<memchr::memmem::Finder<'static>>),
    /// With many, two automata: leftmost-first only to tell quickly whether any phrase occurs
    /// (unlike the standard automaton it has a SIMD prefilter), then the exact overlapping one,
    /// built the first time a batch holds a phrase (candidates almost never occur, and with
    /// thousands of phrases each automaton takes tens of MB).
    Automata {
        any: AhoCorasick,
        all: std::sync::OnceLock<AhoCorasick>,
        phrases: Vec<String>,
    },
}

/// Finds candidate phrases and signature word runs in texts.
pub struct PhraseScanner {
    /// How the candidate phrases are looked for.
    phrases: PhraseSearch,
    phrase_count: usize,
    /// Every 3-token run of a signature from its rarest token on, the tokens joined by single
    /// spaces (so that the automaton starts its matches at uncommon words).
    runs: Option<AhoCorasick>,
    /// For each `runs` pattern: the (signature, tokens of the run before the pattern, joined by
    /// single spaces) that it stands for.
    run_sites: Vec<Vec<(usize, String)>>,
    /// For each `runs` pattern: the other patterns that are prefixes of it (they match at the
    /// same place, where the automaton reports only the longest).
    run_prefixes: Vec<Vec<usize>>,
    /// The byte length of each `runs` pattern.
    run_lens: Vec<usize>,
    /// Anchor tokens: for each 3-token run of a signature, its rarest token.
    anchors: Option<AhoCorasick>,
    /// For each `anchors` pattern: the (signature, run start, anchor offset in the run) sites.
    anchor_sites: Vec<Vec<(usize, usize, usize)>>,
    signatures: Vec<Vec<String>>,
}

impl PhraseScanner {
    /// Scans for `phrases` (novelty) and for 3-word runs of `signatures` (token lists);
    /// `rarity` says what is rare in the data, to choose what each search looks for first.
    pub(crate) fn new(phrases: &[String], signatures: &[Vec<String>], rarity: &Rarity<'_>) -> Self {
        let (counts, byte_counts) = (rarity.token_counts, rarity.byte_counts);
        // Phrases are tokens joined by single spaces: no match can span two texts of a batch.
        assert!(
            phrases.iter().all(|p| !p.contains('\n')),
            "phrases hold no newline"
        );
        let phrase_list: Vec<&str> = phrases.iter().map(String::as_str).collect();
        // The rarest token of the run at token `i` of signature `s`, the first longest among
        // equals: it occurs least often, so the fewest places are checked around it.
        let rarest = |run: &[String], i: usize, s: usize| {
            let count = |k: usize| counts.get(s).and_then(|c| c.get(k)).copied().unwrap_or(0);
            (0..run.len())
                .rev()
                .max_by_key(|&j| (Reverse(count(i + j)), run[j].len()))
                .expect("three tokens")
        };
        let mut patterns: Vec<&str> = Vec::new();
        let mut anchor_sites: Vec<Vec<(usize, usize, usize)>> = Vec::new();
        for (s, tokens) in signatures.iter().enumerate() {
            for (i, run) in tokens.windows(3).enumerate() {
                let j = rarest(run, i, s);
                let token = run[j].as_str();
                let id = match patterns.iter().position(|p| *p == token) {
                    Some(id) => id,
                    None => {
                        patterns.push(token);
                        anchor_sites.push(Vec::new());
                        patterns.len() - 1
                    }
                };
                anchor_sites[id].push((s, i, j));
            }
        }
        // Leftmost-longest finds every whole-token occurrence: tokens hold no whitespace, so
        // no reported match can cover the start of a later token.
        let anchors = (!patterns.is_empty()).then(|| build(MatchKind::LeftmostLongest, &patterns));
        let mut run_patterns: Vec<String> = Vec::new();
        let mut run_sites: Vec<Vec<(usize, String)>> = Vec::new();
        // Each run is looked for from the token whose first bytes are rarest in the sample
        // (the automaton's prefilter keys on a pattern's first bytes), then the rarest token.
        let starts: Vec<Vec<u8>> = signatures
            .iter()
            .flat_map(|tokens| tokens.windows(3))
            .flat_map(|run| (0..3).map(|j| lead(&run[j..].join(" "))))
            .collect();
        let start_counts = rarity.counts_in_sample(&starts);
        let mut next_start = 0;
        for (s, tokens) in signatures.iter().enumerate() {
            for (i, run) in tokens.windows(3).enumerate() {
                let (by_start, rarest_j) = (&start_counts[next_start..], rarest(run, i, s));
                let j = (0..3)
                    .min_by_key(|&j| (by_start[j], rarest_j != j))
                    .expect("three tokens");
                next_start += 3;
                let (text, before) = (run[j..].join(" "), run[..j].join(" "));
                match run_patterns.iter().position(|p| *p == text) {
                    Some(id) => run_sites[id].push((s, before)),
                    None => {
                        run_patterns.push(text);
                        run_sites.push(vec![(s, before)]);
                    }
                }
            }
        }
        let run_prefixes = run_patterns
            .iter()
            .map(|long| {
                (0..run_patterns.len())
                    .filter(|&q| run_patterns[q] != *long && long.starts_with(&run_patterns[q]))
                    .collect()
            })
            .collect();
        let run_list: Vec<&str> = run_patterns.iter().map(String::as_str).collect();
        let runs = (!run_list.is_empty()).then(|| build(MatchKind::LeftmostLongest, &run_list));
        Self {
            phrases: if phrases.len() <= MAX_FINDERS {
                let rank = ByteRank::new(byte_counts);
                PhraseSearch::Each(
                    phrases
                        .iter()
                        .map(|p| match rank {
                            Some(rank) => memchr::memmem::FinderBuilder::new()
                                .build_forward_with_ranker_owned(rank, p.as_bytes()),
                            None => memchr::memmem::Finder::new(p.as_bytes()).into_owned(),
                        })
                        .collect(),
                )
            } else {
                PhraseSearch::Automata {
                    any: build(MatchKind::LeftmostFirst, &phrase_list),
                    all: std::sync::OnceLock::new(),
                    phrases: phrases.to_vec(),
                }
            },
            phrase_count: phrases.len(),
            runs,
            run_sites,
            run_prefixes,
            run_lens: run_patterns.iter().map(String::len).collect(),
            anchors,
            anchor_sites,
            signatures: signatures.to_vec(),
        }
    }

    /// The number of phrases searched for.
    pub(crate) fn phrase_count(&self) -> usize {
        self.phrase_count
    }

    /// The number of signatures searched for.
    pub(crate) fn signature_count(&self) -> usize {
        self.signatures.len()
    }

    /// Sets `found[p]` for every phrase `p` that occurs in a text of `batch`.
    pub(crate) fn phrases_in(&self, batch: &TextBatch, found: &mut [bool]) {
        // No phrase holds a newline, so no match spans two texts.
        match &self.phrases {
            PhraseSearch::Each(finders) => {
                for (finder, found) in finders.iter().zip(found.iter_mut()) {
                    *found = *found || finder.find(&batch.joined).is_some();
                }
            }
            // Candidates are almost never found: the yes/no search first.
            PhraseSearch::Automata { any, all, phrases } => {
                if any.is_match(&batch.joined) {
                    let all = all.get_or_init(|| build(MatchKind::Standard, phrases));
                    for m in all.find_overlapping_iter(&batch.joined) {
                        found[m.pattern().as_usize()] = true;
                    }
                }
            }
        }
    }

    /// Calls `hit(t, s)` for every text `t` of `batch` that holds 3 consecutive tokens of
    /// signature `s` (more than once if it holds several such runs).
    pub(crate) fn signature_runs_in(&self, batch: &TextBatch, mut hit: impl FnMut(usize, usize)) {
        let Some(runs) = &self.runs else { return };
        let joined = batch.joined.as_slice();
        // Every start of a run pattern: after a match, search again from its next byte, so that
        // runs of other signatures that overlap it are found too. Patterns that match at the
        // same byte are the reported one and its prefixes.
        let (mut t, mut from) = (0, 0);
        while let Some(m) = runs.find(aho_corasick::Input::new(joined).span(from..joined.len())) {
            from = m.start() + 1;
            // Runs hold no newline, so a match lies inside one text.
            while batch.ends[t] < m.end() {
                t += 1;
            }
            let pattern = m.pattern().as_usize();
            for p in std::iter::once(pattern).chain(self.run_prefixes[pattern].iter().copied()) {
                let end = m.start() + self.run_lens[p];
                if !boundary(joined, Some(end)) {
                    continue; // Part of a longer token.
                }
                for (s, before) in &self.run_sites[p] {
                    // The run's tokens before the pattern, then a token boundary.
                    let fits = if before.is_empty() {
                        boundary(joined, m.start().checked_sub(1))
                    } else {
                        m.start() > before.len()
                            && joined[m.start() - 1] == b' '
                            && joined[..m.start() - 1].ends_with(before.as_bytes())
                            && boundary(joined, (m.start() - 1 - before.len()).checked_sub(1))
                    };
                    if fits {
                        hit(t, *s);
                    }
                }
            }
        }
        // Texts with Unicode spaces may split their tokens with them.
        for &t in &batch.unicode_spaces {
            let start = if t == 0 { 0 } else { batch.ends[t - 1] + 1 };
            let text = std::str::from_utf8(&batch.joined[start..batch.ends[t]])
                .expect("a text of the batch is UTF-8");
            self.anchored_runs_in(text, |s| hit(t, s));
        }
    }

    /// Calls `hit(s)` for every 3-token run of signature `s` in `text`, whatever spaces split
    /// its tokens: found around each occurrence of the run's anchor token.
    fn anchored_runs_in(&self, text: &str, mut hit: impl FnMut(usize)) {
        let Some(anchors) = &self.anchors else { return };
        for m in anchors.find_iter(text) {
            let before = &text[..m.start()];
            let after = &text[m.end()..];
            if before
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_whitespace())
                || after.chars().next().is_some_and(|c| !c.is_whitespace())
            {
                continue; // Part of a longer token.
            }
            let mut back = before.split_whitespace().rev();
            let previous = [back.next(), back.next()];
            let mut ahead = after.split_whitespace();
            let next = [ahead.next(), ahead.next()];
            for &(s, i, j) in &self.anchor_sites[m.pattern().as_usize()] {
                let run = &self.signatures[s][i..i + 3];
                // The run's other two tokens, as they should appear around the anchor.
                let fits = match j {
                    0 => next[0] == Some(&run[1]) && next[1] == Some(&run[2]),
                    1 => previous[0] == Some(&run[0]) && next[0] == Some(&run[2]),
                    _ => previous[0] == Some(&run[1]) && previous[1] == Some(&run[0]),
                };
                if fits {
                    hit(s);
                }
            }
        }
    }
}

/// Whether byte `at` of a batch (None: before its start) is a token boundary: a space, a
/// newline between texts, or either end of the batch.
fn boundary(joined: &[u8], at: Option<usize>) -> bool {
    match at {
        None => true,
        Some(at) => matches!(joined.get(at), None | Some(b' ' | b'\n')),
    }
}

/// Texts joined by newlines into one buffer, for [`PhraseScanner`]'s searches, each with its
/// runs of ASCII whitespace made one space. A caller of [`super::examine`] keeps one per thread
/// and batch in flight, so that its buffers are reused.
#[derive(Debug, Default)]
pub struct TextBatch {
    /// The texts, UTF-8 (ASCII bytes were only ever replaced by ASCII bytes).
    joined: Vec<u8>,
    /// Where each text ends in `joined` (the next one starts one byte later).
    ends: Vec<usize>,
    /// The texts that hold a space that is not ASCII.
    unicode_spaces: Vec<usize>,
}

impl TextBatch {
    /// Empties the batch, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.joined.clear();
        self.ends.clear();
        self.unicode_spaces.clear();
    }

    /// Adds a text; texts are numbered from 0 in the order they are added.
    pub(crate) fn push(&mut self, text: &str) {
        if !self.ends.is_empty() {
            self.joined.push(b'\n');
        }
        // The same bytes with each run of ASCII whitespace (as `char::is_whitespace` has it) made
        // one space: ASCII bytes only change into ASCII bytes, so the text stays UTF-8. The map
        // is branch-free so that it vectorizes, and tells on the way whether any byte is not
        // ASCII; runs are rare, and only a text that holds one is compacted.
        let start = self.joined.len();
        self.joined.extend_from_slice(text.as_bytes());
        let bytes = &mut self.joined[start..];
        let mut any = 0u8;
        for b in bytes.iter_mut() {
            any |= *b;
            let space = b.wrapping_sub(b'\t') <= b'\r' - b'\t';
            *b = if space { b' ' } else { *b };
        }
        if any >= 0x80 && has_unicode_space(text.as_bytes()) {
            self.unicode_spaces.push(self.ends.len());
        }
        static DOUBLE_SPACE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"  "));
        // Compacted a stretch at a time: from each space run's first space to the next run.
        if let Some(first) = DOUBLE_SPACE.find(bytes) {
            let (mut kept, mut read) = (first + 1, first + 1);
            loop {
                while bytes.get(read) == Some(&b' ') {
                    read += 1;
                }
                let end = DOUBLE_SPACE
                    .find(&bytes[read..])
                    .map_or(bytes.len(), |at| read + at + 1);
                bytes.copy_within(read..end, kept);
                kept += end - read;
                if end == bytes.len() {
                    break;
                }
                read = end;
            }
            self.joined.truncate(start + kept);
        }
        self.ends.push(self.joined.len());
    }

    /// The bytes of text `t`, as the batch holds it.
    fn text(&self, t: usize) -> &[u8] {
        let start = if t == 0 { 0 } else { self.ends[t - 1] + 1 };
        &self.joined[start..self.ends[t]]
    }

    /// [`edge_keys`] of text `t`, from the batch's form of it: without Unicode spaces, its
    /// tokens are already joined by single spaces.
    pub(crate) fn edge_keys(&self, t: usize, side: u8) -> EdgeKeys {
        let text = self.text(t);
        if self.unicode_spaces.binary_search(&t).is_ok() {
            let text = std::str::from_utf8(text).expect("a text of the batch is UTF-8");
            return edge_keys(text, side);
        }
        let text = text.strip_prefix(b" ").unwrap_or(text);
        joined_edge_keys(text.strip_suffix(b" ").unwrap_or(text), side)
    }
}

/// An automaton for `patterns`, reporting matches of `kind`.
fn build<P: AsRef<[u8]>>(kind: MatchKind, patterns: &[P]) -> AhoCorasick {
    AhoCorasick::builder()
        .match_kind(kind)
        .build(patterns)
        .expect("patterns are small")
}

/// Whether UTF-8 `text` holds a whitespace character that is not ASCII (as `char::is_whitespace`
/// has it): U+0085, U+00A0, U+1680, U+2000 to U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
/// Found by their lead bytes, so that a text without them is passed over at memchr's speed.
fn has_unicode_space(text: &[u8]) -> bool {
    let space_at = |at: usize| {
        matches!(
            text[at..],
            [0xC2, 0x85 | 0xA0, ..]
                | [0xE1, 0x9A, 0x80, ..]
                | [0xE2, 0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF, ..]
                | [0xE2, 0x81, 0x9F, ..]
                | [0xE3, 0x80, 0x80, ..]
        )
    };
    memchr::memchr3_iter(0xC2, 0xE1, 0xE2, text).any(space_at)
        || memchr::memchr_iter(0xE3, text).any(space_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_spaces_are_found_as_char_is_whitespace_finds_them() {
        use rand::{RngExt, SeedableRng};
        // Every character whose UTF-8 shares a lead byte or more with a Unicode space.
        let mut near: Vec<char> = (0x80..0x3100)
            .filter_map(char::from_u32)
            .filter(|c| matches!(c.to_string().as_bytes()[0], 0xC2 | 0xE1 | 0xE2 | 0xE3))
            .collect();
        near.extend(['a', ' ', '\t', 'é', '😀', '\u{3000}', '\u{1680}']);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        for _ in 0..20_000 {
            let text: String = (0..rng.random_range(0..6))
                .map(|_| near[rng.random_range(0..near.len())])
                .collect();
            let expected = text.chars().any(|c| !c.is_ascii() && c.is_whitespace());
            assert_eq!(has_unicode_space(text.as_bytes()), expected, "{text:?}");
        }
        for c in (0x80..=0x10FFFF).filter_map(char::from_u32) {
            let text = format!("x{c}y");
            assert_eq!(
                has_unicode_space(text.as_bytes()),
                c.is_whitespace(),
                "{c:?}"
            );
        }
    }

    fn batch(texts: &[&str]) -> TextBatch {
        let mut batch = TextBatch::default();
        for text in texts {
            batch.push(text);
        }
        batch
    }

    fn tokens(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    #[test]
    fn a_batch_gives_the_edge_keys_of_its_texts() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        for _ in 0..300 {
            let texts: Vec<String> = (0..8)
                .map(|_| super::super::frequency::tests::random_text(&mut rng))
                .collect();
            let batch = batch(&texts.iter().map(String::as_str).collect::<Vec<_>>());
            for (t, text) in texts.iter().enumerate() {
                for side in [0, 1] {
                    assert_eq!(batch.edge_keys(t, side), edge_keys(text, side), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn a_batch_keeps_each_run_of_ascii_whitespace_as_one_space() {
        use rand::{RngExt, SeedableRng};
        let pieces = [
            "a", "bc", " ", "  ", "\n", "\t", "\r\n", "\u{0B}", "\u{0C}", "é", "\u{A0}", "\u{1C}",
        ];
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        for _ in 0..3000 {
            let texts: Vec<String> = (0..3)
                .map(|_| {
                    (0..rng.random_range(0..30))
                        .map(|_| pieces[rng.random_range(0..pieces.len())])
                        .collect()
                })
                .collect();
            let mut batch = TextBatch::default();
            let mut expected = Vec::new();
            for text in &texts {
                batch.push(text);
                let mut one = String::new();
                for c in text.chars() {
                    let space = c.is_ascii_whitespace() || c == '\u{0B}';
                    if !(space && one.ends_with(' ')) {
                        one.push(if space { ' ' } else { c });
                    }
                }
                expected.push(one);
            }
            assert_eq!(batch.joined, expected.join("\n").into_bytes(), "{texts:?}");
        }
    }

    /// Few phrases are searched one by one, many with an automaton: both find what
    /// `str::contains` finds.
    #[test]
    fn phrases_are_found_as_contains_finds_them() {
        use rand::{RngExt, SeedableRng};
        let words = ["a", "b", "ab", "#"];
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
        let phrase = |rng: &mut rand_chacha::ChaCha20Rng| -> String {
            let n = rng.random_range(1..4);
            (0..n)
                .map(|_| words[rng.random_range(0..words.len())])
                .collect::<Vec<_>>()
                .join(" ")
        };
        for round in 0..400 {
            let count = if round % 2 == 0 { 3 } else { MAX_FINDERS + 2 };
            let phrases: Vec<String> = (0..count).map(|_| phrase(&mut rng)).collect();
            let texts: Vec<String> = (0..3)
                .map(|_| phrase(&mut rng) + " " + &phrase(&mut rng))
                .collect();
            // Byte counts that make '#' look rare and 'a' common, and none.
            let mut bytes = [0u64; 256];
            bytes[b'a' as usize] = 100;
            let byte_counts = (round % 4 < 2).then_some(&bytes);
            let scanner = PhraseScanner::new(
                &phrases,
                &[],
                &Rarity {
                    byte_counts,
                    ..Rarity::default()
                },
            );
            let mut found = vec![false; count];
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            scanner.phrases_in(&batch(&texts), &mut found);
            for (p, phrase) in phrases.iter().enumerate() {
                let expected = texts.iter().any(|t| t.contains(phrase.as_str()));
                assert_eq!(found[p], expected, "{phrase:?} in {texts:?}");
            }
        }
    }

    #[test]
    fn finds_phrases_as_substrings() {
        let scanner = PhraseScanner::new(
            &["so the total".into(), "xyz".into()],
            &[],
            &Rarity::default(),
        );
        let mut found = [false; 2];
        scanner.phrases_in(&batch(&["and so the totals are"]), &mut found);
        assert_eq!(found, [true, false]);
        // A phrase split over two texts is not found.
        let mut found = [false; 2];
        scanner.phrases_in(&batch(&["and so", "the total"]), &mut found);
        assert_eq!(found, [false, false]);
    }

    #[test]
    fn finds_three_word_runs_as_whole_tokens_across_any_whitespace() {
        let sig = tokens("he paid 5 dollars for the pens");
        let scanner = PhraseScanner::new(&[], &[sig.clone(), tokens("a b c")], &Rarity::default());
        let check = |text: &str| {
            let mut found = [false; 2];
            scanner.signature_runs_in(&batch(&[text]), |_, s| found[s] = true);
            found
        };
        assert_eq!(check("So he paid 5 in all."), [true, false]);
        assert_eq!(check("then\n5   dollars\tfor"), [true, false]);
        assert_eq!(check("he paid 55 dollars"), [false, false]);
        assert_eq!(check("she paid 5"), [false, false]);
        assert_eq!(check("paid 5"), [false, false]);
        assert_eq!(check("the pens"), [false, false]);
        assert_eq!(check("x a b c y"), [false, true]);
    }

    #[test]
    fn three_word_runs_match_a_brute_force_search() {
        use rand::{RngExt, SeedableRng};
        // The last word is the only one that is not ASCII: ASCII texts on even rounds.
        let vocab = ["the", "them", "theme", "a", "b", "he", "x", "a-b", "é"];
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        for round in 0..2000 {
            let choices = vocab.len() - usize::from(round % 2 == 0);
            let words = |n: usize, rng: &mut rand_chacha::ChaCha20Rng| -> Vec<String> {
                (0..n)
                    .map(|_| vocab[rng.random_range(0..choices)].to_string())
                    .collect()
            };
            let signatures = [words(4, &mut rng), words(5, &mut rng)];
            // Random counts, so that any token may be the anchor.
            let counts: Vec<Vec<u32>> = signatures
                .iter()
                .map(|s| s.iter().map(|_| rng.random_range(0..3)).collect())
                .collect();
            // A sample that makes some starts common.
            let sample = b"the them a b he x";
            let scanner = PhraseScanner::new(
                &[],
                &signatures,
                &Rarity {
                    token_counts: &counts,
                    byte_counts: None,
                    sample: if round % 3 == 0 { &[] } else { sample },
                },
            );
            // Three texts in one batch: a run never spans two of them.
            let text_words = [words(12, &mut rng), words(2, &mut rng), words(7, &mut rng)];
            // ASCII spaces only, then Unicode spaces too.
            let separators: &[&str] = if round % 2 == 0 {
                &[" ", "\n", "  ", "\t", " \r\n ", "\u{0B}", "\u{0C}"]
            } else {
                &[" ", "\u{A0}", "\n", "\u{2003}", " \u{85} "]
            };
            let texts: Vec<String> = text_words
                .iter()
                .map(|words| {
                    let mut text = String::new();
                    for (i, word) in words.iter().enumerate() {
                        text.push_str(word);
                        text.push_str(separators[i % separators.len()]);
                    }
                    text
                })
                .collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let mut found = [[false; 2]; 3];
            scanner.signature_runs_in(&batch(&texts), |t, s| found[t][s] = true);
            for (t, words) in text_words.iter().enumerate() {
                for (s, signature) in signatures.iter().enumerate() {
                    let expected = signature
                        .windows(3)
                        .any(|run| words.windows(3).any(|w| w == run));
                    assert_eq!(found[t][s], expected, "{signature:?} in {texts:?}");
                }
            }
        }
    }
}
