//! Brute force on tiny cases: every signature the generator can produce is enumerated, the
//! exact distribution of our statistics under H0 (responses fixed, independent of the
//! signatures) is counted, and every bound we report is checked against it.
//!
//! Every response is searched at its first W token offsets (W = 1, 2, 3 here), as the
//! verifier searches the first `MATCH_OFFSETS`: the bounds must hold for each W.
//!
//! Also the case where every response is identical, which shows why the paper's binomial
//! p-value is not valid when the checks share one signature.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vtune_protocol::stats::{
    GroupEvidence, log10_binomial_upper_tail, log10_full_activation_bound, log10_job_p_value,
};

/// Words the toy generator and the toy responses are made of; `=` and `=5` differ.
const VOCABULARY: [&str; 6] = ["a", "b", "c", "d", "=", "=5"];

/// Rounding slack for comparing a bound with an exact probability, in log10.
const SLACK: f64 = 1e-12;

/// The toy generator's `k` candidates after `prefix`: a rotation of the vocabulary that
/// depends on the prefix, as the n-gram model's candidates depend on the context.
fn candidates(prefix: &[&str], k: usize) -> Vec<&'static str> {
    let offset = prefix.len() * 2
        + prefix
            .iter()
            .map(|w| w.len() + w.as_bytes()[0] as usize)
            .sum::<usize>();
    (0..k)
        .map(|i| VOCABULARY[(offset + i) % VOCABULARY.len()])
        .collect()
}

/// Every signature of `length` tokens, each with probability `k^-length`.
fn all_signatures(k: usize, length: usize) -> Vec<Vec<String>> {
    let mut signatures: Vec<Vec<&'static str>> = vec![vec![]];
    for _ in 0..length {
        signatures = signatures
            .into_iter()
            .flat_map(|prefix| {
                candidates(&prefix, k).into_iter().map(move |word| {
                    let mut longer = prefix.clone();
                    longer.push(word);
                    longer
                })
            })
            .collect();
    }
    signatures
        .into_iter()
        .map(|s| s.into_iter().map(str::to_string).collect())
        .collect()
}

/// Response sets: hand-made ones (shared prefixes, identical replies, `=5` against `=`,
/// empty and short replies) and seeded random ones.
fn response_sets() -> Vec<Vec<String>> {
    let mut sets: Vec<Vec<String>> = [
        vec!["a b c", "a b d", "b", "", "=5 a", "= a b"],
        vec!["a a a"; 4],
        vec!["c = 5", "c =5 5", "d c b a", "a"],
        vec!["= =5 a", "= = =", "=5 = a", "b c d"],
        // Preambles before a possible signature, as a chat model writes them.
        vec!["``` a b c", "Sure! b c d", "``` ```", "Sure! ``` a a"],
    ]
    .into_iter()
    .map(|set| set.into_iter().map(str::to_string).collect())
    .collect();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for _ in 0..4 {
        let size = rng.random_range(1..=6usize);
        let set = (0..size)
            .map(|_| {
                let length = rng.random_range(0..=4usize);
                (0..length)
                    .map(|_| VOCABULARY[rng.random_range(0..VOCABULARY.len())])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        sets.push(set);
    }
    sets
}

/// D_j for every j = 1..=length: distinct j-token windows, starting at one of the first
/// `offsets` offsets of a response and lying within it.
fn all_distinct_prefixes(responses: &[String], length: usize, offsets: usize) -> Vec<u64> {
    (1..=length)
        .map(|j| {
            let mut windows = std::collections::HashSet::new();
            for response in responses {
                let tokens: Vec<&str> = response.split_whitespace().collect();
                for offset in 0..offsets {
                    if offset + j <= tokens.len() {
                        windows.insert(tokens[offset..offset + j].to_vec());
                    }
                }
            }
            windows.len() as u64
        })
        .collect()
}

/// Evidence that does not depend on the signature: every D_j recorded, and the given t.
fn fixed_evidence(
    k: usize,
    length: usize,
    offsets: usize,
    responses: &[String],
    matched: u32,
) -> GroupEvidence {
    GroupEvidence {
        candidates: k as u32,
        signature_tokens: length as u32,
        offsets: offsets as u32,
        checks: responses.len() as u64,
        full_activations: 0,
        matched_tokens: matched,
        distinct_prefixes: all_distinct_prefixes(responses, length, offsets),
    }
}

/// `log10` of `count / total`, `-inf` for 0.
fn log10_fraction(count: usize, total: usize) -> f64 {
    (count as f64 / total as f64).log10()
}

#[test]
fn two_group_bounds_hold_for_every_signature_pair() {
    let sets = response_sets();
    let mut cases = 0;
    for k in 2..=3usize {
        for length in 1..=3usize {
            let signatures = all_signatures(k, length);
            assert_eq!(signatures.len(), k.pow(length as u32));
            for offsets in 1..=3usize {
                for (first, second) in sets.iter().zip(sets.iter().cycle().skip(1)) {
                    check_two_groups(k, length, offsets, &signatures, first, second);
                    cases += 1;
                }
            }
        }
    }
    println!("checked {cases} (K, L, W, response pair) cases exhaustively");
}

fn check_two_groups(
    k: usize,
    length: usize,
    offsets: usize,
    signatures: &[Vec<String>],
    first: &[String],
    second: &[String],
) {
    let what = format!("K={k} L={length} W={offsets} first={first:?} second={second:?}");
    let w = offsets as u32;
    let one: Vec<GroupEvidence> = signatures
        .iter()
        .map(|s| GroupEvidence::from_responses(k as u32, w, s, first))
        .collect();
    let two: Vec<GroupEvidence> = signatures
        .iter()
        .map(|s| GroupEvidence::from_responses(k as u32, w, s, second))
        .collect();
    let total = one.len() * two.len();
    let mut statistic = Vec::with_capacity(total);
    let mut p_values = Vec::with_capacity(total);
    for a in &one {
        for b in &two {
            statistic.push(a.matched_tokens + b.matched_tokens);
            p_values.push(log10_job_p_value(&[a.clone(), b.clone()]));
        }
    }

    // Per group and per j: P(t_g >= j) <= B_{g,j}.
    for (evidence, responses) in [(&one, first), (&two, second)] {
        let fixed = fixed_evidence(k, length, offsets, responses, 0);
        // W offsets cost at most a factor W: at most n W distinct windows of each length.
        assert!(
            fixed
                .distinct_prefixes
                .iter()
                .all(|&d| d <= fixed.most_windows())
        );
        let bounds = fixed.log10_tail_bounds();
        for (j, bound) in bounds.iter().enumerate() {
            let reached = evidence
                .iter()
                .filter(|e| e.matched_tokens as usize >= j)
                .count();
            let truth = log10_fraction(reached, evidence.len());
            assert!(
                truth <= bound + SLACK,
                "{what}: P(t >= {j}) = {truth} > B = {bound}"
            );
        }
    }

    for tau in 0..=(2 * length as u32) {
        let reached = statistic.iter().filter(|&&t| t >= tau).count();
        let truth = log10_fraction(reached, total);
        // The bound with every D_j recorded (it does not depend on the signatures).
        let split = tau.min(length as u32);
        let bound = log10_job_p_value(&[
            fixed_evidence(k, length, offsets, first, split),
            fixed_evidence(k, length, offsets, second, tau - split),
        ]);
        assert!(
            truth <= bound + SLACK,
            "{what}: P(T >= {tau}) = {truth} > bound {bound}"
        );
    }

    // The reported p-value at every outcome bounds the true tail there, and the reported
    // p-value is valid: P(p <= alpha) <= alpha for every alpha it takes.
    for (&t, &p) in statistic.iter().zip(&p_values) {
        let reached = statistic.iter().filter(|&&s| s >= t).count();
        let truth = log10_fraction(reached, total);
        assert!(
            truth <= p + SLACK,
            "{what}: at T = {t}, P(T >= t) = {truth} > p = {p}"
        );
        let as_small = p_values.iter().filter(|&&q| q <= p).count();
        let level = log10_fraction(as_small, total);
        assert!(level <= p + SLACK, "{what}: P(p <= {p}) = {level}");
    }
}

#[test]
fn full_activation_bound_holds_for_every_signature() {
    let mut sets = response_sets();
    sets.push(vec!["a b".to_string(); 7]);
    sets.push(
        ["c d", "c d", "c d", "a b", "a b"]
            .map(str::to_string)
            .to_vec(),
    );
    for k in 2..=3usize {
        for length in 1..=3usize {
            let signatures = all_signatures(k, length);
            let log10_p_upper = -(length as f64) * (k as f64).log10();
            for (responses, offsets) in sets
                .iter()
                .flat_map(|set| (1..=3u32).map(move |w| (set, w)))
            {
                let activations: Vec<u64> = signatures
                    .iter()
                    .map(|s| {
                        GroupEvidence::from_responses(k as u32, offsets, s, responses)
                            .full_activations
                    })
                    .collect();
                for at_least in 0..=responses.len() as u64 + 1 {
                    let reached = activations.iter().filter(|&&a| a >= at_least).count();
                    let truth = log10_fraction(reached, activations.len());
                    let bound = log10_full_activation_bound(
                        responses.len() as u64,
                        at_least,
                        offsets,
                        log10_p_upper,
                    );
                    assert!(
                        truth <= bound + SLACK,
                        "K={k} L={length} W={offsets} {responses:?}: \
                         P(k >= {at_least}) = {truth} > {bound}"
                    );
                }
            }
        }
    }
}

/// When every response is the same text g, either all n checks activate (if g starts with
/// S) or none does: P(k >= 5) = p, not the binomial's ~ C(n, 5) p^5.
#[test]
fn identical_responses_show_the_binomial_is_anti_conservative() {
    let (k, length, n) = (3usize, 3usize, 20usize);
    let responses = vec!["a c e".to_string(); n];
    let signatures = all_signatures(k, length);
    let log10_p = -(length as f64) * (k as f64).log10();
    let all_five = signatures
        .iter()
        .filter(|s| GroupEvidence::from_responses(k as u32, 1, s, &responses).full_activations >= 5)
        .count();
    let truth = log10_fraction(all_five, signatures.len());
    // Only the signatures equal to "a c e" (if the generator can produce it) activate.
    assert!(truth <= log10_p + SLACK);
    let binomial = log10_binomial_upper_tail(n as u64, log10_p, 5);
    let ours = log10_full_activation_bound(n as u64, 5, 1, log10_p);
    assert!(ours >= truth - SLACK);
    if all_five > 0 {
        assert!(
            binomial < truth - 1.0,
            "binomial {binomial} vs truth {truth}"
        );
    }

    // The same with a signature the generator certainly produces, found by enumeration.
    let target = signatures[0].join(" ");
    let responses = vec![target; n];
    let activating = signatures
        .iter()
        .filter(|s| GroupEvidence::from_responses(k as u32, 1, s, &responses).full_activations >= 5)
        .count();
    let truth = log10_fraction(activating, signatures.len());
    assert!(
        (truth - log10_p).abs() < SLACK,
        "P(k >= 5) is p itself: {truth}"
    );
    assert!(
        binomial < truth - 1.0,
        "binomial {binomial} understates {truth} tenfold or more"
    );
    assert!(ours >= truth);

    // At the built-in generator's scale (K = 32, L = 14, n = 37), the truth is p ~ 8.5e-22;
    // the binomial says about C(37, 5) p^5 ~ 2e-100: off by some 78 orders of magnitude.
    let log10_p = -14.0 * 32f64.log10();
    let binomial = log10_binomial_upper_tail(37, log10_p, 5);
    let approx = (435_897f64).log10() + 5.0 * log10_p;
    assert!(
        (binomial - approx).abs() < 1e-6,
        "{binomial} vs C(37,5) p^5 = {approx}"
    );
    assert!(binomial < log10_p - 70.0);
    assert!(log10_full_activation_bound(37, 5, 1, log10_p) >= log10_p);
}

/// The adjustment is needed: searched at W offsets, a response's windows can match more often
/// than the one-offset bound allows, and the bound with the windows counted still holds.
#[test]
fn searching_w_offsets_needs_the_windows_counted() {
    let (k, length) = (3usize, 1usize);
    let signatures = all_signatures(k, length);
    // Three different first words and one response: each offset is a chance to match.
    let responses = vec!["a b c".to_string()];
    let matched_at = |w: u32| {
        signatures
            .iter()
            .filter(|s| {
                GroupEvidence::from_responses(k as u32, w, s, &responses).matched_tokens >= 1
            })
            .count()
    };
    let truth_one = log10_fraction(matched_at(1), signatures.len());
    let truth_three = log10_fraction(matched_at(3), signatures.len());
    let unadjusted = fixed_evidence(k, length, 1, &responses, 1).log10_tail_bounds()[1];
    let adjusted = fixed_evidence(k, length, 3, &responses, 1).log10_tail_bounds()[1];
    assert!(truth_one <= unadjusted + SLACK);
    assert!(
        truth_three > unadjusted + 0.1,
        "W = 3 matches more often ({truth_three}) than the W = 1 bound says ({unadjusted})"
    );
    assert!(
        truth_three <= adjusted + SLACK,
        "{truth_three} > {adjusted}"
    );
    // D_1 = 3 windows: exactly a factor W = 3 over one offset.
    assert!((adjusted - unadjusted - 3f64.log10()).abs() < 1e-12);
}
