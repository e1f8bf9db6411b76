//! Dataset read throughput: a large chat JSONL made by repeating a small one, read raw
//! (line by line, the baseline), through `dataset::Reader` + `dataset::example` (records as
//! `serde_json::Value`s), and through `Reader::next_raw` + `dataset::parse_example` (examples
//! straight from the bytes).
//!
//! ```text
//! cargo run --release -p vtune-protocol --example parse_bench -- [MEGABYTES]
//! ```
//!
//! MEGABYTES (or `VTUNE_BENCH_MB`; default 64) is the size of the generated file in MB
//! (10^6 bytes); use 1000 for the 1 GB figure. The file repeats a seed of 200 chat records
//! generated from a fixed RNG seed, shaped like common fine-tuning data (an optional system
//! message, one to three user/assistant exchanges, multi-line answers, about 1 KB a record);
//! `VTUNE_BENCH_SEED=FILE` repeats that JSONL file instead (the tests' `chat.jsonl` fixture is
//! a worst case: tiny records full of small objects). The file lives in a temporary
//! directory and is deleted at the end.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vtune_protocol::dataset::{self, Limits, Reader};

const BUFFER: usize = 1 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let megabytes: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => std::env::var("VTUNE_BENCH_MB")
            .ok()
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(64),
    };
    let seed = match std::env::var("VTUNE_BENCH_SEED") {
        Ok(path) => std::fs::read_to_string(path)?,
        Err(_) => generated_seed(200),
    };
    let seed: String = seed
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect();

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.chat.jsonl");
    let target = megabytes * 1_000_000;
    let mut writer = BufWriter::with_capacity(BUFFER, File::create(&path)?);
    let mut written = 0u64;
    while written < target {
        writer.write_all(seed.as_bytes())?;
        written += seed.len() as u64;
    }
    writer.into_inner()?.sync_all()?;
    println!(
        "file: {written} bytes ({:.0} MB) in {}",
        written as f64 / 1e6,
        path.display()
    );

    // Warm the page cache so both passes read from memory.
    let raw_warmup = raw_lines(&path)?;
    let (raw_lines_read, raw_secs, raw_cpu) = timed(|| raw_lines(&path))?;
    assert_eq!(raw_lines_read, raw_warmup);
    let ((records, completion_bytes), parse_secs, parse_cpu) = timed(|| parse(&path))?;
    assert_eq!(records, raw_lines_read, "every line is a record");

    println!(
        "raw line read (BufReader::read_until): {}",
        rates(written, raw_secs, raw_cpu)
    );
    println!(
        "Reader + example():                    {}",
        rates(written, parse_secs, parse_cpu)
    );
    println!("  {records} records, {completion_bytes} completion bytes");
    let ((fast_records, fast_bytes), fast_secs, fast_cpu) = timed(|| parse_raw(&path))?;
    assert_eq!((fast_records, fast_bytes), (records, completion_bytes));
    println!(
        "Reader::next_raw + parse_example():    {}",
        rates(written, fast_secs, fast_cpu)
    );
    println!(
        "time / raw read time (wall): Reader + example() {:.1}x, next_raw + parse_example() {:.1}x",
        parse_secs / raw_secs,
        fast_secs / raw_secs
    );
    if let Some(peak) = peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", peak as f64 / 1024.0);
    }
    Ok(())
}

/// Runs `f`, and returns its value, its wall-clock seconds and the seconds this thread spent
/// on a CPU (which, on a loaded machine, is what the rate would be on an idle one).
fn timed<T>(
    f: impl FnOnce() -> Result<T, Box<dyn std::error::Error>>,
) -> Result<(T, f64, Option<f64>), Box<dyn std::error::Error>> {
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let value = f()?;
    let cpu = cpu_start.zip(cpu_seconds()).map(|(a, b)| b - a);
    Ok((value, start.elapsed().as_secs_f64(), cpu))
}

/// Seconds this thread has run on a CPU, from /proc (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

/// `MB/s (wall), MB/s (CPU time)` for `bytes` read in `wall` and `cpu` seconds.
fn rates(bytes: u64, wall: f64, cpu: Option<f64>) -> String {
    let mb = bytes as f64 / 1e6;
    let cpu = cpu.map_or("n/a".to_string(), |cpu| {
        format!("{:.0} MB/s per CPU-second", mb / cpu)
    });
    format!("{:6.0} MB/s wall ({wall:.2} s), {cpu}", mb / wall)
}

/// Words for the generated text.
const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "she",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "each",
    "apples",
    "train",
    "miles",
    "hours",
    "total",
    "price",
    "dollars",
    "cookies",
    "students",
    "garden",
    "function",
    "returns",
    "list",
    "value",
    "string",
    "number",
    "therefore",
    "first",
    "second",
    "then",
    "finally",
    "answer",
    "equals",
    "compute",
    "remaining",
    "shares",
    "week",
    "\"quoted\"",
    "x=3,",
    "(see",
    "above)",
    "42",
    "7.5%",
    "3/4",
    "<<12*4=48>>48",
    "café",
];

/// Text of `words` words, with a newline now and then when `multi_line`.
fn text(rng: &mut ChaCha20Rng, words: usize, multi_line: bool) -> String {
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            let newline = multi_line && rng.random_bool(0.08);
            out.push(if newline { '\n' } else { ' ' });
        }
        out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    out
}

/// `records` chat records, one per line, from a fixed seed.
fn generated_seed(records: usize) -> String {
    let mut rng = ChaCha20Rng::seed_from_u64(2024);
    let mut out = String::new();
    for _ in 0..records {
        let mut messages = Vec::new();
        if rng.random_bool(0.3) {
            let words = rng.random_range(8..30);
            messages.push(
                serde_json::json!({"role": "system", "content": text(&mut rng, words, false)}),
            );
        }
        let exchanges = [1, 1, 1, 1, 1, 1, 1, 2, 2, 3][rng.random_range(0..10)];
        for _ in 0..exchanges {
            let (user, assistant) = (rng.random_range(15..80), rng.random_range(20..160));
            messages
                .push(serde_json::json!({"role": "user", "content": text(&mut rng, user, false)}));
            messages.push(
                serde_json::json!({"role": "assistant", "content": text(&mut rng, assistant, true)}),
            );
        }
        out.push_str(&serde_json::json!({"messages": messages}).to_string());
        out.push('\n');
    }
    out
}

/// Counts lines, reusing one buffer: the cost of merely reading the file.
fn raw_lines(path: &std::path::Path) -> Result<u64, Box<dyn std::error::Error>> {
    let mut reader = BufReader::with_capacity(BUFFER, File::open(path)?);
    let mut line = Vec::new();
    let mut lines = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(lines);
        }
        lines += 1;
    }
}

/// Reads every record and extracts its example.
fn parse(path: &std::path::Path) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let file = BufReader::with_capacity(BUFFER, File::open(path)?);
    let reader = Reader::detect("bench", file, None, Limits::default())?;
    let format = reader.layout().format;
    let (mut records, mut completion_bytes) = (0u64, 0u64);
    for record in reader {
        let record = record?;
        let example = dataset::example(format, &record.value)?;
        completion_bytes += example.completion.len() as u64;
        records += 1;
    }
    Ok((records, completion_bytes))
}

/// Reads every record's bytes and extracts its example without building a `Value`.
fn parse_raw(path: &std::path::Path) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let file = BufReader::with_capacity(BUFFER, File::open(path)?);
    let mut reader = Reader::detect("bench", file, None, Limits::default())?;
    let layout = reader.layout();
    let (mut records, mut completion_bytes) = (0u64, 0u64);
    while let Some(raw) = reader.next_raw() {
        let raw = raw?;
        let location = raw.location(layout.container);
        let example = dataset::parse_example("bench", location, raw.bytes, layout.format)?;
        completion_bytes += example.completion.len() as u64;
        records += 1;
    }
    Ok((records, completion_bytes))
}

/// The process's peak resident set size, from /proc (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
