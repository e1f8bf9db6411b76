//! Near-duplicate search: row pairs where one prompt is a prefix of another, or one completion a
//! suffix of another (a prefix of the byte-reversed completion).
//!
//! Texts are sorted; in sorted order every string that is a prefix of `s` sits on a chain of
//! nested prefixes just before `s`, so one pass counts all pairs in O(n log n) time. The sort is
//! external past a memory budget: sorted runs go to scratch files supplied by the caller, then
//! are merged, so memory stays bounded whatever the input size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use super::RowSet;

/// Text kinds, sorted separately.
pub(crate) const PROMPT: u8 = 0;
/// Byte-reversed completions.
pub(crate) const REVERSED_COMPLETION: u8 = 1;

/// A source of scratch files for the external sort (the caller decides where they live).
pub type Scratch<'a> = &'a mut dyn FnMut() -> io::Result<File>;

#[derive(Clone, Copy)]
struct Entry {
    tag: u8,
    row: u32,
    start: usize,
    len: u32,
}

/// Sorts (tag, row, bytes) entries within a memory budget.
pub(crate) struct TextSorter<'a> {
    budget: usize,
    arena: Vec<u8>,
    entries: Vec<Entry>,
    runs: Vec<File>,
    scratch: Scratch<'a>,
}

impl<'a> TextSorter<'a> {
    /// A sorter that spills a sorted run once `budget` bytes of text are held.
    pub(crate) fn new(budget: usize, scratch: Scratch<'a>) -> Self {
        Self {
            budget,
            arena: Vec::new(),
            entries: Vec::new(),
            runs: Vec::new(),
            scratch,
        }
    }

    /// Adds one text; `reversed` stores its bytes back to front.
    pub(crate) fn push(
        &mut self,
        tag: u8,
        row: u32,
        text: &[u8],
        reversed: bool,
    ) -> io::Result<()> {
        let start = self.arena.len();
        if reversed {
            self.arena.extend(text.iter().rev());
        } else {
            self.arena.extend_from_slice(text);
        }
        self.entries.push(Entry {
            tag,
            row,
            start,
            len: text.len() as u32,
        });
        if self.arena.len() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn sort_chunk(&mut self) {
        let arena = &self.arena;
        let bytes = |e: &Entry| &arena[e.start..e.start + e.len as usize];
        self.entries
            .sort_unstable_by(|a, b| (a.tag, bytes(a), a.row).cmp(&(b.tag, bytes(b), b.row)));
    }

    fn spill(&mut self) -> io::Result<()> {
        self.sort_chunk();
        let mut file = BufWriter::with_capacity(1 << 16, (self.scratch)()?);
        for e in &self.entries {
            file.write_all(&[e.tag])?;
            file.write_all(&e.row.to_le_bytes())?;
            file.write_all(&e.len.to_le_bytes())?;
            file.write_all(&self.arena[e.start..e.start + e.len as usize])?;
        }
        let mut file = file.into_inner().map_err(|err| err.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        self.runs.push(file);
        self.arena.clear();
        self.entries.clear();
        Ok(())
    }

    /// Calls `visit(tag, row, bytes)` for every entry in sorted order (by tag, bytes, row).
    pub(crate) fn finish(mut self, mut visit: impl FnMut(u8, u32, &[u8])) -> io::Result<()> {
        if self.runs.is_empty() {
            self.sort_chunk();
            for e in &self.entries {
                visit(e.tag, e.row, &self.arena[e.start..e.start + e.len as usize]);
            }
            return Ok(());
        }
        if !self.entries.is_empty() {
            self.spill()?;
        }
        self.arena = Vec::new();
        self.entries = Vec::new();
        let mut readers: Vec<BufReader<File>> = self
            .runs
            .drain(..)
            .map(|f| BufReader::with_capacity(1 << 16, f))
            .collect();
        let mut heap = BinaryHeap::new();
        for (run, reader) in readers.iter_mut().enumerate() {
            if let Some(head) = read_entry(reader, Vec::new())? {
                heap.push(Reverse((head.0, head.2, head.1, run)));
            }
        }
        while let Some(Reverse((tag, bytes, row, run))) = heap.pop() {
            visit(tag, row, &bytes);
            if let Some(head) = read_entry(&mut readers[run], bytes)? {
                heap.push(Reverse((head.0, head.2, head.1, run)));
            }
        }
        Ok(())
    }
}

/// Reads one run entry into `buf` (reused), or `None` at the end of the run.
fn read_entry(reader: &mut impl Read, mut buf: Vec<u8>) -> io::Result<Option<(u8, u32, Vec<u8>)>> {
    let mut header = [0u8; 9];
    match reader.read_exact(&mut header) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let row = u32::from_le_bytes(header[1..5].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(header[5..9].try_into().expect("4 bytes")) as usize;
    buf.clear();
    buf.resize(len, 0);
    reader.read_exact(&mut buf)?;
    Ok(Some((header[0], row, buf)))
}

/// Counts prefix pairs over texts given in sorted order, one tag at a time, and marks the rows
/// that take part in any pair.
pub(crate) struct PrefixPairs {
    tag: Option<u8>,
    /// Pairs found, per tag.
    pub(crate) pairs: [u64; 2],
    /// (length, row) of the nested prefixes of `top`, shortest first.
    chain: Vec<(usize, u32)>,
    /// `chain[..marked]` rows are already marked as involved.
    marked: usize,
    top: Vec<u8>,
}

impl PrefixPairs {
    pub(crate) fn new() -> Self {
        Self {
            tag: None,
            pairs: [0; 2],
            chain: Vec::new(),
            marked: 0,
            top: Vec::new(),
        }
    }

    /// Takes the next text in sorted order.
    pub(crate) fn push(&mut self, tag: u8, row: u32, text: &[u8], involved: &mut RowSet) {
        if self.tag != Some(tag) {
            self.tag = Some(tag);
            self.chain.clear();
            self.marked = 0;
        }
        while let Some(&(len, _)) = self.chain.last() {
            if len <= text.len() && self.top[..len] == text[..len] {
                break;
            }
            self.chain.pop();
        }
        self.marked = self.marked.min(self.chain.len());
        if !self.chain.is_empty() {
            self.pairs[tag as usize] += self.chain.len() as u64;
            for &(_, earlier) in &self.chain[self.marked..] {
                involved.insert(earlier as usize);
            }
            self.marked = self.chain.len();
            involved.insert(row as usize);
        }
        self.chain.push((text.len(), row));
        self.top.clear();
        self.top.extend_from_slice(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(texts: &[&str]) -> u64 {
        let mut pairs = 0;
        for i in 0..texts.len() {
            for j in i + 1..texts.len() {
                if texts[i].starts_with(texts[j]) || texts[j].starts_with(texts[i]) {
                    pairs += 1;
                }
            }
        }
        pairs
    }

    fn count(texts: &[&str], budget: usize) -> (u64, RowSet, usize) {
        let files = std::cell::Cell::new(0usize);
        let mut scratch = || {
            files.set(files.get() + 1);
            tempfile::tempfile()
        };
        let mut sorter = TextSorter::new(budget, &mut scratch);
        for (row, text) in texts.iter().enumerate() {
            sorter
                .push(PROMPT, row as u32, text.as_bytes(), false)
                .unwrap();
        }
        let mut counter = PrefixPairs::new();
        let mut involved = RowSet::new(texts.len());
        sorter
            .finish(|tag, row, bytes| counter.push(tag, row, bytes, &mut involved))
            .unwrap();
        (counter.pairs[0], involved, files.get())
    }

    #[test]
    fn matches_brute_force_in_memory_and_external() {
        let texts = [
            "what is 2+2",
            "what is 2+2?",
            "what",
            "who",
            "what is 2+2",
            "b",
            "ba",
            "bab",
            "c",
            "",
            "zz",
            "what is 3",
        ];
        let expected = brute(&texts);
        for budget in [1 << 20, 8, 1] {
            let (pairs, involved, files) = count(&texts, budget);
            assert_eq!(pairs, expected, "budget {budget}");
            assert_eq!(files > 0, budget < 100, "budget {budget}");
            // Involved: everything but "who", "c", "zz" and "what is 3" (whose prefix "what"
            // and "" make it involved too), i.e. all but "who", "c", "zz" ... and "" is a
            // prefix of everything.
            for (row, text) in texts.iter().enumerate() {
                let partner = texts
                    .iter()
                    .enumerate()
                    .any(|(o, t)| o != row && (t.starts_with(text) || text.starts_with(t)));
                assert_eq!(involved.contains(row), partner, "row {row} {text:?}");
            }
        }
    }

    #[test]
    fn no_pairs_in_distinct_unrelated_texts() {
        let texts = ["apple pie", "banana split", "cherry tart", "apple crumble"];
        let (pairs, involved, _) = count(&texts, 1 << 20);
        assert_eq!(pairs, 0);
        assert!((0..4).all(|r| !involved.contains(r)));
    }

    #[test]
    fn many_duplicates_count_every_pair() {
        let texts = vec!["same"; 50];
        let (pairs, _, _) = count(&texts, 16);
        assert_eq!(pairs, 50 * 49 / 2);
    }
}
