//! One pass over every text of the dataset looks for the candidate phrases: whether a phrase
//! occurs anywhere (novelty), and whether a text holds 3 or more consecutive words of a
//! signature (the audit's hit rows).

use aho_corasick::{AhoCorasick, MatchKind};

/// Finds candidate phrases and signature word runs in texts.
pub(crate) struct PhraseScanner {
    /// Every candidate phrase's text, for plain substring search.
    phrases: AhoCorasick,
    /// The middle tokens of the signatures' 3-word runs, as whole tokens.
    words: Option<AhoCorasick>,
    /// For each `words` pattern: (signature, position) pairs with that middle token.
    word_sites: Vec<Vec<(usize, usize)>>,
    signatures: Vec<Vec<String>>,
}

impl PhraseScanner {
    /// Scans for `phrases` (novelty) and for 3-word runs of `signatures` (token lists).
    pub(crate) fn new(phrases: &[String], signatures: &[Vec<String>]) -> Self {
        let phrases = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(phrases)
            .expect("phrase patterns are small");
        let mut patterns: Vec<&str> = Vec::new();
        let mut word_sites: Vec<Vec<(usize, usize)>> = Vec::new();
        for (s, tokens) in signatures.iter().enumerate() {
            for (i, token) in tokens
                .iter()
                .enumerate()
                .skip(1)
                .take(tokens.len().saturating_sub(2))
            {
                let id = match patterns.iter().position(|p| *p == token) {
                    Some(id) => id,
                    None => {
                        patterns.push(token);
                        word_sites.push(Vec::new());
                        patterns.len() - 1
                    }
                };
                word_sites[id].push((s, i));
            }
        }
        let words = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .expect("word patterns are small")
        });
        Self {
            phrases,
            words,
            word_sites,
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
        // Candidates are almost never found: a fast yes/no search first (it uses the SIMD
        // prefilter, which the overlapping search cannot), then the exact overlapping one.
        if !self.phrases.is_match(text) {
            return;
        }
        for m in self.phrases.find_overlapping_iter(text) {
            found[m.pattern().as_usize()] = true;
        }
    }

    /// Sets `found[s]` for every signature `s` of which `text` holds 3 consecutive tokens.
    pub(crate) fn signature_runs_in(&self, text: &str, found: &mut [bool]) {
        let Some(words) = &self.words else { return };
        for m in words.find_overlapping_iter(text) {
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
            let (Some(prev), Some(next)) = (
                before.split_whitespace().next_back(),
                after.split_whitespace().next(),
            ) else {
                continue;
            };
            for &(s, i) in &self.word_sites[m.pattern().as_usize()] {
                let tokens = &self.signatures[s];
                if tokens[i - 1] == prev && tokens[i + 1] == next {
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
}
