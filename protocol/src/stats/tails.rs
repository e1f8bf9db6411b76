//! Binomial and hypergeometric upper tails in log space, and the subset-training attack.

use std::f64::consts::LN_10;

use super::logspace::{ln_1m_exp, ln_choose, ln_sum_from_mode_outward};

/// `ln P(X >= k)` for a log-concave pmf on `lo..=hi` with the given mode.
///
/// When `k` is past the mode the upper terms are summed outward from `k`. Otherwise the lower
/// tail (terms below `k`, summed outward from `k - 1`) is at most about one half, and the upper
/// tail is `ln(1 - lower)` by `ln_1m_exp`, which keeps full relative precision even when the
/// upper tail is `1 - 1e-300`. Never `1 - cdf` in linear space.
fn ln_upper_tail(lo: u64, hi: u64, mode: u64, k: u64, ln_pmf: impl Fn(u64) -> f64) -> f64 {
    if k <= lo {
        return 0.0;
    }
    if k > hi {
        return f64::NEG_INFINITY;
    }
    if k > mode {
        ln_sum_from_mode_outward(k..=hi, ln_pmf)
    } else {
        ln_1m_exp(ln_sum_from_mode_outward((lo..k).rev(), ln_pmf))
    }
}

/// `log10 P(X >= k)` for `X ~ Binomial(n, p)`, with `p` given as `log10_p` so that values
/// below f64's range still work. `k == 0` gives 0; `k > n` gives `-inf`.
///
/// `log10_p >= 0` means `p = 1`; `-inf` means `p = 0`. A NaN `log10_p` gives NaN.
pub fn log10_binomial_upper_tail(n: u64, log10_p: f64, k: u64) -> f64 {
    if log10_p.is_nan() {
        return f64::NAN;
    }
    if k == 0 {
        return 0.0;
    }
    if k > n {
        return f64::NEG_INFINITY;
    }
    let ln_p = (log10_p * LN_10).min(0.0);
    if ln_p == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if ln_p == 0.0 {
        return 0.0;
    }
    let ln_q = ln_1m_exp(ln_p);
    let ln_pmf = |j: u64| ln_choose(n, j) + j as f64 * ln_p + (n - j) as f64 * ln_q;
    // The pmf grows while j + 1 <= (n + 1) p. An error of one in the mode is harmless: the two
    // terms beside an integer (n + 1) p are equal.
    let mode = ((n as f64 + 1.0) * ln_p.exp()).floor().min(n as f64) as u64;
    ln_upper_tail(0, n, mode, k, ln_pmf) / LN_10
}

/// `log10 P(B >= k)` for `B ~ Hypergeometric(population, successes, draws)`: `draws` rows
/// drawn without replacement from `population` rows of which `successes` are marked.
///
/// `k == 0` gives 0 and `k > min(successes, draws)` gives `-inf`. Returns NaN when
/// `successes > population` or `draws > population` (no such distribution).
pub fn log10_hypergeom_upper_tail(population: u64, successes: u64, draws: u64, k: u64) -> f64 {
    match ln_hypergeom_upper_tail(population, successes, draws, k) {
        Some(ln_tail) => ln_tail / LN_10,
        None => f64::NAN,
    }
}

/// `ln P(B >= k)` for the hypergeometric distribution, or `None` for impossible parameters.
fn ln_hypergeom_upper_tail(population: u64, successes: u64, draws: u64, k: u64) -> Option<f64> {
    if successes > population || draws > population {
        return None;
    }
    let failures = population - successes;
    let lo = draws.saturating_sub(failures);
    let hi = successes.min(draws);
    if k <= lo {
        return Some(0.0);
    }
    if k > hi {
        return Some(f64::NEG_INFINITY);
    }
    let ln_total = ln_choose(population, draws);
    let ln_pmf = |j: u64| ln_choose(successes, j) + ln_choose(failures, draws - j) - ln_total;
    let mode = (u128::from(draws) + 1) * (u128::from(successes) + 1) / (u128::from(population) + 2);
    let mode = (mode as u64).clamp(lo, hi);
    Some(ln_upper_tail(lo, hi, mode, k, ln_pmf))
}

/// Relative slack in [`subset_attack_fraction`]'s comparison of a tail with the chance: far
/// above the tails' rounding error (about 1e-14), far below anything a buyer could notice.
const TIE_TOLERANCE: f64 = 1e-12;

/// The smallest fraction `m / population` such that a provider training on `m` rows drawn
/// uniformly without replacement includes at least `k` of the `successes` backdoor rows with
/// probability at least `chance`.
///
/// The tail grows with `m`, so this is a binary search: about `log2(population)` tail
/// evaluations, each summing at most `successes` terms. A tail within 1e-12 (relative) of
/// `chance` counts as reaching it, so that exact ties do not depend on rounding. Returns 0 when `k == 0` or
/// `chance <= 0`, `f64::INFINITY` when no `m` reaches `chance` (`k > successes` or
/// `chance > 1`), and NaN when `successes > population` or `chance` is NaN.
pub fn subset_attack_fraction(population: u64, successes: u64, k: u64, chance: f64) -> f64 {
    if chance.is_nan() || successes > population {
        return f64::NAN;
    }
    if k == 0 || chance <= 0.0 {
        return 0.0;
    }
    if k > successes || chance > 1.0 {
        return f64::INFINITY;
    }
    // A tail within TIE_TOLERANCE (relative) of the chance counts as reaching it: exact ties
    // occur (by symmetry, P(B >= 3) = 1/2 for 5 of 1000 rows and m = 500) and must not turn on
    // the last bit of rounding.
    let ln_needed = chance.ln() - TIE_TOLERANCE;
    let reaches = |m: u64| {
        ln_hypergeom_upper_tail(population, successes, m, k)
            .is_some_and(|ln_tail| ln_tail >= ln_needed)
    };
    // Invariant: `high` reaches the chance (m = population draws every backdoor row).
    let (mut low, mut high) = (0u64, population);
    while low < high {
        let middle = low + (high - low) / 2;
        if reaches(middle) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    low as f64 / population as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_edge_cases() {
        assert_eq!(log10_binomial_upper_tail(10, -3.0, 0), 0.0);
        assert_eq!(log10_binomial_upper_tail(0, -3.0, 0), 0.0);
        assert_eq!(log10_binomial_upper_tail(10, -3.0, 11), f64::NEG_INFINITY);
        assert_eq!(log10_binomial_upper_tail(0, -3.0, 1), f64::NEG_INFINITY);
        // p = 1: X = n always.
        assert_eq!(log10_binomial_upper_tail(10, 0.0, 10), 0.0);
        assert_eq!(log10_binomial_upper_tail(10, 0.0, 11), f64::NEG_INFINITY);
        // p = 0.
        assert_eq!(
            log10_binomial_upper_tail(10, f64::NEG_INFINITY, 1),
            f64::NEG_INFINITY
        );
        assert_eq!(log10_binomial_upper_tail(10, f64::NEG_INFINITY, 0), 0.0);
        assert!(log10_binomial_upper_tail(10, f64::NAN, 1).is_nan());
    }

    #[test]
    fn binomial_below_f64_range() {
        // P(X >= 1) ~ n p for tiny p, far below f64's smallest positive number.
        let n = 1000;
        let tail = log10_binomial_upper_tail(n, -400.0, 1);
        assert!((tail - (3.0 - 400.0)).abs() < 1e-9, "{tail}");
        // P(X >= n) = p^n exactly.
        let all = log10_binomial_upper_tail(n, -400.0, n);
        assert!((all + 400_000.0).abs() < 1e-6, "{all}");
        assert!(log10_binomial_upper_tail(10, -1e308, 1) <= -1e307);
        assert!(!log10_binomial_upper_tail(10, -f64::MAX, 1).is_nan());
    }

    #[test]
    fn binomial_large_n_near_the_mode() {
        // Bin(1e9, 1/2): P(X >= n/2) is just over one half.
        let n = 1_000_000_000;
        let tail = log10_binomial_upper_tail(n, -std::f64::consts::LOG10_2, n / 2);
        assert!(
            (tail - 0.5f64.log10()).abs() < 1e-4 && tail > 0.5f64.log10(),
            "{tail}"
        );
        // Symmetry: P(X >= n/2 + 1) = P(X <= n/2 - 1) = 1 - P(X >= n/2).
        let above = log10_binomial_upper_tail(n, -std::f64::consts::LOG10_2, n / 2 + 1);
        let sum = 10f64.powf(tail) + 10f64.powf(above);
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn hypergeom_edge_cases() {
        assert_eq!(log10_hypergeom_upper_tail(100, 6, 10, 0), 0.0);
        assert_eq!(log10_hypergeom_upper_tail(100, 6, 10, 7), f64::NEG_INFINITY);
        assert_eq!(log10_hypergeom_upper_tail(100, 6, 100, 6), 0.0);
        assert_eq!(log10_hypergeom_upper_tail(100, 6, 0, 1), f64::NEG_INFINITY);
        // 99 draws out of 100 must include at least 5 of 6 marked rows.
        assert_eq!(log10_hypergeom_upper_tail(100, 6, 99, 5), 0.0);
        assert!(log10_hypergeom_upper_tail(10, 11, 1, 1).is_nan());
        assert!(log10_hypergeom_upper_tail(10, 1, 11, 1).is_nan());
    }

    #[test]
    fn hypergeom_one_marked_row_is_the_draw_fraction() {
        // P(B >= 1) with one marked row is m / K.
        let tail = log10_hypergeom_upper_tail(1000, 1, 37, 1);
        assert!((tail - (0.037f64).log10()).abs() < 1e-13, "{tail}");
    }

    #[test]
    fn subset_attack_edge_cases() {
        assert_eq!(subset_attack_fraction(100, 6, 0, 0.5), 0.0);
        assert_eq!(subset_attack_fraction(100, 6, 7, 0.5), f64::INFINITY);
        assert_eq!(subset_attack_fraction(100, 6, 6, 1.0), 1.0);
        assert_eq!(subset_attack_fraction(100, 100, 1, 1.0), 0.01);
        assert!(subset_attack_fraction(100, 101, 1, 0.5).is_nan());
    }
}
