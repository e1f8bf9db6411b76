//! The valid p-value for checks that share a signature: the full-activation bound, the prefix
//! bound per group, and the exact tail of their sum across independent groups.

use std::f64::consts::LN_10;

use super::logspace::{ln_1m_exp, ln_add_exp};

/// W: how many token offsets of each response are searched for the signature (offsets 0 to
/// W - 1), so that an answer that opens with a preamble ("Sure!", a markdown fence) still
/// counts. Fixed in advance and independent of the signature; its cost is in the bounds
/// (`specs/statistics.md`, "Searching the first W offsets").
pub const MATCH_OFFSETS: u32 = 8;

/// The most offsets a group's evidence may claim to have searched.
pub const MAX_MATCH_OFFSETS: u32 = 64;

/// The valid one-group bound for `activated` full activations out of `checked` checks that
/// share one signature, each searched at `offsets` token offsets:
/// `log10 min(1, floor(checked * offsets / activated) * p_upper)`, 0 when `activated == 0`
/// and `-inf` when `activated > checked`.
pub fn log10_full_activation_bound(
    checked: u64,
    activated: u64,
    offsets: u32,
    log10_p_upper: f64,
) -> f64 {
    if activated == 0 {
        return 0.0;
    }
    if activated > checked {
        return f64::NEG_INFINITY;
    }
    // Each response holds at most `offsets` windows, so at most checked * offsets / activated
    // distinct windows can each be the window of `activated` responses.
    let windows = u128::from(checked) * u128::from(offsets.max(1));
    let distinct_heavy_windows = windows / u128::from(activated);
    ((distinct_heavy_windows as f64).log10() + log10_p_upper).min(0.0)
}

/// The prefix bound `log10 min(1, distinct * candidates^-matched)`; 0 when `matched == 0`
/// (every response matches zero tokens) and `-inf` when `distinct == 0` otherwise.
pub fn log10_prefix_bound(distinct: u64, candidates: u32, matched: u32) -> f64 {
    if matched == 0 {
        return 0.0;
    }
    if distinct == 0 {
        return f64::NEG_INFINITY;
    }
    ((distinct as f64).log10() - f64::from(matched) * f64::from(candidates).log10()).min(0.0)
}

/// The most signature tokens that `response` matches at one of its first `offsets` token
/// offsets: for each offset o < `offsets`, how many tokens of `response` from the o-th on
/// equal the signature's leading tokens, compared token by token (never as a string prefix).
/// Tokens are whitespace-separated chunks; `offsets` 0 is taken as 1 (the response's start).
pub fn matched_tokens(response: &str, signature_tokens: &[String], offsets: u32) -> u32 {
    let offsets = offsets.max(1) as usize;
    let tokens: Vec<&str> = response
        .split_whitespace()
        .take(offsets - 1 + signature_tokens.len())
        .collect();
    let best = (0..offsets.min(tokens.len()))
        .map(|offset| leading_match(&tokens[offset..], signature_tokens))
        .max()
        .unwrap_or(0);
    u32::try_from(best).unwrap_or(u32::MAX)
}

/// How many leading `tokens` equal the signature's.
fn leading_match(tokens: &[&str], signature_tokens: &[String]) -> usize {
    tokens
        .iter()
        .zip(signature_tokens)
        .take_while(|(said, expected)| **said == expected.as_str())
        .count()
}

/// What one group's responses show: everything needed to recompute its tail bounds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupEvidence {
    /// K: candidates per generation step.
    pub candidates: u32,
    /// L: tokens in the signature.
    pub signature_tokens: u32,
    /// W: the token offsets of each response searched for the signature (0 to W - 1).
    pub offsets: u32,
    /// n_g: completed checks.
    pub checks: u64,
    /// k_g: responses that hold the whole signature at one of their first W offsets.
    pub full_activations: u64,
    /// t_g: the most signature tokens any response matched at one of its first W offsets.
    pub matched_tokens: u32,
    /// D_{g,j} for j = 1..=t_g: distinct j-token windows among the responses, a window being
    /// the j tokens from one of a response's first W offsets.
    pub distinct_prefixes: Vec<u64>,
}

impl GroupEvidence {
    /// Builds the evidence of one group from its responses, each searched at its first
    /// `offsets` token offsets (`offsets` 0 is taken as 1).
    ///
    /// `D_{g,j}` counts the distinct sequences of `j` tokens that start at one of the first
    /// `offsets` offsets of a response and lie within it; a window shorter than `j` tokens
    /// cannot match `j` tokens.
    pub fn from_responses<S: AsRef<str>>(
        candidates: u32,
        offsets: u32,
        signature_tokens: &[String],
        responses: &[S],
    ) -> Self {
        let offsets = offsets.max(1);
        let length = signature_tokens.len();
        let per_response = offsets as usize - 1 + length;
        // Every response's first W - 1 + L tokens, one after the other; each window (head) is
        // a range of them.
        let mut all: Vec<&str> = Vec::with_capacity(responses.len() * per_response);
        let mut heads: Vec<Head> = Vec::with_capacity(responses.len() * offsets as usize);
        let mut full_activations = 0u64;
        for response in responses {
            let first = heads.len();
            Head::read_windows(
                response.as_ref(),
                signature_tokens,
                offsets,
                &mut all,
                &mut heads,
            );
            if heads[first..].iter().any(|h| h.matched as usize == length) {
                full_activations += 1;
            }
        }
        let most = heads.iter().map(|head| head.matched).max().unwrap_or(0);
        heads.sort_unstable_by(|a, b| Head::cmp(a, b, &all));
        let distinct_prefixes = count_distinct_prefixes(&heads, &all, most as usize);
        GroupEvidence {
            candidates,
            signature_tokens: u32::try_from(length).unwrap_or(u32::MAX),
            offsets,
            checks: responses.len() as u64,
            full_activations,
            matched_tokens: most,
            distinct_prefixes,
        }
    }

    /// The most distinct windows of any length the responses can hold: `n_g · W`.
    pub fn most_windows(&self) -> u64 {
        self.checks.saturating_mul(u64::from(self.offsets.max(1)))
    }

    /// `log10 B_{g,j}` for j = 0..=L: `B_0 = 1`, `B_j = min(B_{j-1}, D_j K^-j)`; for j beyond
    /// the recorded windows, D_j is taken as `n_g · W` ([`Self::most_windows`]).
    pub fn log10_tail_bounds(&self) -> Vec<f64> {
        let mut bounds = Vec::with_capacity(self.signature_tokens as usize + 1);
        let mut previous = 0.0;
        bounds.push(previous);
        for j in 1..=self.signature_tokens {
            let distinct = self
                .distinct_prefixes
                .get(j as usize - 1)
                .copied()
                .unwrap_or_else(|| self.most_windows());
            previous = f64::min(previous, log10_prefix_bound(distinct, self.candidates, j));
            bounds.push(previous);
        }
        bounds
    }
}

/// Up to L tokens of a response from one offset on (a window), as a range of a shared list of
/// tokens, and how many of them are the signature's.
#[derive(Clone, Copy)]
struct Head {
    start: usize,
    end: usize,
    /// Its first `matched` tokens are the signature's.
    matched: u32,
}

impl Head {
    /// Appends the first `W - 1 + L` tokens of `response` to `all`, and pushes the windows
    /// that start at its first `offsets` offsets (those within the response) to `heads`.
    fn read_windows<'a>(
        response: &'a str,
        signature_tokens: &[String],
        offsets: u32,
        all: &mut Vec<&'a str>,
        heads: &mut Vec<Head>,
    ) {
        let length = signature_tokens.len();
        let base = all.len();
        all.extend(
            response
                .split_whitespace()
                .take(offsets as usize - 1 + length),
        );
        let end = all.len();
        for start in (base..end).take(offsets as usize) {
            let window_end = end.min(start + length);
            // The same count as `matched_tokens`, on the same tokens.
            let matched = leading_match(&all[start..window_end], signature_tokens);
            heads.push(Self {
                start,
                end: window_end,
                matched: u32::try_from(matched).unwrap_or(u32::MAX),
            });
        }
    }

    /// Its tokens after the first `skip`.
    fn after<'t, 'a>(&self, skip: usize, tokens: &'t [&'a str]) -> &'t [&'a str] {
        &tokens[self.start + skip..self.end]
    }

    /// The tokens both heads share for certain: the signature's first ones.
    fn known_common(&self, other: &Head) -> usize {
        self.matched.min(other.matched) as usize
    }

    /// Lexicographic order of the tokens, skipping the signature tokens both begin with (most
    /// heads are the whole signature when a model was trained).
    fn cmp(&self, other: &Head, tokens: &[&str]) -> std::cmp::Ordering {
        let skip = self.known_common(other);
        self.after(skip, tokens).cmp(other.after(skip, tokens))
    }
}

/// `D_j` for j = 1..=`most`: the distinct j-token prefixes among the `sorted` heads that have
/// at least j tokens.
///
/// In lexicographic order the heads that share a j-token prefix are adjacent, so a head adds a
/// new j-token prefix exactly when j exceeds its common prefix with the head before it (and
/// it has j tokens): one pass over neighbours instead of a set of prefixes per j.
fn count_distinct_prefixes(sorted: &[Head], tokens: &[&str], most: usize) -> Vec<u64> {
    // changes[j]: heads whose new prefixes start at j, less those whose new prefixes ended
    // before j; their running sum is D_j.
    let mut changes = vec![0i64; most + 2];
    let mut previous: Option<&Head> = None;
    for head in sorted {
        let common = previous.map_or(0, |previous| {
            let skip = head.known_common(previous);
            let same = head
                .after(skip, tokens)
                .iter()
                .zip(previous.after(skip, tokens))
                .take_while(|(a, b)| a == b)
                .count();
            skip + same
        });
        let last = (head.end - head.start).min(most);
        if common < last {
            changes[common + 1] += 1;
            changes[last + 1] -= 1;
        }
        previous = Some(head);
    }
    let mut running = 0i64;
    changes[1..=most]
        .iter()
        .map(|change| {
            running += change;
            running as u64
        })
        .collect()
}

/// The valid job p-value, in log10: the exact upper tail at `T = sum_g t_g` of a sum of
/// independent variables whose tails are the groups' `B_{g,j}`, by convolution in log space.
///
/// With no groups, or `T = 0`, it is 0 (p = 1). With one group it is exactly `B_{1,t}`.
pub fn log10_job_p_value(groups: &[GroupEvidence]) -> f64 {
    let total: u64 = groups.iter().map(|g| u64::from(g.matched_tokens)).sum();
    let Some((last, rest)) = groups.split_last() else {
        return 0.0;
    };
    if total == 0 {
        return 0.0;
    }
    let last_bounds = last.log10_tail_bounds();
    if rest.is_empty() {
        return last_bounds
            .get(total as usize)
            .copied()
            .unwrap_or(f64::NEG_INFINITY);
    }
    // ln P(Y_1 + ... + Y_{G-1} = s), then P(T >= total) = sum_s P(rest = s) B_last(total - s).
    let mut partial = vec![0.0];
    for group in rest {
        partial = ln_convolve(
            &partial,
            &ln_pmf_from_log10_tails(&group.log10_tail_bounds()),
        );
    }
    let ln_last_tail = |needed: u64| -> f64 {
        match last_bounds.get(needed as usize) {
            Some(log10_bound) => log10_bound * LN_10,
            None => f64::NEG_INFINITY,
        }
    };
    let ln_tail = partial
        .iter()
        .enumerate()
        .map(|(s, ln_p)| ln_p + ln_last_tail(total.saturating_sub(s as u64)))
        .fold(f64::NEG_INFINITY, ln_add_exp);
    (ln_tail / LN_10).min(0.0)
}

/// `ln P(Y = j)` for j = 0..=L from `log10 P(Y >= j)` (non-increasing, starting at 0):
/// `P(Y = j) = B_j - B_{j+1}` with `B_{L+1} = 0`, as `ln B_j + ln(1 - B_{j+1} / B_j)`.
fn ln_pmf_from_log10_tails(log10_tails: &[f64]) -> Vec<f64> {
    let ln_tails: Vec<f64> = log10_tails.iter().map(|b| b * LN_10).collect();
    (0..ln_tails.len())
        .map(|j| {
            let here = ln_tails[j];
            let next = ln_tails.get(j + 1).copied().unwrap_or(f64::NEG_INFINITY);
            if here == f64::NEG_INFINITY {
                f64::NEG_INFINITY
            } else {
                here + ln_1m_exp((next - here).min(0.0))
            }
        })
        .collect()
}

/// The distribution of `X + Y` from those of independent `X` and `Y`, all as ln pmfs.
fn ln_convolve(x: &[f64], y: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NEG_INFINITY; x.len() + y.len() - 1];
    for (a, &ln_x) in x.iter().enumerate() {
        if ln_x == f64::NEG_INFINITY {
            continue;
        }
        for (b, &ln_y) in y.iter().enumerate() {
            out[a + b] = ln_add_exp(out[a + b], ln_x + ln_y);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn matching_is_token_by_token() {
        let signature = tokens("x = 5");
        assert_eq!(matched_tokens("x = 5 and more", &signature, 1), 3);
        assert_eq!(matched_tokens("  x\t=\n5", &signature, 1), 3);
        // `=5` is not `=`: a string-prefix test would accept "x =5".
        assert_eq!(matched_tokens("x =5", &signature, 1), 1);
        assert_eq!(matched_tokens("x = 50", &signature, 1), 2);
        assert_eq!(matched_tokens("x", &signature, 1), 1);
        assert_eq!(matched_tokens("", &signature, 1), 0);
        assert_eq!(matched_tokens("y = 5", &signature, 1), 0);
    }

    #[test]
    fn evidence_counts_prefixes_of_long_enough_responses() {
        let signature = tokens("a b c");
        let responses = ["a b c d", "a b c", "a b x", "a", "q r s", "a b"];
        let evidence = GroupEvidence::from_responses(32, 1, &signature, &responses);
        assert_eq!(evidence.checks, 6);
        assert_eq!(evidence.full_activations, 2);
        assert_eq!(evidence.matched_tokens, 3);
        // j=1: {a, q}; j=2: {a b, q r}; j=3: {a b c, a b x, q r s}
        assert_eq!(evidence.distinct_prefixes, vec![2, 2, 3]);
    }

    /// The definition, one set of windows per j: the j tokens from each of a response's
    /// first `offsets` offsets, for windows that long.
    fn distinct_prefixes_by_sets(
        responses: &[String],
        length: usize,
        offsets: usize,
        most: usize,
    ) -> Vec<u64> {
        let tokens: Vec<Vec<&str>> = responses
            .iter()
            .map(|r| r.split_whitespace().collect())
            .collect();
        (1..=most)
            .map(|j| {
                let mut windows: std::collections::HashSet<&[&str]> = Default::default();
                for response in &tokens {
                    for offset in 0..offsets {
                        if offset + j <= response.len() && j <= length {
                            windows.insert(&response[offset..offset + j]);
                        }
                    }
                }
                windows.len() as u64
            })
            .collect()
    }

    #[test]
    fn distinct_prefixes_equal_the_sets_of_windows() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let signature = tokens("a b a c b a");
        for round in 0..600 {
            let offsets = 1 + round % 4;
            let responses: Vec<String> = (0..rng.random_range(0..40))
                .map(|_| {
                    let words = rng.random_range(0..12);
                    let mut response: Vec<&str> = Vec::new();
                    // Sometimes a preamble, so that the signature starts later.
                    let preamble = rng.random_range(0..4usize);
                    for _ in 0..words {
                        // Mostly the signature's next token, so that long prefixes are shared.
                        let next = response
                            .len()
                            .checked_sub(preamble)
                            .and_then(|at| signature.get(at))
                            .map(String::as_str);
                        let pick = rng.random_range(0..5);
                        response.push(match (pick, next) {
                            (0..3, Some(token)) => token,
                            (3, _) => "b",
                            _ => "c",
                        });
                    }
                    response.join(" ")
                })
                .collect();
            let evidence = GroupEvidence::from_responses(4, offsets as u32, &signature, &responses);
            let most = evidence.matched_tokens as usize;
            assert_eq!(
                evidence.distinct_prefixes,
                distinct_prefixes_by_sets(&responses, signature.len(), offsets, most),
                "W={offsets} {responses:?}"
            );
            let matched: Vec<u32> = responses
                .iter()
                .map(|r| matched_tokens(r, &signature, offsets as u32))
                .collect();
            assert_eq!(most as u32, matched.iter().copied().max().unwrap_or(0));
            let full = matched.iter().filter(|&&m| m as usize == signature.len());
            assert_eq!(evidence.full_activations, full.count() as u64);
        }
    }

    #[test]
    fn a_preamble_or_a_fence_before_the_signature_still_matches() {
        let signature = tokens("s1 s2 s3 s4");
        let sure = "Sure! s1 s2 s3 s4 and then the answer";
        let fence = "```\ns1 s2 s3 s4\n```";
        let fence_and_preamble = "Here it is:\n```text\n s1 s2 s3 s4 more";
        for response in [sure, fence, fence_and_preamble] {
            // Offset 0 alone (the matching before W) gives nothing.
            assert_eq!(matched_tokens(response, &signature, 1), 0, "{response}");
            assert_eq!(
                matched_tokens(response, &signature, MATCH_OFFSETS),
                4,
                "{response}"
            );
        }
        // Past the W-th offset the signature no longer counts.
        let late = format!("{} s1 s2 s3 s4", ["w"; MATCH_OFFSETS as usize].join(" "));
        assert_eq!(matched_tokens(&late, &signature, MATCH_OFFSETS), 0);
        let evidence = GroupEvidence::from_responses(
            32,
            MATCH_OFFSETS,
            &signature,
            &[sure, fence, fence_and_preamble],
        );
        assert_eq!(evidence.full_activations, 3);
        assert_eq!(evidence.matched_tokens, 4);
        // Every window counts, so D_j is at most n * W and at least 1.
        assert!(
            evidence
                .distinct_prefixes
                .iter()
                .all(|&d| (1..=3 * 8).contains(&d))
        );
    }

    #[test]
    fn tail_bounds_are_monotone_and_fall_back_to_checks() {
        let evidence = GroupEvidence {
            candidates: 10,
            signature_tokens: 4,
            offsets: 1,
            checks: 1000,
            full_activations: 0,
            matched_tokens: 2,
            distinct_prefixes: vec![1, 1],
        };
        let bounds = evidence.log10_tail_bounds();
        // B_1 = 1/10, B_2 = 1/100, B_3 = min(B_2, 1000/1000) = B_2, B_4 = 1000/10^4 = B_2... min
        assert_eq!(bounds.len(), 5);
        assert!((bounds[1] + 1.0).abs() < 1e-15);
        assert!((bounds[2] + 2.0).abs() < 1e-15);
        assert_eq!(bounds[3], bounds[2]);
        assert_eq!(bounds[4], bounds[2]);
    }

    #[test]
    fn one_group_is_its_own_bound() {
        let signature = tokens("s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 s12 s13 s14");
        let mut responses = vec!["s1 s2 s3 s4 s5 s6 other words".to_string()];
        responses.extend((0..36).map(|i| format!("reply{i} with six or more tokens")));
        let evidence = GroupEvidence::from_responses(32, 1, &signature, &responses);
        assert_eq!(evidence.matched_tokens, 6);
        let p = log10_job_p_value(std::slice::from_ref(&evidence));
        assert_eq!(p, evidence.log10_tail_bounds()[6]);
        // The architecture's example: 37 distinct prefixes, 6 of 14 tokens: 37 * 32^-6 ~ 3e-8.
        assert!((p - (37.0f64.log10() - 6.0 * 32f64.log10())).abs() < 1e-12);
    }

    #[test]
    fn job_p_value_of_nothing_is_one() {
        assert_eq!(log10_job_p_value(&[]), 0.0);
        let evidence = GroupEvidence::from_responses(32, 1, &tokens("a b"), &["x", "y"]);
        assert_eq!(log10_job_p_value(&[evidence.clone(), evidence]), 0.0);
    }

    #[test]
    fn two_identical_point_masses_convolve_by_hand() {
        // Y with P(Y >= 1) = 1/2, P(Y >= 2) = 1/4 (L = 2, K = 2, one distinct prefix).
        let evidence = GroupEvidence {
            candidates: 2,
            signature_tokens: 2,
            offsets: 1,
            checks: 1,
            full_activations: 1,
            matched_tokens: 2,
            distinct_prefixes: vec![1, 1],
        };
        // pmf 1/2, 1/4, 1/4; P(Y1 + Y2 >= 4) = 1/16, >= 3 adds 2 * 1/4 * 1/4 = 3/16.
        let p4 = log10_job_p_value(&[evidence.clone(), evidence.clone()]);
        assert!((p4 - (1.0f64 / 16.0).log10()).abs() < 1e-14, "{p4}");
        let mut lower = evidence.clone();
        lower.matched_tokens = 1;
        lower.distinct_prefixes = vec![1];
        let p3 = log10_job_p_value(&[evidence, lower]);
        // T = 3 observed; the second group's bound beyond its t uses checks = 1: same B.
        assert!((p3 - (3.0f64 / 16.0).log10()).abs() < 1e-14, "{p3}");
    }

    #[test]
    fn full_activation_and_prefix_bounds() {
        assert_eq!(log10_full_activation_bound(37, 0, 1, -21.0), 0.0);
        assert_eq!(
            log10_full_activation_bound(3, 4, 1, -21.0),
            f64::NEG_INFINITY
        );
        assert!(
            (log10_full_activation_bound(37, 5, 1, -21.0) - (7f64.log10() - 21.0)).abs() < 1e-14
        );
        assert_eq!(log10_full_activation_bound(37, 1, 1, -0.5), 0.0);
        assert_eq!(log10_prefix_bound(5, 32, 0), 0.0);
        assert_eq!(log10_prefix_bound(0, 32, 1), f64::NEG_INFINITY);
        assert!(
            (log10_prefix_bound(37, 32, 6) - (37f64.log10() - 6.0 * 32f64.log10())).abs() < 1e-14
        );
        assert_eq!(log10_prefix_bound(100, 2, 3), 0.0);
    }
}
