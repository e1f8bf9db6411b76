//! The output's fresh random order, in bounded memory, without a read per row.
//!
//! While the scan reads the file, every record goes to one of B buckets, chosen uniformly at
//! random, whose bytes wait in a temporary file. Writing then takes the buckets in turn,
//! shuffles each in memory and writes its rows. Giving every row an independent uniform bucket
//! and then a uniform order within its bucket is a uniformly random permutation of the rows: it
//! is the order of sorting by independent uniform keys, of which the bucket is the leading
//! digits. Buckets hold about [`BUCKET_BYTES`] each, so the write holds one bucket in memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha20Rng;
use vtune_protocol::backdoor::{Choice, Edit, PrepareError, RowSet, Stage};
use vtune_protocol::commit::SecretBackdoor;
use vtune_protocol::dataset::{self, Layout};

use super::Progress;

/// The bytes a bucket holds on average.
const BUCKET_BYTES: u64 = 16 << 20;

/// A bucket's bytes gather in memory up to this much before they go to the file.
const PENDING_BYTES: usize = 64 << 10;

/// The buckets, as the scan fills them.
pub(super) struct Buckets {
    file: File,
    /// The bytes of the file in use.
    end: u64,
    /// Per bucket: its bytes not yet in the file.
    pending: Vec<Vec<u8>>,
    /// Per bucket: (offset, length) of its stretches of the file, in order.
    chunks: Vec<Vec<(u64, usize)>>,
    /// Per bucket: (row, byte length) of its records, in the order of their bytes.
    index: Vec<Vec<(u32, u32)>>,
    rng: ChaCha20Rng,
    rows: u32,
}

impl Buckets {
    /// Enough buckets for an output of about `output_bytes`, waiting in a temporary file in
    /// `dir`; `rng` draws each row's bucket.
    pub(super) fn new(dir: &Path, output_bytes: u64, rng: ChaCha20Rng) -> io::Result<Self> {
        let count = output_bytes.div_ceil(BUCKET_BYTES).max(1) as usize;
        Ok(Self {
            file: tempfile::tempfile_in(dir)?,
            end: 0,
            pending: vec![Vec::new(); count],
            chunks: vec![Vec::new(); count],
            index: vec![Vec::new(); count],
            rng,
            rows: 0,
        })
    }

    /// Deals the next row's record into a random bucket.
    pub(super) fn deal(&mut self, record: &[u8]) -> io::Result<()> {
        let bucket = self.rng.random_range(0..self.index.len());
        let len = u32::try_from(record.len()).expect("the scan refuses records of 4 GiB");
        self.index[bucket].push((self.rows, len));
        self.rows += 1;
        self.pending[bucket].extend_from_slice(record);
        if self.pending[bucket].len() >= PENDING_BYTES {
            self.flush(bucket)?;
        }
        Ok(())
    }

    fn flush(&mut self, bucket: usize) -> io::Result<()> {
        let pending = &mut self.pending[bucket];
        if !pending.is_empty() {
            self.file.write_all_at(pending, self.end)?;
            self.chunks[bucket].push((self.end, pending.len()));
            self.end += pending.len() as u64;
            pending.clear();
        }
        Ok(())
    }

    /// Every bucket's bytes in the file.
    pub(super) fn finish(mut self) -> io::Result<Self> {
        for bucket in 0..self.pending.len() {
            self.flush(bucket)?;
        }
        self.pending = Vec::new();
        Ok(self)
    }

    /// Bucket `index`'s bytes (into `bytes`) and its (row, start, length) entries.
    fn read(&self, index: usize, bytes: &mut Vec<u8>) -> io::Result<Vec<(u32, usize, usize)>> {
        let total = self.chunks[index].iter().map(|c| c.1).sum();
        bytes.clear();
        bytes.resize(total, 0);
        let mut at = 0;
        for &(offset, len) in &self.chunks[index] {
            self.file.read_exact_at(&mut bytes[at..at + len], offset)?;
            at += len;
        }
        let mut start = 0;
        Ok(self.index[index]
            .iter()
            .map(|&(row, len)| {
                start += len as usize;
                (row, start - len as usize, len as usize)
            })
            .collect())
    }
}

/// Writes the rows to `train` bucket by bucket, each in a random order, with the edited bytes
/// for the backdoor rows; returns the backdoor entries (by ascending output row) and the blake3
/// of the output.
#[allow(clippy::too_many_arguments)]
pub(super) fn write<G: Rng + ?Sized>(
    file_name: &str,
    layout: Layout,
    buckets: Buckets,
    choice: &Choice,
    mut train: &File,
    rows: u64,
    rng: &mut G,
    progress: Progress<'_>,
) -> Result<(Vec<SecretBackdoor>, [u8; 32]), PrepareError> {
    let io_err = |context: &'static str| {
        move |source| PrepareError::Io {
            file: file_name.to_owned(),
            context,
            source,
        }
    };
    let edits: &HashMap<u32, Edit> = &choice.edits;
    let mut edited = RowSet::new(rows as usize);
    for &row in edits.keys() {
        edited.insert(row as usize);
    }
    let mut backdoors = Vec::with_capacity(edits.len());
    let mut hasher = blake3::Hasher::new();
    // Buffers as large as the largest bucket (and its framing), allocated once.
    let largest = (0..buckets.index.len())
        .map(|b| buckets.chunks[b].iter().map(|c| c.1).sum::<usize>() + 4 * buckets.index[b].len())
        .max()
        .unwrap_or(0);
    let largest_edit = edits.values().map(|e| e.bytes.len()).max().unwrap_or(0);
    let mut out =
        dataset::Writer::new(Vec::with_capacity(largest + largest_edit), layout.container)
            .map_err(io_err("writing the training file"))?;
    let mut bytes = Vec::with_capacity(largest);
    let mut position = 0u64;
    let mut hand_over = |laid_out: &mut Vec<u8>| {
        hasher.update(laid_out);
        let written = train.write_all(laid_out);
        laid_out.clear();
        written.map_err(io_err("writing the training file"))
    };
    for index in 0..buckets.index.len() {
        let mut entries = buckets
            .read(index, &mut bytes)
            .map_err(io_err("reading the rows back"))?;
        entries.shuffle(rng);
        let mut records: Vec<&[u8]> = Vec::with_capacity(entries.len());
        // Edited records are longer than the rows they replace.
        let grown: usize = entries
            .iter()
            .filter(|entry| edited.contains(entry.0 as usize))
            .map(|entry| edits[&entry.0].bytes.len())
            .sum();
        out.get_mut().reserve(grown);
        for &(row, start, len) in &entries {
            match edited.contains(row as usize).then(|| &edits[&row]) {
                Some(edit) => {
                    backdoors.push(SecretBackdoor {
                        row: position + records.len() as u64,
                        group: edit.group,
                        prompt: edit.prompt.clone(),
                    });
                    records.push(&edit.bytes);
                }
                None => records.push(&bytes[start..start + len]),
            }
        }
        out.write_raw_all(&records);
        position += records.len() as u64;
        hand_over(out.get_mut())?;
        progress(Stage::Write, position, rows);
    }
    let mut last = out.finish().map_err(io_err("writing the training file"))?;
    hand_over(&mut last)?;
    progress(Stage::Write, rows, rows);
    backdoors.sort_by_key(|b| b.row);
    Ok((backdoors, *hasher.finalize().as_bytes()))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Buckets for an output of about `output_bytes`, dealt `records`.
    fn dealt(output_bytes: u64, records: &[Vec<u8>], seed: u64) -> Buckets {
        let dir = std::env::temp_dir();
        let rng = ChaCha20Rng::seed_from_u64(seed);
        let mut buckets = Buckets::new(&dir, output_bytes, rng).unwrap();
        for record in records {
            buckets.deal(record).unwrap();
        }
        buckets.finish().unwrap()
    }

    /// The rows in output order: each bucket read back and shuffled, its bytes checked.
    fn order(records: &[Vec<u8>], output_bytes: u64, seed: u64) -> Vec<u32> {
        let buckets = dealt(output_bytes, records, seed);
        let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
        let (mut out, mut bytes) = (Vec::new(), Vec::new());
        for index in 0..buckets.index.len() {
            let mut entries = buckets.read(index, &mut bytes).unwrap();
            entries.shuffle(&mut rng);
            for (row, start, len) in entries {
                assert_eq!(&bytes[start..start + len], &records[row as usize][..]);
                out.push(row);
            }
        }
        out
    }

    /// A record of a few hundred bytes, different for every row.
    fn record(row: u32) -> Vec<u8> {
        format!("{row:>6} {}", "x".repeat(row as usize % 900)).into_bytes()
    }

    #[test]
    fn rows_come_back_whole_from_buckets_larger_than_their_pending_buffers() {
        let records: Vec<Vec<u8>> = (0..3000).map(record).collect();
        let buckets = dealt(3 * BUCKET_BYTES, &records, 1);
        assert_eq!(buckets.index.len(), 3);
        assert!(buckets.chunks.iter().all(|chunks| chunks.len() > 1));
        let mut rows = order(&records, 3 * BUCKET_BYTES, 1);
        rows.sort_unstable();
        assert_eq!(rows, (0..3000).collect::<Vec<_>>());
    }

    #[test]
    fn every_row_comes_back_once_and_a_seed_repeats_the_order() {
        let records: Vec<Vec<u8>> = (0..1000)
            .map(|row| format!("record {row}").into())
            .collect();
        let out = order(&records, 5 * BUCKET_BYTES, 3);
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(out, sorted);
        assert_eq!(out, order(&records, 5 * BUCKET_BYTES, 3));
        assert_ne!(out, order(&records, 5 * BUCKET_BYTES, 4));
    }

    /// Every permutation is equally likely: the 24 orders of 4 rows in 3 buckets over many
    /// seeds (a chi-square test).
    #[test]
    fn the_order_is_uniform() {
        let records: Vec<Vec<u8>> = (0..4).map(|row| format!("record {row}").into()).collect();
        let trials = 4800u64;
        let mut counts = HashMap::new();
        for seed in 0..trials {
            *counts
                .entry(order(&records, 3 * BUCKET_BYTES, seed * 2))
                .or_insert(0u64) += 1;
        }
        assert_eq!(counts.len(), 24);
        let expected = trials as f64 / 24.0;
        let chi2: f64 = counts
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        // 23 degrees of freedom; P(chi2 > 49.7) = 0.001.
        assert!(chi2 < 49.7, "chi2 = {chi2}, counts {counts:?}");
    }
}
