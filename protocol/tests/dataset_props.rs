//! Property tests of the dataset reader: whatever the text, the layout and the read-buffer
//! size, every record comes back with its exact byte span.

use std::io::{BufReader, Cursor};

use proptest::prelude::*;
use serde_json::{Value, json};
use vtune_protocol::dataset::{Container, Format, Limits, Location, Reader, Writer, parse_record};

/// Text with the characters that trip a JSON scanner: quotes, backslashes, brackets, commas,
/// newlines and non-ASCII.
fn tricky_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\\\"".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just(",".to_string()),
            Just("\n".to_string()),
            Just("é東🎉".to_string()),
            "[a-z ]{0,8}",
        ],
        0..12,
    )
    .prop_map(|pieces| pieces.concat())
}

fn chat_record() -> impl Strategy<Value = Value> {
    (tricky_text(), tricky_text(), tricky_text(), any::<bool>()).prop_map(
        |(system, user, assistant, extra)| {
            let mut record = json!({"messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": [{"type": "text", "text": user}]},
                {"role": "assistant", "content": assistant},
            ]});
            if extra {
                record["meta"] = json!({"nested": [[1, {"k": "]},["}], null]});
            }
            record
        },
    )
}

/// The records as a file: JSONL, a compact array, or a pretty-printed array.
fn render(records: &[Value], style: u8) -> Vec<u8> {
    match style {
        0 => {
            let mut writer = Writer::new(Vec::new(), Container::Jsonl).unwrap();
            records.iter().for_each(|r| writer.write(r).unwrap());
            writer.finish().unwrap()
        }
        1 => serde_json::to_vec(records).unwrap(),
        _ => serde_json::to_vec_pretty(records).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn records_and_spans_survive_any_text(
        records in proptest::collection::vec(chat_record(), 1..6),
        style in 0u8..3,
        capacity in 1usize..64,
    ) {
        let bytes = render(&records, style);
        let reader = Reader::detect(
            "prop.json",
            BufReader::with_capacity(capacity, Cursor::new(&bytes)),
            None,
            Limits::default(),
        )
        .unwrap();
        prop_assert_eq!(reader.layout().format, Format::OpenAiChat);
        let read: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read.len(), records.len());
        for (record, expected) in read.iter().zip(&records) {
            prop_assert_eq!(&record.value, expected);
            let span = &bytes[record.offset as usize..(record.offset + record.len) as usize];
            let value = parse_record("prop.json", Location::Line(record.line), span, Format::OpenAiChat)
                .unwrap();
            prop_assert_eq!(&value, expected);
            let line = 1 + bytes[..record.offset as usize].iter().filter(|&&b| b == b'\n').count();
            prop_assert_eq!(record.line, line as u64);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn parse_example_equals_example_of_the_value(record in chat_record()) {
        let bytes = serde_json::to_vec(&record).unwrap();
        let fast = vtune_protocol::dataset::parse_example("p", Location::Line(1), &bytes, Format::OpenAiChat)
            .unwrap();
        let full = vtune_protocol::dataset::example(Format::OpenAiChat, &record).unwrap();
        prop_assert_eq!(fast, full);
    }
}
