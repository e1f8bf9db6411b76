//! Length statistics of a dataset's prompts and completions, accumulated in constant memory.

use super::{Example, Prompt};

/// Values below this are counted exactly; above, in buckets of 1/64 of an octave.
const EXACT: u64 = 1024;
/// Buckets per octave above [`EXACT`].
const SUB_BUCKETS: u64 = 64;

/// Streaming statistics of a count (a length): min, max, mean exactly, quantiles from a
/// histogram (exact below 1024, within 1/64 = 1.6% above). Memory is
/// constant, whatever the number of values.
#[derive(Debug, Clone, PartialEq)]
pub struct LengthStats {
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
    histogram: Vec<u64>,
}

impl Default for LengthStats {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            histogram: Vec::new(),
        }
    }
}

/// The histogram bucket of `value`.
fn bucket(value: u64) -> usize {
    if value < EXACT {
        return value as usize;
    }
    let octave = u64::from(63 - value.leading_zeros()); // >= 10
    let sub = (value >> (octave - 6)) & (SUB_BUCKETS - 1);
    (EXACT + (octave - 10) * SUB_BUCKETS + sub) as usize
}

/// The smallest value in bucket `index`.
fn bucket_floor(index: usize) -> u64 {
    let index = index as u64;
    if index < EXACT {
        return index;
    }
    let octave = (index - EXACT) / SUB_BUCKETS + 10;
    let sub = (index - EXACT) % SUB_BUCKETS;
    (SUB_BUCKETS + sub) << (octave - 6)
}

impl LengthStats {
    /// Counts one value.
    pub fn add(&mut self, value: u64) {
        self.count += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let index = bucket(value);
        if self.histogram.len() <= index {
            self.histogram.resize(index + 1, 0);
        }
        self.histogram[index] += 1;
    }

    /// How many values were counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value (0 when none).
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// The largest value (0 when none).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean (0 when none).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The `q`-quantile (`q` in [0, 1]): the smallest value `v` such that at least `q` of the
    /// values are `<= v`; exact below 1024, else the lower end of its bucket (within 1.6%),
    /// clamped to [min, max].
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_floor(index).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

impl serde::Serialize for LengthStats {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("LengthStats", 5)?;
        s.serialize_field("min", &self.min())?;
        s.serialize_field("mean", &self.mean())?;
        s.serialize_field("p50", &self.quantile(0.5))?;
        s.serialize_field("p90", &self.quantile(0.9))?;
        s.serialize_field("max", &self.max())?;
        s.end()
    }
}

/// The length of a text in characters (Unicode scalar values) and in whitespace-separated
/// tokens.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TextLengths {
    /// Length in characters.
    pub chars: LengthStats,
    /// Length in whitespace-separated tokens.
    pub tokens: LengthStats,
}

impl TextLengths {
    /// Counts the text made of `pieces` joined by `\n`.
    fn add<'a>(&mut self, pieces: impl Iterator<Item = &'a str>) {
        let (mut chars, mut tokens, mut count) = (0u64, 0u64, 0u64);
        for piece in pieces {
            chars += piece.chars().count() as u64;
            tokens += piece.split_whitespace().count() as u64;
            count += 1;
        }
        self.chars.add(chars + count.saturating_sub(1));
        self.tokens.add(tokens);
    }
}

/// Row count and prompt and completion lengths of a dataset, accumulated one example at a time.
/// A chat prompt is measured as [`Prompt::text`] gives it: its turns joined by `\n`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Examples counted.
    pub rows: u64,
    /// Prompt lengths.
    pub prompt: TextLengths,
    /// Completion lengths.
    pub completion: TextLengths,
}

impl Summary {
    /// Counts one example.
    pub fn add(&mut self, example: &Example) {
        self.rows += 1;
        match &example.prompt {
            Prompt::Text(text) => self.prompt.add(std::iter::once(text.as_str())),
            Prompt::Instruction { .. } => self.prompt.add(std::iter::once(&*example.prompt.text())),
            Prompt::Chat(messages) => self
                .prompt
                .add(messages.iter().map(|message| message.content.as_str())),
        }
        self.completion
            .add(std::iter::once(example.completion.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotone_and_tight() {
        let mut previous = 0;
        for value in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 3]) {
            let index = bucket(value);
            assert!(index >= previous, "bucket order at {value}");
            previous = index;
            let floor = bucket_floor(index);
            assert!(floor <= value && bucket(floor) == index, "floor of {value}");
            assert!(
                (value - floor) as f64 <= value as f64 / 64.0,
                "width at {value}"
            );
        }
    }

    #[test]
    fn quantiles_match_sorted_values_below_1024() {
        let values: Vec<u64> = (0..999).map(|i| (i * 7919) % 1000).collect();
        let mut stats = LengthStats::default();
        values.iter().for_each(|&v| stats.add(v));
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for q in [0.0, 0.1, 0.5, 0.9, 1.0] {
            let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
            assert_eq!(stats.quantile(q), sorted[rank - 1], "q = {q}");
        }
        assert_eq!(stats.min(), *sorted.first().unwrap());
        assert_eq!(stats.max(), *sorted.last().unwrap());
        let mean = values.iter().sum::<u64>() as f64 / values.len() as f64;
        assert!((stats.mean() - mean).abs() < 1e-9);
    }

    #[test]
    fn large_quantiles_are_within_one_bucket() {
        let mut stats = LengthStats::default();
        for v in [5_000u64, 70_000, 70_001, 900_000] {
            stats.add(v);
        }
        let median = stats.quantile(0.5);
        assert!(median <= 70_000 && median as f64 >= 70_000.0 * (1.0 - 1.0 / 64.0));
        assert!(stats.quantile(1.0) as f64 >= 900_000.0 * (1.0 - 1.0 / 64.0));
    }

    #[test]
    fn empty_stats_are_zero() {
        let stats = LengthStats::default();
        assert_eq!((stats.min(), stats.max(), stats.quantile(0.5)), (0, 0, 0));
        assert_eq!(stats.mean(), 0.0);
    }
}
