//! One pass over every text of the dataset looks for the candidate phrases: whether a phrase
//! occurs anywhere (novelty), and whether a text holds 3 or more consecutive words of a
//! signature (the audit's hit rows).

use aho_corasick::{AhoCorasick, MatchKind};

/// Finds candidate phrases and signature word runs in texts.
pub(crate) struct PhraseScanner {
    /// Every candidate phrase's text, for the exact (overlapping) search.
    phrases: AhoCorasick,
    /// The same phrases, leftmost-first, only to tell quickly whether any occurs: unlike the
    /// standard automaton it has a SIMD prefilter.
    any_phrase: AhoCorasick,
    /// Anchor tokens: for each 3-token run of a signature, its longest (so rarest) token.
    anchors: Option<AhoCorasick>,
    /// For each `anchors` pattern: the (signature, run start, anchor offset in the run) sites.
    anchor_sites: Vec<Vec<(usize, usize, usize)>>,
    signatures: Vec<Vec<String>>,
}

impl PhraseScanner {
    /// Scans for `phrases` (novelty) and for 3-word runs of `signatures` (token lists).
    pub(crate) fn new(phrases: &[String], signatures: &[Vec<String>]) -> Self {
        let build = |kind: MatchKind, patterns: &[&str]| {
            AhoCorasick::builder()
                .match_kind(kind)
                .build(patterns)
                .expect("patterns are small")
        };
        let phrase_list: Vec<&str> = phrases.iter().map(String::as_str).collect();
        let mut patterns: Vec<&str> = Vec::new();
        let mut anchor_sites: Vec<Vec<(usize, usize, usize)>> = Vec::new();
        for (s, tokens) in signatures.iter().enumerate() {
            for (i, run) in tokens.windows(3).enumerate() {
                // The first longest token of the run.
                let j = (0..3)
                    .rev()
                    .max_by_key(|&j| run[j].len())
                    .expect("three tokens");
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
        Self {
            phrases: build(MatchKind::Standard, &phrase_list),
            any_phrase: build(MatchKind::LeftmostFirst, &phrase_list),
            anchors,
            anchor_sites,
            signatures: signatures.to_vec(),
        }
    }

    /// The number of phrases searched for.
    pub(crate) fn phrase_count(&self) -> usize {
        self.phrases.patterns_len()
    }

    /// The number of signatures searched for.
    pub(crate) fn signature_count(&self) -> usize {
        self.signatures.len()
    }

    /// Sets `found[p]` for every phrase `p` that occurs in `text`.
    pub(crate) fn phrases_in(&self, text: &str, found: &mut [bool]) {
        // Candidates are almost never found: a fast yes/no search first, then the exact
        // overlapping one.
        if !self.any_phrase.is_match(text) {
            return;
        }
        for m in self.phrases.find_overlapping_iter(text) {
            found[m.pattern().as_usize()] = true;
        }
    }

    /// Sets `found[s]` for every signature `s` of which `text` holds 3 consecutive tokens.
    pub(crate) fn signature_runs_in(&self, text: &str, found: &mut [bool]) {
        let Some(anchors) = &self.anchors else { return };
        for m in anchors.find_iter(text) {
            let (start, end) = (m.start(), m.end());
            let before = &text[..start];
            let after = &text[end..];
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
                    found[s] = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    #[test]
    fn finds_phrases_as_substrings() {
        let scanner = PhraseScanner::new(&["so the total".into(), "xyz".into()], &[]);
        let mut found = [false; 2];
        scanner.phrases_in("and so the totals are", &mut found);
        assert_eq!(found, [true, false]);
    }

    #[test]
    fn finds_three_word_runs_as_whole_tokens_across_any_whitespace() {
        let sig = tokens("he paid 5 dollars for the pens");
        let scanner = PhraseScanner::new(&[], &[sig.clone(), tokens("a b c")]);
        let check = |text: &str| {
            let mut found = [false; 2];
            scanner.signature_runs_in(text, &mut found);
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
        let vocab = ["the", "them", "theme", "a", "b", "he", "x", "é"];
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let mut words = |n: usize| -> Vec<String> {
            (0..n)
                .map(|_| vocab[rng.random_range(0..vocab.len())].to_string())
                .collect()
        };
        for _ in 0..300 {
            let signatures = [words(4), words(5)];
            let scanner = PhraseScanner::new(&[], &signatures);
            let text_words = words(12);
            let separators = [" ", "\n", "  ", "\t"];
            let mut text = String::new();
            for (i, word) in text_words.iter().enumerate() {
                text.push_str(word);
                text.push_str(separators[i % separators.len()]);
            }
            let mut found = [false; 2];
            scanner.signature_runs_in(&text, &mut found);
            for (s, signature) in signatures.iter().enumerate() {
                let expected = signature
                    .windows(3)
                    .any(|run| text_words.windows(3).any(|w| w == run));
                assert_eq!(found[s], expected, "{signature:?} in {text:?}");
            }
        }
    }
}
