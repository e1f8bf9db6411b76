//! How many backdoors, which rows, and which group each gets.

use rand::Rng;
use rand::seq::SliceRandom;

/// A set of row indices, one bit per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSet {
    bits: Vec<u64>,
    len: usize,
}

impl RowSet {
    /// An empty set over `len` rows.
    pub fn new(len: usize) -> Self {
        Self {
            bits: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Grows the set to cover `len` rows.
    pub fn grow(&mut self, len: usize) {
        if len > self.len {
            self.len = len;
            self.bits.resize(len.div_ceil(64), 0);
        }
    }

    /// Adds `row`.
    pub fn insert(&mut self, row: usize) {
        self.grow(row + 1);
        self.bits[row / 64] |= 1 << (row % 64);
    }

    /// Whether `row` is in the set.
    pub fn contains(&self, row: usize) -> bool {
        row < self.len && self.bits[row / 64] & (1 << (row % 64)) != 0
    }

    /// The rows in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| (bits >> b) & 1 == 1)
                .map(move |b| w * 64 + b)
        })
    }

    /// The number of rows in the set.
    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// The paper's default number of backdoors: 0.5% of the rows, at least 5.
pub fn default_backdoor_count(rows: u64) -> u64 {
    rows.saturating_mul(5).div_ceil(1000).max(5)
}

/// `ceil(fraction * rows)`, at least 1.
pub fn backdoors_for_fraction(rows: u64, fraction: f64) -> u64 {
    ((fraction * rows as f64).ceil() as u64).max(1)
}

/// The pass threshold `ceil(ratio * backdoors)`, at least 1.
pub fn pass_threshold(backdoors: u64, ratio: f64) -> u64 {
    ((ratio * backdoors as f64 - 1e-9).ceil() as u64).clamp(1, backdoors.max(1))
}

/// Chooses `count` of the `usable` rows uniformly without replacement, in random order.
pub fn choose_rows<R: Rng + ?Sized>(usable: &[u32], count: usize, rng: &mut R) -> Vec<u32> {
    assert!(count <= usable.len(), "checked by the caller");
    let mut chosen: Vec<u32> = rand::seq::index::sample(rng, usable.len(), count)
        .into_iter()
        .map(|i| usable[i])
        .collect();
    chosen.shuffle(rng);
    chosen
}

/// Group sizes for `backdoors` rows split evenly over `groups` (they differ by at most one).
pub fn group_sizes(backdoors: usize, groups: usize) -> Vec<usize> {
    (0..groups)
        .map(|g| backdoors / groups + usize::from(g < backdoors % groups))
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    #[test]
    fn paper_defaults() {
        assert_eq!(default_backdoor_count(100), 5);
        assert_eq!(default_backdoor_count(7473), 38);
        assert_eq!(default_backdoor_count(2000), 10);
        assert_eq!(pass_threshold(38, 0.5), 19);
        assert_eq!(pass_threshold(5, 0.5), 3);
        assert_eq!(pass_threshold(5, 0.0), 1);
        assert_eq!(backdoors_for_fraction(1000, 0.01), 10);
    }

    #[test]
    fn chosen_rows_are_distinct_usable_and_uniform() {
        let usable: Vec<u32> = (0..10).map(|i| i * 3).collect();
        let mut counts = [0u32; 10];
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for _ in 0..2000 {
            let chosen = choose_rows(&usable, 3, &mut rng);
            let mut sorted = chosen.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 3);
            for row in chosen {
                assert_eq!(row % 3, 0);
                counts[(row / 3) as usize] += 1;
            }
        }
        // Each row is chosen with probability 3/10: 600 of 2000 expected, sd ~20.5.
        for c in counts {
            assert!((500..700).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn groups_split_evenly() {
        assert_eq!(group_sizes(38, 4), [10, 10, 9, 9]);
        assert_eq!(group_sizes(5, 1), [5]);
    }

    #[test]
    fn row_sets() {
        let mut set = RowSet::new(3);
        set.insert(2);
        set.insert(130);
        assert!(set.contains(2) && set.contains(130) && !set.contains(1) && !set.contains(999));
        assert_eq!(set.count(), 2);
    }
}
