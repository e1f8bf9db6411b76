//! The output's fresh random order, made in bounded memory without a read per row.
//!
//! While the scan reads the file, every record goes to one of B "buckets", chosen uniformly at
//! random. Writing then takes the buckets in turn, shuffles each in memory and writes its rows.
//! Giving every row an independent uniform bucket and then a uniform order within its bucket is
//! a uniformly random permutation of the rows: it is the order of sorting by independent
//! uniform keys, of which the bucket is the leading digits. Buckets hold about [`BUCKET_BYTES`]
//! each, so the write holds a bucket or two in memory and never seeks per row.
//!
//! The buckets share at most [`SCRATCH_FILES`] scratch files, in runs of consecutive buckets (8
//! per file for 1 GiB): each bucket fills a buffer of [`CHUNK_BYTES`] in memory and appends it to
//! its file when full, remembering where. A file is written once, front to back, in large
//! writes, and a bucket is read back as its chunks in order. A file is closed (and its space
//! freed) as soon as its last bucket is read back, so that freeing the scratch space is spread
//! over the write rather than left to its end. Each bucket's rows and record lengths stay in
//! memory (8 bytes a row), so a bucket read back is split into its records without walking its
//! bytes.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha20Rng;

/// A source of scratch files (the caller decides where they live), given the bytes a file is
/// expected to hold.
pub type Scratch<'a> = &'a mut dyn FnMut(u64) -> io::Result<File>;

/// The bytes a bucket holds on average.
pub(crate) const BUCKET_BYTES: u64 = 16 << 20;

/// The bytes of a bucket gathered in memory before they go to the scratch file.
const CHUNK_BYTES: usize = 128 << 10;

/// The most scratch files, open at once (well below the usual limit of 1024 open files).
const SCRATCH_FILES: usize = 8;

/// The buckets, as the scan fills them.
pub(crate) struct Buckets {
    /// The scratch files (bucket b is in file b / `per_file`) and their ends.
    files: Vec<(File, u64)>,
    per_file: usize,
    /// Per bucket: the bytes not yet written, and where its written chunks are.
    pending: Vec<Vec<u8>>,
    chunks: Vec<Vec<(u64, usize)>>,
    /// Per bucket: (row, byte length) of its records, in the order of their bytes. Kept in
    /// memory (8 bytes a row) so that reading a bucket back need not walk its bytes.
    index: Vec<Vec<(u32, u32)>>,
    rng: ChaCha20Rng,
    rows: u32,
}

impl Buckets {
    /// Enough buckets for `total_bytes` of records, in files from `scratch`; `rng` draws each
    /// row's bucket.
    pub(crate) fn new(
        total_bytes: u64,
        scratch: Scratch<'_>,
        rng: ChaCha20Rng,
    ) -> io::Result<Self> {
        let count = total_bytes.div_ceil(BUCKET_BYTES).max(1) as usize;
        let per_file = count.div_ceil(SCRATCH_FILES);
        let files = count.div_ceil(per_file);
        let bytes_per_file = total_bytes.div_ceil(files as u64);
        Ok(Self {
            files: (0..files)
                .map(|_| scratch(bytes_per_file).map(|file| (file, 0)))
                .collect::<io::Result<_>>()?,
            per_file,
            pending: vec![Vec::new(); count],
            chunks: vec![Vec::new(); count],
            index: vec![Vec::new(); count],
            rng,
            rows: 0,
        })
    }

    /// Adds the next row's record to a random bucket.
    pub(crate) fn push(&mut self, record: &[u8]) -> io::Result<()> {
        let bucket = self.rng.random_range(0..self.pending.len());
        let len = u32::try_from(record.len()).map_err(io::Error::other)?;
        let pending = &mut self.pending[bucket];
        if pending.capacity() == 0 {
            pending.reserve_exact(CHUNK_BYTES + record.len());
        }
        pending.extend_from_slice(record);
        self.index[bucket].push((self.rows, len));
        self.rows += 1;
        if pending.len() >= CHUNK_BYTES {
            self.write_chunk(bucket)?;
        }
        Ok(())
    }

    /// Appends bucket `bucket`'s pending bytes to the file.
    fn write_chunk(&mut self, bucket: usize) -> io::Result<()> {
        let pending = &mut self.pending[bucket];
        if pending.is_empty() {
            return Ok(());
        }
        let (file, end) = &mut self.files[bucket / self.per_file];
        file.write_all(pending)?;
        self.chunks[bucket].push((*end, pending.len()));
        *end += pending.len() as u64;
        pending.clear();
        Ok(())
    }

    /// The filled buckets, ready to be read back.
    pub(crate) fn finish(mut self) -> io::Result<Filled> {
        for bucket in 0..self.pending.len() {
            self.write_chunk(bucket)?;
        }
        Ok(Filled {
            files: self.files.into_iter().map(|(file, _)| Some(file)).collect(),
            per_file: self.per_file,
            chunks: self.chunks,
            index: self.index,
        })
    }
}

/// Buckets holding every row once.
pub(crate) struct Filled {
    /// The scratch files; None once all their buckets are read.
    files: Vec<Option<File>>,
    /// Buckets per file.
    per_file: usize,
    chunks: Vec<Vec<(u64, usize)>>,
    index: Vec<Vec<(u32, u32)>>,
}

/// One bucket's rows in their output order.
pub(crate) struct Bucket {
    /// The records, one after another, as the scan read them.
    pub(crate) bytes: Vec<u8>,
    /// (row, start, len) of each record in `bytes`, in output order.
    pub(crate) entries: Vec<(u32, usize, usize)>,
}

impl Filled {
    /// The number of buckets.
    pub(crate) fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Reads bucket `index` back into `bytes` (a spare buffer, emptied first), its rows in the
    /// order the scan dealt them. Buckets are read in order, each once: the file of the last
    /// bucket of a file is closed.
    pub(crate) fn read(&mut self, index: usize, mut bytes: Vec<u8>) -> io::Result<Bucket> {
        let chunks = &self.chunks[index];
        // Only the bytes beyond the spare buffer's old length are zeroed: the read overwrites
        // all of them.
        bytes.resize(chunks.iter().map(|&(_, len)| len).sum(), 0);
        let slot = &mut self.files[index / self.per_file];
        let file = slot.as_ref().ok_or_else(|| {
            io::Error::other("a bucket was read after its scratch file was closed")
        })?;
        let mut at = 0;
        for &(offset, len) in chunks {
            file.read_exact_at(&mut bytes[at..at + len], offset)?;
            at += len;
        }
        if (index + 1).is_multiple_of(self.per_file) || index + 1 == self.chunks.len() {
            *slot = None;
        }
        let rows = std::mem::take(&mut self.index[index]);
        let mut entries = Vec::with_capacity(rows.len());
        let mut at = 0;
        for (row, len) in rows {
            entries.push((row, at, len as usize));
            at += len as usize;
        }
        if at != bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the scratch file is corrupt",
            ));
        }
        Ok(Bucket { bytes, entries })
    }
}

impl Bucket {
    /// Puts the bucket's rows in a uniformly random order.
    pub(crate) fn shuffle<G: Rng + ?Sized>(&mut self, rng: &mut G) {
        self.entries.shuffle(rng);
    }
}

#[cfg(test)]
impl Bucket {
    /// The rows and their records, in output order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.entries
            .iter()
            .map(|&(row, start, len)| (row, &self.bytes[start..start + len]))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn order(rows: u32, total_bytes: u64, seed: u64) -> Vec<u32> {
        let mut scratch = |_| tempfile::tempfile();
        let mut buckets =
            Buckets::new(total_bytes, &mut scratch, ChaCha20Rng::seed_from_u64(seed)).unwrap();
        for row in 0..rows {
            buckets.push(format!("record {row}").as_bytes()).unwrap();
        }
        let mut filled = buckets.finish().unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed + 1);
        let mut out = Vec::new();
        for index in 0..filled.len() {
            let mut bucket = filled.read(index, Vec::new()).unwrap();
            bucket.shuffle(&mut rng);
            for (row, bytes) in bucket.rows() {
                assert_eq!(bytes, format!("record {row}").as_bytes());
                out.push(row);
            }
        }
        out
    }

    #[test]
    fn many_buckets_share_a_few_scratch_files() {
        let mut files = 0;
        let mut scratch = |_| {
            files += 1;
            tempfile::tempfile()
        };
        let total = 1000 * BUCKET_BYTES;
        let mut buckets = Buckets::new(total, &mut scratch, ChaCha20Rng::seed_from_u64(1)).unwrap();
        for row in 0..5000u32 {
            buckets.push(format!("record {row}").as_bytes()).unwrap();
        }
        let mut filled = buckets.finish().unwrap();
        assert_eq!(files, SCRATCH_FILES);
        let mut seen = Vec::new();
        for index in 0..filled.len() {
            let bucket = filled.read(index, Vec::new()).unwrap();
            seen.extend(bucket.rows().map(|(row, bytes)| {
                assert_eq!(bytes, format!("record {row}").as_bytes());
                row
            }));
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..5000).collect::<Vec<_>>());
        assert!(
            filled.files.iter().all(Option::is_none),
            "every file is closed"
        );
    }

    #[test]
    fn every_row_comes_back_once_and_a_seed_repeats_the_order() {
        let out = order(1000, 5 * BUCKET_BYTES, 3);
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(out, sorted);
        assert_eq!(out, order(1000, 5 * BUCKET_BYTES, 3));
        assert_ne!(out, order(1000, 5 * BUCKET_BYTES, 4));
    }

    #[test]
    fn buckets_larger_than_a_chunk_come_back_whole() {
        let mut scratch = |_| tempfile::tempfile();
        let record = |row: u32| format!("{row:>6} {}", "x".repeat(row as usize % 900)).into_bytes();
        let mut buckets = Buckets::new(
            2 * BUCKET_BYTES,
            &mut scratch,
            ChaCha20Rng::seed_from_u64(1),
        )
        .unwrap();
        for row in 0..3000 {
            buckets.push(&record(row)).unwrap();
        }
        let mut filled = buckets.finish().unwrap();
        assert!(filled.chunks.iter().all(|chunks| chunks.len() > 1));
        let mut seen = Vec::new();
        for index in 0..filled.len() {
            let bucket = filled.read(index, Vec::new()).unwrap();
            for (row, bytes) in bucket.rows() {
                assert_eq!(bytes, record(row));
                seen.push(row);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..3000).collect::<Vec<_>>());
    }

    /// Every permutation is equally likely: the 24 orders of 4 rows in 3 buckets over many
    /// seeds (a chi-square test).
    #[test]
    fn the_order_is_uniform() {
        let trials = 4800u64;
        let mut counts = std::collections::HashMap::new();
        for seed in 0..trials {
            *counts
                .entry(order(4, 3 * BUCKET_BYTES, seed * 2))
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
