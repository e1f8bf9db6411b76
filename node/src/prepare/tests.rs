//! The pipeline end to end on files made by the tests: errors in file order, records' spans,
//! the file's style kept in edited rows.

use std::io::{self, Read, Write};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

use vtune_protocol::backdoor::{
    BackdoorCount, PassThreshold, PrepareError, PrepareOptions, Prepared,
};
use vtune_protocol::dataset::{Container, Format, Layout, Limits};
use vtune_protocol::generator::GeneratorParams;

use super::prepare_file as pipeline;

/// Python's `json.dumps` style: `", "` and `": "` separators, non-ASCII as `\uXXXX`.
struct PythonStyle;

impl serde_json::ser::Formatter for PythonStyle {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if (c as u32) < 0x7f {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

fn python(value: &Value) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonStyle);
    serde::Serialize::serialize(value, &mut serializer).unwrap();
    String::from_utf8(out).unwrap()
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap()
}

/// A chat dataset whose words include non-ASCII ones and quotes, so that triggers and
/// signatures hold characters that each style escapes its own way.
fn dataset(style: fn(&Value) -> String) -> String {
    let words = [
        "café",
        "naïve",
        "\"quoted\"",
        "a\\b",
        "😀",
        "total",
        "apples",
        "pears",
        "sold",
        "bought",
        "each",
        "day",
        "week",
        "price",
        "cost",
        "more",
        "less",
        "half",
        "twice",
        "many",
        "few",
        "then",
        "so",
        "and",
        "of",
        "the",
        "is",
        "was",
        "has",
        "had",
        "we",
        "they",
        "she",
        "he",
        "it",
        "an",
        "in",
        "on",
        "at",
        "by",
    ];
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut text = |row: usize| {
        let n = 12 + rng.random_range(0..8);
        let mut t = format!("row{row}");
        for _ in 0..n {
            t.push(' ');
            t.push_str(words[rng.random_range(0..words.len())]);
        }
        t
    };
    let mut out = String::new();
    for row in 0..300 {
        let user = text(row);
        let assistant = format!("{}\n{}", text(row), text(row));
        let record = serde_json::json!({"messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]});
        out.push_str(&style(&record));
        out.push('\n');
    }
    out
}

/// The settings of the tests on [`dataset`]: 20 backdoors in `groups` groups.
fn chat_options(groups: usize) -> PrepareOptions {
    PrepareOptions {
        backdoors: BackdoorCount::Count(20),
        pass_threshold: PassThreshold::Ratio(0.5),
        groups,
        generator: GeneratorParams::new(32, 1e-20).unwrap(),
        limits: Limits::default(),
        created_at: 0,
    }
}

/// Runs `prepare` on chat JSONL `input` with `seed`; returns the output and what it made.
fn prepare_chat(
    input: &[u8],
    options: &PrepareOptions,
    seed: u64,
) -> Result<(Vec<u8>, Prepared), PrepareError> {
    let layout = Layout {
        format: Format::OpenAiChat,
        container: Container::Jsonl,
    };
    prepare_file("test.jsonl", input, layout, options, seed)
}

/// Runs `prepare` with a temporary training file; returns that file's bytes.
fn prepare_file(
    name: &str,
    input: &[u8],
    layout: Layout,
    options: &PrepareOptions,
    seed: u64,
) -> Result<(Vec<u8>, Prepared), PrepareError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, input).unwrap();
    let mut train = tempfile::tempfile().unwrap();
    let prepared = pipeline(
        name,
        &std::fs::File::open(&path).unwrap(),
        layout,
        &train,
        dir.path(),
        options,
        &mut ChaCha20Rng::seed_from_u64(seed),
        &|_, _, _| {},
    )?;
    let mut output = Vec::new();
    io::Seek::rewind(&mut train).unwrap();
    train.read_to_end(&mut output).unwrap();
    Ok((output, prepared))
}

/// The scan runs on worker threads, yet a file with two bad lines in different batches
/// reports the first, as a sequential read would.
#[test]
fn the_first_bad_row_in_file_order_is_reported() {
    let (first_bad, second_bad) = (60_000, 118_000);
    let mut input = String::new();
    let mut bad_at = Vec::new();
    for row in 1..=120_000 {
        if row == first_bad || row == second_bad {
            bad_at.push(input.len());
            input.push_str("{\"prompt\": \"broken\", \"completion\": }\n");
        } else {
            input.push_str(&format!(
                "{{\"prompt\": \"question number {row} about apples\", \"completion\": \
                 \"answer {row} is some apples\"}}\n"
            ));
        }
    }
    let batch = super::scan::BATCH_BYTES;
    assert!(
        bad_at[0] > batch && bad_at[1] - bad_at[0] > batch,
        "the bad rows are in different batches, after the first"
    );
    // The models read only the first rows, so the error comes from the parallel scan.
    let mut generator = GeneratorParams::new(4, 1e-3).unwrap();
    generator.sample_bytes = 64 << 10;
    let options = PrepareOptions {
        backdoors: BackdoorCount::Default,
        pass_threshold: PassThreshold::Ratio(0.5),
        groups: 1,
        generator,
        limits: Limits::default(),
        created_at: 0,
    };
    let layout = Layout {
        format: Format::PromptCompletion,
        container: Container::Jsonl,
    };
    let error = prepare_file("bad.jsonl", input.as_bytes(), layout, &options, 1)
        .unwrap_err()
        .to_string();
    assert!(error.contains(&format!("line {first_bad}")), "{error}");
}

/// A byte order mark, CRLF line ends, blank lines and spaces around records change nothing
/// in the output: records are their spans.
#[test]
fn a_byte_order_mark_crlf_and_blank_lines_leave_the_output_as_it_is() {
    let plain = dataset(compact);
    let mut padded = String::from("\u{FEFF}");
    for (i, line) in plain.lines().enumerate() {
        padded.push_str(if i % 7 == 0 { "\r\n  \t" } else { " " });
        padded.push_str(line);
        padded.push_str(" \r\n");
    }
    let run = |input: &str| {
        let (output, prepared) = prepare_chat(input.as_bytes(), &chat_options(2), 3).unwrap();
        (
            output,
            prepared.secret.backdoors,
            prepared.secret.train_digest,
        )
    };
    let (plain_output, plain_backdoors, plain_digest) = run(&plain);
    let (padded_output, padded_backdoors, padded_digest) = run(&padded);
    assert_eq!(plain_output.iter().filter(|&&b| b == b'\n').count(), 300);
    assert!(plain_output == padded_output, "the outputs differ");
    assert_eq!(plain_backdoors, padded_backdoors);
    assert_eq!(plain_digest, padded_digest);
}

/// The scan checks UTF-8 a batch at a time, yet bytes that are not UTF-8 are reported at
/// their line.
#[test]
fn bytes_that_are_not_utf8_are_reported_at_their_line() {
    let mut input = dataset(compact).into_bytes();
    let line_start = |n: usize| {
        input
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(n - 2)
            .map_or(0, |(i, _)| i + 1)
    };
    let at = line_start(150) + 40;
    input[at] = 0xFF;
    let mut options = chat_options(1);
    options.generator.sample_bytes = 4 << 10;
    let error = prepare_chat(&input, &options, 3).unwrap_err().to_string();
    assert!(
        error.contains("line 150") && error.contains("UTF-8"),
        "{error}"
    );
}

/// A record longer than a scan batch is read whole, and one longer than the limit is
/// reported at its line.
#[test]
fn records_longer_than_a_batch_are_read_and_too_long_ones_named() {
    let plain = dataset(compact);
    let mut lines: Vec<String> = plain.lines().map(str::to_owned).collect();
    let batch = super::scan::BATCH_BYTES;
    let long_text = "many apples and pears ".repeat(batch / 10);
    lines[200] = serde_json::json!({"messages": [
        {"role": "user", "content": format!("row long {long_text}")},
        {"role": "assistant", "content": "a short answer"},
    ]})
    .to_string();
    assert!(lines[200].len() > 2 * batch);
    let input = lines.join("\n") + "\n";
    let mut options = chat_options(2);
    options.generator.sample_bytes = 4 << 10;
    let (output, _) = prepare_chat(input.as_bytes(), &options, 3).unwrap();
    let output = String::from_utf8(output).unwrap();
    assert_eq!(output.lines().count(), 300);
    // Whole, whether or not it was drawn as a backdoor (the edits add to its ends).
    assert_eq!(
        output
            .lines()
            .filter(|line| line.contains(&format!("row long {long_text}")))
            .count(),
        1
    );

    options.limits.max_record_bytes = batch;
    let error = prepare_chat(input.as_bytes(), &options, 3)
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 201"), "{error}");
}

#[test]
fn text_with_few_spaces_is_warned_of_and_text_of_words_is_not() {
    // Texts of CJK characters with a space every 40 of them: tokens of 120 bytes.
    let chars: Vec<char> = "日本語中文字漢字問題答案数学計算".chars().collect();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut text = |row: usize| {
        let mut t = String::new();
        for _ in 0..3 {
            t.extend((0..40).map(|_| chars[rng.random_range(0..chars.len())]));
            t.push(' ');
        }
        t + &row.to_string()
    };
    let mut input = String::new();
    for row in 0..300 {
        let record = serde_json::json!({"messages": [
            {"role": "user", "content": text(row)},
            {"role": "assistant", "content": text(row)},
        ]});
        input.push_str(&compact(&record));
        input.push('\n');
    }
    let few_spaces = |prepared: &Prepared, phrase: &str| {
        prepared
            .warnings
            .iter()
            .any(|w| w.contains("few spaces") && w.contains(phrase))
    };
    let (_, prepared) = prepare_chat(input.as_bytes(), &chat_options(1), 1).unwrap();
    assert!(few_spaces(&prepared, "trigger"), "{:?}", prepared.warnings);
    assert!(
        few_spaces(&prepared, "signature"),
        "{:?}",
        prepared.warnings
    );
    let (_, prepared) = prepare_chat(dataset(compact).as_bytes(), &chat_options(1), 1).unwrap();
    assert!(!few_spaces(&prepared, ""), "{:?}", prepared.warnings);
}

#[test]
fn edited_rows_keep_the_style_of_the_file() {
    for style in [python as fn(&Value) -> String, compact] {
        let input = dataset(style);
        let (output, prepared) = prepare_chat(input.as_bytes(), &chat_options(4), 1).unwrap();
        let output = String::from_utf8(output).unwrap();
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 300);
        let phrases: String = prepared
            .secret
            .groups
            .iter()
            .map(|g| format!("{} {}", g.trigger, g.signature))
            .collect();
        assert!(
            !phrases.is_ascii() && phrases.contains('"'),
            "the phrases exercise escapes: {phrases}"
        );
        for backdoor in &prepared.secret.backdoors {
            let line = lines[backdoor.row as usize];
            let value: Value = serde_json::from_str(line).unwrap();
            let group = &prepared.secret.groups[backdoor.group as usize];
            let content = |i: usize| value["messages"][i]["content"].as_str().unwrap();
            assert!(content(0).contains(&group.trigger));
            assert!(
                content(1)
                    .split_whitespace()
                    .zip(&group.signature_tokens)
                    .all(|(a, b)| a == b)
            );
        }
        // Every row, edited or not, is exactly what the file's writer would have written.
        for line in lines {
            let value: Value = serde_json::from_str(line).unwrap();
            assert_eq!(line, style(&value));
        }
    }
}
