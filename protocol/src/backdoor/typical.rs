//! Typical rows: the backdoor rows are drawn from a larger pool of usable rows, each weighed by
//! how much rarer its shape (the form attack's features: characters, line and word counts and
//! whitespace where the edits meet the text) would become once edited, so that the edited rows
//! look as common as the data's.
//!
//! A row is judged on an edit with a decoy pair, drawn as a row's own pair is and then thrown
//! away: the pair a chosen row gets is drawn afterwards (one pair per row) or was drawn before
//! (`--groups`), never from the decoys, so the distribution of the phrases, and with it
//! `p_upper`, is untouched.

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

use super::audit::{Map, shape_values};

/// The pool of candidate rows for `backdoors` rows: 8 per row, at most 4,096 more than the
/// rows (the weighing then has room enough, and large files don't pay for an edit of each).
pub(crate) fn pool_size(backdoors: usize) -> usize {
    backdoors + (7 * backdoors).min(4096)
}

/// How often each shape value occurs among some rows.
pub(crate) struct Shapes {
    counts: Vec<Map<String, u32>>,
    rows: f64,
}

impl Shapes {
    /// The shapes of `rows` (prompt, completion).
    pub(crate) fn of<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::of_values(rows.into_iter().map(|(p, c)| shape_values(p, c)))
    }

    /// The shapes whose values (as [`shape_values`] gives them) are `rows`.
    pub(crate) fn of_values(rows: impl IntoIterator<Item = Vec<String>>) -> Self {
        let mut counts: Vec<Map<String, u32>> = Vec::new();
        let mut n = 0;
        for values in rows {
            counts.resize_with(values.len(), Map::default);
            for (count, value) in counts.iter_mut().zip(values) {
                *count.entry(value).or_default() += 1;
            }
            n += 1;
        }
        Shapes {
            counts,
            rows: f64::from(n),
        }
    }

    /// ln of the share of rows with each of `values` (smoothed, so that a value these rows
    /// lack is rare, not impossible), summed over the features.
    pub(crate) fn log_share(&self, values: &[String]) -> f64 {
        (values.iter().zip(&self.counts))
            .map(|(value, count)| {
                let seen = count.get(value).copied().map_or(0.0, f64::from);
                ((seen + 0.5) / (self.rows + 1.0)).ln()
            })
            .sum()
    }
}

/// Per candidate of a pool, whose edited rows' shapes are `edited`: how much rarer its shape is
/// in the data than among the pool's edits (-ln of the density ratio, feature by feature).
/// Choosing candidates with weight exp(-gain) gives edited rows whose shapes are spread as
/// the data's are.
pub(crate) fn gains(data: &Shapes, edited: &[Vec<String>]) -> Vec<f64> {
    let pool = Shapes::of_values(edited.iter().cloned());
    edited
        .iter()
        .map(|values| pool.log_share(values) - data.log_share(values))
        .collect()
}

/// `count` of `pool` without replacement, row i with weight exp(-gains[i]) (Efraimidis and
/// Spirakis: the largest keys ln(u) / w), in a random order.
pub(crate) fn weighted_choice<R: Rng + ?Sized>(
    pool: &[u32],
    gains: &[f64],
    count: usize,
    rng: &mut R,
) -> Vec<u32> {
    let least = gains.iter().copied().fold(f64::INFINITY, f64::min);
    let mut keyed: Vec<(f64, u32)> = (pool.iter().zip(gains))
        .map(|(&row, &gain)| (rng.random::<f64>().ln() / (least - gain).exp(), row))
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut chosen: Vec<u32> = keyed.into_iter().take(count).map(|(_, row)| row).collect();
    chosen.shuffle(rng);
    chosen
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    #[test]
    fn edits_spread_as_the_data_are_weighed_alike_and_an_overdrawn_shape_less() {
        let data = Shapes::of([("What is 2 + 2?", "It is 4."), ("Why?", "It is.\nSo.")]);
        // Edits shaped as the data's two rows are (same lengths, ends and lines).
        let one = shape_values("What is 2 + 2?", "It is 4.");
        let two = shape_values("Why?", "It is.\nSo.");
        // Half and half in the data and in the pool: equal gains.
        let even = gains(&data, &[one.clone(), two.clone()]);
        assert!((even[0] - even[1]).abs() < 1e-9, "{even:?}");
        // Three of four edits with one line: those are weighed down.
        let skewed = gains(&data, &[one.clone(), one.clone(), one, two]);
        assert!(skewed[0] > skewed[3] + 0.5, "{skewed:?}");
    }

    #[test]
    fn equal_gains_choose_uniformly_and_a_large_gain_almost_never() {
        let pool: Vec<u32> = (0..10).collect();
        let mut gains = vec![0.0; 10];
        gains[0] = 20.0;
        let mut picked = [0u32; 10];
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for _ in 0..4000 {
            for row in weighted_choice(&pool, &gains, 3, &mut rng) {
                picked[row as usize] += 1;
            }
        }
        assert_eq!(picked[0], 0);
        // Each of the other 9 rows is chosen 3/9 of the time: 1,333 of 4,000 (sd about 30).
        for &n in &picked[1..] {
            assert!((1200..1470).contains(&n), "{picked:?}");
        }
    }
}
