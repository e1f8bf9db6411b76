//! Per-record text extraction speed: `dataset::parse_example` + `Prompt::text` (the full
//! example, a `String` per turn) against `dataset::skim` (the two texts into reused buffers),
//! over about 200 MB of GSM8K-like chat JSONL records built in memory.
//!
//! ```text
//! cargo run --release -p vtune-protocol --example skim_bench -- [MEGABYTES] [ROUNDS]
//! ```
//!
//! Each record is a user question of about 250 bytes and an assistant answer of about 300
//! bytes over a few lines (`\n` escapes), ending in `#### <number>`, with an occasional
//! `\u00e9`. Both paths read the same records, single-threaded, from memory; MB/s counts the
//! records' bytes.

use std::time::Instant;

use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vtune_protocol::dataset::{self, Format, Location, Texts};

const WORDS: [&str; 24] = [
    "Natalia",
    "sold",
    "clips",
    "to",
    "48",
    "of",
    "her",
    "friends",
    "in",
    "April",
    "and",
    "then",
    "she",
    "half",
    "as",
    "many",
    "May",
    "how",
    "altogether",
    "did",
    "caf\\u00e9",
    "each",
    "week",
    "dollars",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let megabytes: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);

    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut data = Vec::with_capacity(megabytes * 1_000_000 + 4096);
    let mut spans = Vec::new();
    while data.len() < megabytes * 1_000_000 {
        let start = data.len();
        record(&mut rng, &mut data);
        spans.push((start, data.len()));
        data.push(b'\n');
    }
    let records: Vec<&[u8]> = spans.iter().map(|&(a, b)| &data[a..b]).collect();
    let bytes: usize = records.iter().map(|r| r.len()).sum();
    println!(
        "{} records, {:.0} MB, {:.0} bytes a record",
        records.len(),
        bytes as f64 / 1e6,
        bytes as f64 / records.len() as f64
    );

    // Both paths give the same texts (checked before timing).
    let mut texts = Texts::new();
    for bytes in records.iter().step_by(97) {
        let example =
            dataset::parse_example("bench", Location::Line(1), bytes, Format::OpenAiChat)?;
        assert!(dataset::skim(bytes, Format::OpenAiChat, &mut texts));
        assert_eq!(example.prompt.text(), texts.prompt);
        assert_eq!(example.completion, texts.completion);
    }

    let mb = bytes as f64 / 1e6;
    let (mut best_full, mut best_skim) = (f64::MAX, f64::MAX);
    for round in 1..=rounds {
        let (full_len, full) = timed(|| -> Result<usize, dataset::DatasetError> {
            let mut len = 0;
            for (i, bytes) in records.iter().enumerate() {
                let location = Location::Line(i as u64 + 1);
                let example = dataset::parse_example("bench", location, bytes, Format::OpenAiChat)?;
                len += example.prompt.text().len() + example.completion.len();
            }
            Ok(len)
        });
        let (skim_len, skim) = timed(|| {
            let mut len = 0;
            for bytes in &records {
                if !dataset::skim(bytes, Format::OpenAiChat, &mut texts) {
                    return Err("skim declined a generated record");
                }
                len += texts.prompt.len() + texts.completion.len();
            }
            Ok(len)
        });
        assert_eq!(full_len?, skim_len?);
        println!(
            "round {round}: parse_example + prompt.text() {:5.0} MB/s wall, {:5.0} MB/s CPU; \
             skim {:5.0} MB/s wall, {:5.0} MB/s CPU; skim {:.1}x faster (CPU time)",
            mb / full.wall,
            mb / full.cpu,
            mb / skim.wall,
            mb / skim.cpu,
            full.cpu / skim.cpu
        );
        best_full = best_full.min(full.cpu);
        best_skim = best_skim.min(skim.cpu);
    }
    println!(
        "best of {rounds} rounds (CPU time): parse_example + prompt.text() {:.0} MB/s, skim {:.0} MB/s, skim {:.1}x faster",
        mb / best_full,
        mb / best_skim,
        best_full / best_skim
    );
    Ok(())
}

/// Wall and CPU seconds of one run.
struct Times {
    wall: f64,
    cpu: f64,
}

/// Runs `work`, timing it in wall-clock time and in this thread's CPU time (the machine may
/// be shared; CPU time is the steadier figure).
fn timed<T>(work: impl FnOnce() -> T) -> (T, Times) {
    let (start, cpu_start) = (Instant::now(), thread_cpu_seconds());
    let value = work();
    let wall = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu_start;
    (
        value,
        Times {
            wall,
            cpu: if cpu > 0.0 { cpu } else { wall },
        },
    )
}

/// This thread's CPU time in seconds, from Linux's schedstat (0 elsewhere: wall time is used).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |nanos| nanos as f64 / 1e9)
}

/// Appends one record: a question of about 250 bytes, an answer of about 300 over a few lines.
fn record(rng: &mut ChaCha20Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"messages": [{"role": "user", "content": ""#);
    sentence(rng, out, 250);
    out.push(b'?');
    out.extend_from_slice(br#""}, {"role": "assistant", "content": ""#);
    for line in 0..4 {
        if line > 0 {
            out.extend_from_slice(b"\\n");
        }
        sentence(rng, out, 65);
        out.push(b'.');
    }
    let answer: u32 = rng.random_range(1..10_000);
    out.extend_from_slice(format!("\\n#### {answer}").as_bytes());
    out.extend_from_slice(br#""}]}"#);
}

/// Appends random words until about `len` bytes are written.
fn sentence(rng: &mut ChaCha20Rng, out: &mut Vec<u8>, len: usize) {
    let start = out.len();
    while out.len() - start < len {
        if out.len() > start {
            out.push(b' ');
        }
        out.extend_from_slice(WORDS.choose(rng).unwrap().as_bytes());
    }
}
