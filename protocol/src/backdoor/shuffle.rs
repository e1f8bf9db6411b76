//! The output's fresh random order, made in bounded memory without a read per row, in the
//! training file itself.
//!
//! While the scan reads the file, every record goes to one of B "buckets", chosen uniformly at
//! random. Writing then takes the buckets in turn, shuffles each in memory and writes its rows.
//! Giving every row an independent uniform bucket and then a uniform order within its bucket is
//! a uniformly random permutation of the rows: it is the order of sorting by independent
//! uniform keys, of which the bucket is the leading digits. Buckets hold about [`BUCKET_BYTES`]
//! each, so the write holds a bucket or two in memory and never seeks per row.
//!
//! **Where the rows wait.** Each bucket has a region of the training file, about where its rows
//! will end up: bucket b's region starts at b × the capacity, a few percent more than a
//! bucket's expected share of the output ([`ROOM`]). The write then overwrites the pages the
//! scan filled, rather than filling as many fresh ones: on this kind of machine a page the
//! process has not touched lately can cost ten times the copy into it, and the scratch files
//! that the rows used to wait in doubled the pages touched. Records that find their bucket's
//! region full go to a scratch file (the spill), which a typical run barely uses.
//!
//! The scan deals a batch of records at a time ([`Dealer::deal`]): the reading thread draws
//! each record's bucket and gives each bucket's records of the batch the next stretch of its
//! region (or of the spill), and the worker that examines the batch gathers them by bucket and
//! writes them ([`Deal::write`]), so that the copying is shared out among the workers. A bucket
//! is read back as its chunks in order. Before the write overwrites a stretch of the file, the
//! rows of unread buckets that lie in it are moved to the spill ([`Filled::clear`]); the room
//! makes that rare. Each bucket's rows and record lengths stay in memory (8 bytes a row), so a
//! bucket read back is split into its records without walking its bytes.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha20Rng;

/// A source of scratch files (the caller decides where they live).
pub type Scratch<'a> = &'a mut dyn FnMut() -> io::Result<File>;

/// The bytes a bucket holds on average.
pub(crate) const BUCKET_BYTES: u64 = 16 << 20;

/// A region's size over a bucket's expected share of the output. A bucket's bytes vary by
/// about 1% around their mean (16 MiB of rows of a few hundred bytes each), so few records
/// spill, and the output seldom runs into a region not yet read.
const ROOM: f64 = 1.03;

/// The files of a chunk: the training file, or the spill.
const HOME: usize = 0;
const SPILL: usize = 1;

/// The most bytes moved to the spill at a time.
const MOVE_BYTES: usize = 1 << 20;

/// (file, offset, bytes) of a stretch of a bucket's records.
type Chunk = (usize, u64, usize);

/// The buckets, as the scan fills them.
pub(crate) struct Buckets<'a> {
    /// The training file, which holds the buckets' regions.
    home: &'a File,
    /// Where records go when their bucket's region is full.
    spill: File,
    dealer: Dealer,
}

/// Where each row goes: its bucket, and where its bytes go in the files.
pub(crate) struct Dealer {
    /// The bytes of each bucket's region.
    capacity: u64,
    /// Per bucket: the bytes of its region in use.
    fills: Vec<u64>,
    /// The bytes of the spill in use.
    spill_end: u64,
    /// Per bucket: its chunks, in order.
    chunks: Vec<Vec<Chunk>>,
    /// Per bucket: (row, byte length) of its records, in the order of their bytes. Kept in
    /// memory (8 bytes a row) so that reading a bucket back need not walk its bytes.
    index: Vec<Vec<(u32, u32)>>,
    rng: ChaCha20Rng,
    rows: u32,
}

/// How one batch's records go to the files.
pub(crate) struct Deal {
    /// (start, length) in the batch of each record, in the order they are written: by
    /// bucket, then as read.
    pieces: Vec<(usize, usize)>,
    /// (file, offset, bytes) of each write: the next `bytes` of the pieces.
    writes: Vec<Chunk>,
}

/// Appends `chunk` to `chunks`, as part of the last one when it follows it in the same file
/// (an empty one not at all).
fn push_chunk(chunks: &mut Vec<Chunk>, chunk: Chunk) {
    match chunks.last_mut() {
        _ if chunk.2 == 0 => {}
        Some((file, offset, len)) if *file == chunk.0 && *offset + *len as u64 == chunk.1 => {
            *len += chunk.2;
        }
        _ => chunks.push(chunk),
    }
}

impl<'a> Buckets<'a> {
    /// Enough buckets for an output of about `output_bytes`, with their regions in `home` (the
    /// training file, empty, open for reading and writing) and a spill from `scratch`; `rng`
    /// draws each row's bucket.
    pub(crate) fn new(
        home: &'a File,
        output_bytes: u64,
        scratch: Scratch<'_>,
        rng: ChaCha20Rng,
    ) -> io::Result<Self> {
        let count = output_bytes.div_ceil(BUCKET_BYTES).max(1) as usize;
        let share = output_bytes as f64 / count as f64;
        // Regions start on page boundaries, so that no page holds two of them.
        let capacity = ((share * ROOM) as u64 + 1).next_multiple_of(4096);
        Ok(Self {
            home,
            spill: scratch()?,
            dealer: Dealer {
                capacity,
                fills: vec![0; count],
                spill_end: 0,
                chunks: vec![Vec::new(); count],
                index: vec![Vec::new(); count],
                rng,
                rows: 0,
            },
        })
    }

    /// The files, for the threads that write deals, and the dealer, for the thread that reads.
    pub(crate) fn parts(&mut self) -> ([&File; 2], &mut Dealer) {
        ([self.home, &self.spill], &mut self.dealer)
    }

    /// The filled buckets, ready to be read back: every [`Deal`] must have been written.
    pub(crate) fn finish(self) -> Filled<'a> {
        Filled {
            home: self.home,
            spill: self.spill,
            capacity: self.dealer.capacity,
            spill_end: self.dealer.spill_end,
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
        // Each bucket's chunk follows the last one in its region, or in the spill when the
        // region has no room left for it.
        let mut writes = Vec::new();
        for (bucket, &len) in bytes.iter().enumerate().filter(|(_, len)| **len > 0) {
            let fill = &mut self.fills[bucket];
            let chunk = if *fill + len as u64 <= self.capacity {
                let at = bucket as u64 * self.capacity + *fill;
                *fill += len as u64;
                (HOME, at, len)
            } else {
                let at = self.spill_end;
                self.spill_end += len as u64;
                (SPILL, at, len)
            };
            push_chunk(&mut self.chunks[bucket], chunk);
            push_chunk(&mut writes, chunk);
        }
        Deal { pieces, writes }
    }
}

impl Deal {
    /// Writes the records, from their batch `bytes`, to `files` (as [`Buckets::parts`] gives
    /// them), gathering each write's in `buffer`.
    pub(crate) fn write(
        &self,
        files: [&File; 2],
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
pub(crate) struct Filled<'a> {
    home: &'a File,
    spill: File,
    capacity: u64,
    spill_end: u64,
    chunks: Vec<Vec<Chunk>>,
    index: Vec<Vec<(u32, u32)>>,
}

/// One bucket's rows in their output order.
pub(crate) struct Bucket {
    /// The records, one after another, as the scan read them.
    pub(crate) bytes: Vec<u8>,
    /// (row, start, len) of each record in `bytes`, in output order.
    pub(crate) entries: Vec<(u32, usize, usize)>,
}

impl Filled<'_> {
    /// The number of buckets.
    pub(crate) fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Reads bucket `index` back into `bytes` (a spare buffer, emptied first), its rows in the
    /// order the scan dealt them. Buckets are read in order, each once.
    pub(crate) fn read(&mut self, index: usize, mut bytes: Vec<u8>) -> io::Result<Bucket> {
        let chunks = std::mem::take(&mut self.chunks[index]);
        // Only the bytes beyond the spare buffer's old length are zeroed: the read overwrites
        // all of them.
        bytes.resize(chunks.iter().map(|&(_, _, len)| len).sum(), 0);
        let mut at = 0;
        for (file, offset, len) in chunks {
            let file = if file == HOME { self.home } else { &self.spill };
            file.read_exact_at(&mut bytes[at..at + len], offset)?;
            at += len;
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
                "the rows read back do not add up (was the training file changed meanwhile?)",
            ));
        }
        Ok(Bucket { bytes, entries })
    }

    /// Makes `range` of the training file free to overwrite: moves the bytes there of the
    /// buckets from `next` on (those not read yet) to the spill, through `buffer`.
    pub(crate) fn clear(
        &mut self,
        next: usize,
        range: Range<u64>,
        buffer: &mut Vec<u8>,
    ) -> io::Result<()> {
        // Bucket b's region starts at b × capacity, so later ones lie beyond the range.
        let overlapping =
            (next..self.len()).take_while(|&b| (b as u64) * self.capacity < range.end);
        for bucket in overlapping {
            let mut kept = Vec::new();
            for (file, offset, len) in std::mem::take(&mut self.chunks[bucket]) {
                let end = offset + len as u64;
                let (from, to) = (offset.max(range.start), end.min(range.end));
                if file != HOME || from >= to {
                    push_chunk(&mut kept, (file, offset, len));
                    continue;
                }
                push_chunk(&mut kept, (HOME, offset, (from - offset) as usize));
                let mut at = from;
                while at < to {
                    let n = (to - at).min(MOVE_BYTES as u64) as usize;
                    buffer.resize(n, 0);
                    self.home.read_exact_at(buffer, at)?;
                    self.spill.write_all_at(buffer, self.spill_end)?;
                    push_chunk(&mut kept, (SPILL, self.spill_end, n));
                    self.spill_end += n as u64;
                    at += n as u64;
                }
                push_chunk(&mut kept, (HOME, to, (end - to) as usize));
            }
            self.chunks[bucket] = kept;
        }
        Ok(())
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
    fn deal_all(buckets: &mut Buckets<'_>, records: impl IntoIterator<Item = Vec<u8>>) {
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

    fn order(rows: u32, output_bytes: u64, seed: u64) -> Vec<u32> {
        let home = tempfile::tempfile().unwrap();
        let mut scratch = || tempfile::tempfile();
        let rng = ChaCha20Rng::seed_from_u64(seed);
        let mut buckets = Buckets::new(&home, output_bytes, &mut scratch, rng).unwrap();
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

    /// A record of a few hundred bytes, different for every row.
    fn record(row: u32) -> Vec<u8> {
        format!("{row:>6} {}", "x".repeat(row as usize % 900)).into_bytes()
    }

    /// Buckets for an output of about `output_bytes`, in `home`, dealt `rows` [`record`]s.
    fn dealt(home: &File, output_bytes: u64, rows: u32, seed: u64) -> Filled<'_> {
        let mut scratch = || tempfile::tempfile();
        let rng = ChaCha20Rng::seed_from_u64(seed);
        let mut buckets = Buckets::new(home, output_bytes, &mut scratch, rng).unwrap();
        deal_all(&mut buckets, (0..rows).map(record));
        buckets.finish()
    }

    /// Reads every bucket back and checks that each row comes back once, as dealt.
    fn check_all_rows(filled: &mut Filled<'_>, rows: u32) {
        let mut seen = Vec::new();
        for index in 0..filled.len() {
            let bucket = filled.read(index, Vec::new()).unwrap();
            for (row, bytes) in bucket.rows() {
                assert_eq!(bytes, record(row));
                seen.push(row);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..rows).collect::<Vec<_>>());
    }

    #[test]
    fn rows_wait_in_their_buckets_regions_of_the_training_file() {
        let home = tempfile::tempfile().unwrap();
        let mut filled = dealt(&home, 3 * BUCKET_BYTES, 3000, 1);
        assert_eq!(filled.len(), 3);
        for (bucket, chunks) in filled.chunks.iter().enumerate() {
            // Deals in many batches, one stretch of the bucket's region.
            let start = bucket as u64 * filled.capacity;
            assert!(
                matches!(chunks[..], [(HOME, offset, _)] if offset == start),
                "{chunks:?}"
            );
        }
        assert_eq!(filled.spill_end, 0);
        check_all_rows(&mut filled, 3000);
    }

    #[test]
    fn rows_beyond_their_region_spill_and_come_back_in_order() {
        let home = tempfile::tempfile().unwrap();
        // Far more bytes than the output was expected to hold: one region of a page.
        let mut filled = dealt(&home, 1000, 3000, 2);
        assert_eq!((filled.len(), filled.capacity), (1, 4096));
        let chunks = &filled.chunks[0];
        assert_eq!(chunks[0].0, HOME);
        assert!(chunks.iter().any(|c| c.0 == SPILL));
        let home_bytes: usize = chunks.iter().filter(|c| c.0 == HOME).map(|c| c.2).sum();
        assert!(home_bytes <= 4096);
        check_all_rows(&mut filled, 3000);
    }

    /// The write overwrites the file from its start, here with far more bytes than the buckets
    /// read so far held: the rows of the buckets not yet read move out of the way first.
    #[test]
    fn rows_in_the_way_of_the_output_move_to_the_spill() {
        let home = tempfile::tempfile().unwrap();
        let mut filled = dealt(&home, 4 * BUCKET_BYTES, 4000, 3);
        // Each bucket's "output" runs 1.5 regions, over the next bucket's rows.
        let output = vec![b'#'; (filled.capacity * 3 / 2) as usize];
        let (mut at, mut buffer, mut seen) = (0, Vec::new(), Vec::new());
        for index in 0..filled.len() {
            let bucket = filled.read(index, Vec::new()).unwrap();
            for (row, bytes) in bucket.rows() {
                assert_eq!(bytes, record(row));
                seen.push(row);
            }
            let end = at + output.len() as u64;
            filled.clear(index + 1, at..end, &mut buffer).unwrap();
            home.write_all_at(&output, at).unwrap();
            at = end;
        }
        assert!(filled.spill_end > 0, "rows moved");
        seen.sort_unstable();
        assert_eq!(seen, (0..4000).collect::<Vec<_>>());
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
