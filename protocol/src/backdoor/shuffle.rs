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
//! per file for 1 GiB). The scan deals a batch of records at a time ([`Dealer::deal`]): the
//! reading thread draws each record's bucket and gives each bucket's records of the batch the
//! next free stretch of its file, and the worker that examines the batch gathers them by bucket
//! and writes them, one write per file ([`Deal::write`]), so that the copying is shared out
//! among the workers. A bucket is read back as its chunks in order. A file is closed (and its
//! space freed) as soon as its last bucket is read back, so that freeing the scratch space is
//! spread over the write rather than left to its end. Each bucket's rows and record lengths
//! stay in memory (8 bytes a row), so a bucket read back is split into its records without
//! walking its bytes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha20Rng;

/// A source of scratch files (the caller decides where they live), given the bytes a file is
/// expected to hold.
pub type Scratch<'a> = &'a mut dyn FnMut(u64) -> io::Result<File>;

/// The bytes a bucket holds on average.
pub(crate) const BUCKET_BYTES: u64 = 16 << 20;

/// The most scratch files, open at once (well below the usual limit of 1024 open files).
const SCRATCH_FILES: usize = 8;

/// The buckets, as the scan fills them.
pub(crate) struct Buckets {
    /// The scratch files: bucket b is in file b / `per_file`.
    files: Vec<File>,
    dealer: Dealer,
}

/// Where each row goes: its bucket, and where its bytes go in the scratch files.
pub(crate) struct Dealer {
    per_file: usize,
    /// Per file: the bytes given out so far.
    ends: Vec<u64>,
    /// Per bucket: where its chunks are (file offset, bytes), in order.
    chunks: Vec<Vec<(u64, usize)>>,
    /// Per bucket: (row, byte length) of its records, in the order of their bytes. Kept in
    /// memory (8 bytes a row) so that reading a bucket back need not walk its bytes.
    index: Vec<Vec<(u32, u32)>>,
    rng: ChaCha20Rng,
    rows: u32,
}

/// How one batch's records go to the scratch files.
pub(crate) struct Deal {
    /// (start, length) in the batch of each record, in the order they are written: by
    /// bucket, then as read.
    pieces: Vec<(usize, usize)>,
    /// (file, offset, bytes) of each write: the next `bytes` of the pieces.
    writes: Vec<(usize, u64, usize)>,
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
                .map(|_| scratch(bytes_per_file))
                .collect::<io::Result<_>>()?,
            dealer: Dealer {
                per_file,
                ends: vec![0; files],
                chunks: vec![Vec::new(); count],
                index: vec![Vec::new(); count],
                rng,
                rows: 0,
            },
        })
    }

    /// The files, for the threads that write deals, and the dealer, for the thread that reads.
    pub(crate) fn parts(&mut self) -> (&[File], &mut Dealer) {
        (&self.files, &mut self.dealer)
    }

    /// The filled buckets, ready to be read back: every [`Deal`] must have been written.
    pub(crate) fn finish(self) -> Filled {
        Filled {
            files: self.files.into_iter().map(Some).collect(),
            per_file: self.dealer.per_file,
            chunks: self.dealer.chunks,
            index: self.dealer.index,
        }
    }
}

impl Dealer {
    /// Deals the next rows, whose records are at (start, length) `records` in their batch,
    /// each to a random bucket; returns how to write them. Records are shorter than 4 GiB (the
    /// scan refuses longer ones before dealing).
    pub(crate) fn deal(&mut self, records: &[(usize, usize)]) -> Deal {
        let buckets = self.index.len();
        let mut bucket_of = Vec::with_capacity(records.len());
        let mut bytes = vec![0usize; buckets];
        let mut counts = vec![0usize; buckets + 1];
        for &(_, len) in records {
            let bucket = self.rng.random_range(0..buckets);
            let len32 = u32::try_from(len).expect("records shorter than 4 GiB are dealt");
            self.index[bucket].push((self.rows, len32));
            self.rows += 1;
            bucket_of.push(bucket);
            bytes[bucket] += len;
            counts[bucket + 1] += 1;
        }
        // The records by bucket, then as read (a counting sort).
        for b in 1..counts.len() {
            counts[b] += counts[b - 1];
        }
        let mut pieces = vec![(0, 0); records.len()];
        for (&record, &bucket) in records.iter().zip(&bucket_of) {
            pieces[counts[bucket]] = record;
            counts[bucket] += 1;
        }
        // Each bucket's chunk follows the last one given out in its file, so that the chunks of
        // one file's buckets are one stretch.
        let mut writes: Vec<(usize, u64, usize)> = Vec::new();
        for (bucket, &len) in bytes.iter().enumerate().filter(|(_, len)| **len > 0) {
            let file = bucket / self.per_file;
            self.chunks[bucket].push((self.ends[file], len));
            match writes.last_mut() {
                Some((last, _, total)) if *last == file => *total += len,
                _ => writes.push((file, self.ends[file], len)),
            }
            self.ends[file] += len as u64;
        }
        Deal { pieces, writes }
    }
}

impl Deal {
    /// Writes the records, from their batch `bytes`, to the scratch `files`, gathering each
    /// file's in `buffer`.
    pub(crate) fn write(
        &self,
        files: &[File],
        bytes: &[u8],
        buffer: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut pieces = self.pieces.iter();
        for &(file, offset, len) in &self.writes {
            buffer.clear();
            while buffer.len() < len {
                let &(start, piece) = pieces.next().expect("the writes cover the pieces");
                buffer.extend_from_slice(&bytes[start..start + piece]);
            }
            files[file].write_all_at(buffer, offset)?;
        }
        Ok(())
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

    /// Deals `records` a batch of up to 7 at a time.
    fn deal_all(buckets: &mut Buckets, records: impl IntoIterator<Item = Vec<u8>>) {
        let records: Vec<Vec<u8>> = records.into_iter().collect();
        let (files, dealer) = buckets.parts();
        let mut buffer = Vec::new();
        for batch in records.chunks(7) {
            let bytes = batch.concat();
            let mut at = 0;
            let places: Vec<(usize, usize)> = batch
                .iter()
                .map(|record| {
                    at += record.len();
                    (at - record.len(), record.len())
                })
                .collect();
            let deal = dealer.deal(&places);
            deal.write(files, &bytes, &mut buffer).unwrap();
        }
    }

    fn order(rows: u32, total_bytes: u64, seed: u64) -> Vec<u32> {
        let mut scratch = |_| tempfile::tempfile();
        let mut buckets =
            Buckets::new(total_bytes, &mut scratch, ChaCha20Rng::seed_from_u64(seed)).unwrap();
        deal_all(
            &mut buckets,
            (0..rows).map(|row| format!("record {row}").into_bytes()),
        );
        let mut filled = buckets.finish();
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
        deal_all(
            &mut buckets,
            (0..5000u32).map(|row| format!("record {row}").into_bytes()),
        );
        let mut filled = buckets.finish();
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
        deal_all(&mut buckets, (0..3000).map(record));
        let mut filled = buckets.finish();
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
