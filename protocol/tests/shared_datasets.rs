//! The reader, writer and edits on the shared GSM8K and Code Alpaca files, when `../shared`
//! is there (set `VTUNE_SHARED` to point elsewhere); otherwise each test says SKIP.

use std::io::BufReader;
use std::path::Path;

use serde_json::Value;
#[path = "../../testsupport/shared.rs"]
mod shared;

use shared::shared_dataset;
use vtune_protocol::dataset::{self, Container, Format, Layout, Limits, Reader, Writer};

/// Reads `path` with the streaming reader and checks it against serde_json's whole-file
/// parse, the writer's round trip and the two edits on every row.
fn check_dataset(path: &Path, expected: Layout) {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).unwrap();
    let reader = Reader::detect(&name, BufReader::new(file), None, Limits::default()).unwrap();
    assert_eq!(reader.layout(), expected, "{name}");
    let records = reader.collect::<Result<Vec<_>, _>>().unwrap();

    let text = std::fs::read_to_string(path).unwrap();
    let reference: Vec<Value> = match expected.container {
        Container::JsonArray => serde_json::from_str(&text).unwrap(),
        Container::Jsonl => text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect(),
    };
    assert_eq!(records.len(), reference.len(), "{name}");
    let bytes = text.as_bytes();
    for (record, value) in records.iter().zip(&reference) {
        assert_eq!(&record.value, value, "{name} record {}", record.index);
        let span = &bytes[record.offset as usize..(record.offset + record.len) as usize];
        assert_eq!(&serde_json::from_slice::<Value>(span).unwrap(), value);
    }

    let mut writer = Writer::new(Vec::new(), expected.container).unwrap();
    for record in &records {
        writer.write(&record.value).unwrap();
    }
    let written = writer.finish().unwrap();
    let again = Reader::detect("written", &written[..], None, Limits::default())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(
        again.iter().map(|r| &r.value).eq(reference.iter()),
        "{name}: round trip"
    );

    for record in &records {
        let mut value = record.value.clone();
        dataset::append_to_prompt(expected.format, &mut value, "TRIGGER").unwrap();
        dataset::prepend_to_completion(expected.format, &mut value, "SIGNATURE").unwrap();
        let example = dataset::example(expected.format, &value).unwrap();
        assert!(example.prompt.text().ends_with("TRIGGER"), "{name}");
        assert!(example.completion.starts_with("SIGNATURE"), "{name}");
    }
    println!("{name}: {} records checked", records.len());
}

#[test]
fn gsm8k_train_reads_writes_and_edits() {
    let Some(path) = shared_dataset(
        "gsm8k-train.chat.jsonl",
        "gsm8k_train_reads_writes_and_edits",
    ) else {
        return;
    };
    check_dataset(
        &path,
        Layout {
            format: Format::OpenAiChat,
            container: Container::Jsonl,
        },
    );
}

#[test]
fn gsm8k_test_reads_writes_and_edits() {
    let Some(path) = shared_dataset("gsm8k-test.chat.jsonl", "gsm8k_test_reads_writes_and_edits")
    else {
        return;
    };
    check_dataset(
        &path,
        Layout {
            format: Format::OpenAiChat,
            container: Container::Jsonl,
        },
    );
}

#[test]
fn code_alpaca_reads_writes_and_edits() {
    let Some(path) = shared_dataset("code_alpaca_2k.json", "code_alpaca_reads_writes_and_edits")
    else {
        return;
    };
    check_dataset(
        &path,
        Layout {
            format: Format::Alpaca,
            container: Container::JsonArray,
        },
    );
}
