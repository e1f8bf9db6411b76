//! Arithmetic in natural-log space: `ln C(n, k)`, `ln(1 - e^x)`, `ln(e^a + e^b)`, and sums of
//! log-concave terms that stop as soon as the rest cannot change the result.

use std::f64::consts::{LN_2, PI};

/// `ln(1 - e^x)` for `x <= 0`, accurate both for `x` near 0 (where `1 - e^x` is tiny) and for
/// `x` far below 0 (where `e^x` is tiny), as in Mächler's note on `log1mexp`.
pub(crate) fn ln_1m_exp(x: f64) -> f64 {
    if x > -LN_2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

/// `ln(e^a + e^b)`, exact when either side is `-inf`.
pub(crate) fn ln_add_exp(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln n! - (n ln n - n + ln sqrt(2 pi n))`, the error of Stirling's formula, for `n >= 1`.
fn stirling_error(n: u64) -> f64 {
    if n < 16 {
        // n! is exact in f64 here; the cancellation costs about 1e-14 absolute.
        let x = n as f64;
        let factorial: f64 = (1..=n).map(|i| i as f64).product();
        return factorial.ln() - (x * x.ln() - x + 0.5 * (2.0 * PI * x).ln());
    }
    // The asymptotic series; its first omitted term is below 1e-16 for n >= 16.
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    let x = n as f64;
    let x2 = x * x;
    (S0 - (S1 - (S2 - (S3 - S4 / x2) / x2) / x2) / x2) / x
}

/// `ln C(n, k)` for `k <= n`, to a few ulps relative.
///
/// Written as `k ln(n/k) + (n-k) ln(n/(n-k)) + ln sqrt(n / (2 pi k (n-k)))` plus Stirling
/// corrections: the large terms are all positive, so nothing cancels (unlike
/// `ln n! - ln k! - ln (n-k)!`).
pub(crate) fn ln_choose(n: u64, k: u64) -> f64 {
    debug_assert!(k <= n, "ln_choose({n}, {k})");
    let k = k.min(n - k);
    if k == 0 {
        return 0.0;
    }
    let r = n - k;
    let (nf, kf, rf) = (n as f64, k as f64, r as f64);
    let main = kf * (nf / kf).ln() - rf * (-kf / nf).ln_1p();
    main + 0.5 * (nf / (2.0 * PI * kf * rf)).ln() + stirling_error(n)
        - stirling_error(k)
        - stirling_error(r)
}

/// Below this many nats under the running sum, the rest of a sum cannot change an f64.
const NEGLIGIBLE_NATS: f64 = 40.0;

/// `ln sum_j e^{term(j)}` over `js`, for terms that are log-concave in `j` and do not grow
/// along `js` (the first index is at or past the mode, in the direction of summation).
///
/// Log-concavity makes the ratio of successive terms non-increasing, so once that ratio `r`
/// is below 1 the rest is at most `term * r / (1 - r)`; the sum stops when that bound is
/// negligible.
pub(crate) fn ln_sum_from_mode_outward(
    js: impl Iterator<Item = u64>,
    term: impl Fn(u64) -> f64,
) -> f64 {
    let mut sum = f64::NEG_INFINITY;
    let mut previous = f64::NEG_INFINITY;
    for j in js {
        let t = term(j);
        if t == f64::NEG_INFINITY {
            break;
        }
        sum = ln_add_exp(sum, t);
        if previous.is_finite() {
            let ln_ratio = t - previous;
            if ln_ratio < 0.0 {
                let ln_rest = t + ln_ratio - ln_1m_exp(ln_ratio);
                if ln_rest < sum - NEGLIGIBLE_NATS {
                    break;
                }
            }
        }
        previous = t;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C(n, k) by exact integer arithmetic, for small n.
    fn choose_exact(n: u64, k: u64) -> u128 {
        (0..k).fold(1u128, |acc, i| acc * u128::from(n - i) / u128::from(i + 1))
    }

    #[test]
    fn ln_choose_matches_exact_integers() {
        let mut worst: f64 = 0.0;
        for n in 0..=120u64 {
            for k in 0..=n {
                let exact = (choose_exact(n, k) as f64).ln();
                let ours = ln_choose(n, k);
                worst = worst.max((ours - exact).abs() / exact.max(1.0));
            }
        }
        assert!(worst < 1e-13, "worst relative error {worst:e}");
    }

    #[test]
    fn ln_choose_is_symmetric_and_large_n_is_finite() {
        assert_eq!(ln_choose(1_000_000, 3), ln_choose(1_000_000, 999_997));
        let big = ln_choose(10_000_000_000, 5_000_000_000);
        // ln C(2m, m) ~ 2m ln 2 - ln sqrt(pi m)
        let approx = 1e10 * LN_2 - 0.5 * (PI * 5e9).ln();
        assert!((big - approx).abs() < 1e-6 * approx, "{big} vs {approx}");
    }

    #[test]
    fn ln_1m_exp_is_accurate_at_both_ends() {
        assert_eq!(ln_1m_exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(ln_1m_exp(0.0), f64::NEG_INFINITY);
        // ln(1 - e^-1e-20) = ln(1e-20) to within rounding
        let near_zero = ln_1m_exp(-1e-20);
        assert!((near_zero - (1e-20f64).ln()).abs() < 1e-12);
        // ln(1 - e^-50) = -e^-50 to within rounding
        let far = ln_1m_exp(-50.0);
        assert!((far + (-50.0f64).exp()).abs() < 1e-35);
    }

    #[test]
    fn ln_add_exp_handles_infinities() {
        assert_eq!(
            ln_add_exp(f64::NEG_INFINITY, f64::NEG_INFINITY),
            f64::NEG_INFINITY
        );
        assert_eq!(ln_add_exp(-3.0, f64::NEG_INFINITY), -3.0);
        assert!((ln_add_exp(0.0, 0.0) - LN_2).abs() < 1e-15);
    }
}
