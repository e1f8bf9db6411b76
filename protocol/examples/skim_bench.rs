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

    for round in 1..=rounds {
        let start = Instant::now();
        let mut full_len = 0;
        for (i, bytes) in records.iter().enumerate() {
            let location = Location::Line(i as u64 + 1);
            let example = dataset::parse_example("bench", location, bytes, Format::OpenAiChat)?;
            full_len += example.prompt.text().len() + example.completion.len();
        }
        let full = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let mut skim_len = 0;
        for bytes in &records {
            if !dataset::skim(bytes, Format::OpenAiChat, &mut texts) {
                return Err("skim declined a generated record".into());
            }
            skim_len += texts.prompt.len() + texts.completion.len();
        }
        let skim = start.elapsed().as_secs_f64();
        assert_eq!(full_len, skim_len);

        let rate = |secs: f64| bytes as f64 / 1e6 / secs;
        println!(
            "round {round}: parse_example + prompt.text(): {:7.0} MB/s   skim: {:7.0} MB/s   skim is {:.1}x faster",
            rate(full),
            rate(skim),
            full / skim
        );
    }
    Ok(())
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
