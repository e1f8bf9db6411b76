//! The cost of redrawing signatures that already occur in the data.
//!
//! `prepare` redraws a signature found in the data, so a signature is drawn from the
//! generator *conditioned on being novel* (event N). For any event E, P(E | N) ≤ P(E) / P(N).
//! The data holds at most T token positions, so at most T distinct L-grams, and each is drawn
//! with probability at most p_upper: P(not N) ≤ T · p_upper per group, and with G groups drawn
//! independently P(N) ≥ 1 − G · T · p_upper. Every bound of this module's siblings is thus
//! multiplied by at most 1 / (1 − G · T · p_upper) after redraws (proof in
//! `specs/statistics.md`, "Novelty redraws"). `prepare` refuses settings where G · T · p_upper
//! exceeds [`MAX_COLLISION_CHANCE`]: every p-value is then exact up to a factor of at most
//! 1 + 1e-6 (4.4e-7 in log10).

/// The largest accepted chance G · T · p_upper that a drawn signature occurs in the data.
pub const MAX_COLLISION_CHANCE: f64 = 1e-6;

/// log10 of the factor 1 / (1 − G · T · p_upper) by which redraws can raise any probability
/// of the signatures, for `groups` groups, `positions` token positions (an upper bound on the
/// data's distinct L-grams) and `log10_p_upper`; `None` when the chance reaches 1.
pub fn log10_novelty_inflation(groups: u64, positions: u64, log10_p_upper: f64) -> Option<f64> {
    let chance = groups as f64 * positions as f64 * 10f64.powf(log10_p_upper);
    (chance < 1.0).then(|| -(-chance).ln_1p() / std::f64::consts::LN_10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Every sequence of a tree of `k` candidates per step and `l` steps, with its probability
    /// (candidates weighted at random, the largest path probability returned as p_upper).
    fn paths(k: usize, l: usize, rng: &mut impl rand::Rng) -> (Vec<(Vec<u8>, f64)>, f64) {
        let mut out = vec![(Vec::new(), 1.0)];
        for _ in 0..l {
            let mut next = Vec::new();
            for (prefix, p) in out {
                let weights: Vec<f64> = (0..k).map(|_| rng.random_range(0.5..1.5)).collect();
                let total: f64 = weights.iter().sum();
                for (c, w) in weights.iter().enumerate() {
                    let mut seq = prefix.clone();
                    seq.push(c as u8);
                    next.push((seq, p * w / total));
                }
            }
            out = next;
        }
        let p_upper = out.iter().map(|(_, p)| *p).fold(0.0, f64::max);
        (out, p_upper)
    }

    #[test]
    fn redrawn_probabilities_never_exceed_the_inflated_bound() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..300 {
            let (k, l) = (rng.random_range(2..=3), rng.random_range(2..=3));
            let (all, p_upper) = paths(k, l, &mut rng);
            let t = rng.random_range(0..all.len() / 2 + 1);
            // The data's L-grams: t sequences taken out; redraws condition on the rest.
            let forbidden: Vec<usize> = (0..t).map(|_| rng.random_range(0..all.len())).collect();
            let novel: f64 = (0..all.len())
                .filter(|i| !forbidden.contains(i))
                .map(|i| all[i].1)
                .sum();
            let Some(inflation) = log10_novelty_inflation(1, t as u64, p_upper.log10()) else {
                continue;
            };
            let factor = 10f64.powf(inflation);
            // Every prefix event, conditioned on novelty, against its bound times the factor.
            for j in 1..=l {
                let mut by_prefix = std::collections::HashMap::<Vec<u8>, (f64, f64)>::new();
                for (i, (seq, p)) in all.iter().enumerate() {
                    let entry = by_prefix.entry(seq[..j].to_vec()).or_default();
                    entry.0 += p;
                    if !forbidden.contains(&i) {
                        entry.1 += p / novel;
                    }
                }
                for (before, after) in by_prefix.values() {
                    assert!(
                        after <= &(before * factor * (1.0 + 1e-12)),
                        "{after} > {before} x {factor}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_factor_is_tiny_at_the_defaults_and_refused_when_large() {
        // 38 groups, a 10 GB file, p_upper 3e-21: far below the limit.
        let tiny = log10_novelty_inflation(38, 10_000_000_000, -20.5).unwrap();
        assert!(tiny < 1e-8 && tiny > 0.0);
        // K = 3, L = 3 on any real file: the chance reaches 1.
        assert_eq!(log10_novelty_inflation(1, 250_000, -(27f64.log10())), None);
    }
}
