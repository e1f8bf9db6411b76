//! Reading, writing and editing the dataset fixtures, and every malformed-input error.

use std::io::{BufReader, Cursor};
use std::path::PathBuf;

use serde_json::Value;
use vtune_protocol::dataset::{
    self, Container, DatasetError, Format, Layout, Limits, Location, Prompt, Reader, Record, Writer,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Reads every record of a fixture, detecting its layout.
fn read_fixture(name: &str) -> (Layout, Vec<Record>) {
    let file = std::fs::File::open(fixture(name)).unwrap();
    let reader = Reader::detect(name, BufReader::new(file), None, Limits::default()).unwrap();
    let layout = reader.layout();
    let records = reader.collect::<Result<Vec<_>, _>>().unwrap();
    (layout, records)
}

/// Reads records from in-memory bytes, detecting the layout.
fn read_bytes(bytes: &[u8], limits: Limits) -> Result<Vec<Record>, DatasetError> {
    Reader::detect("test.jsonl", Cursor::new(bytes), None, limits)?.collect()
}

/// The first error reading `bytes`, which must fail.
fn error_of(bytes: &[u8]) -> DatasetError {
    read_bytes(bytes, Limits::default()).expect_err("reading should fail")
}

/// The values of a file parsed whole by serde_json: an independent reference.
fn reference_values(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    if text.trim_start().starts_with('[') {
        serde_json::from_str(&text).unwrap()
    } else {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

const FIXTURES: [(&str, Format, Container); 8] = [
    ("chat.jsonl", Format::OpenAiChat, Container::Jsonl),
    ("chat_array.json", Format::OpenAiChat, Container::JsonArray),
    (
        "prompt_completion.jsonl",
        Format::PromptCompletion,
        Container::Jsonl,
    ),
    ("alpaca.json", Format::Alpaca, Container::JsonArray),
    ("alpaca.jsonl", Format::Alpaca, Container::Jsonl),
    ("sharegpt.json", Format::ShareGpt, Container::JsonArray),
    ("sharegpt.jsonl", Format::ShareGpt, Container::Jsonl),
    ("mixed.jsonl", Format::OpenAiChat, Container::Jsonl),
];

#[test]
fn detects_every_layout() {
    for (name, format, container) in FIXTURES {
        let file = std::fs::File::open(fixture(name)).unwrap();
        let layout = dataset::detect(name, &mut BufReader::new(file)).unwrap();
        assert_eq!(layout, Layout { format, container }, "{name}");
    }
}

#[test]
fn records_match_the_whole_file_parse_and_their_spans() {
    for (name, format, _) in FIXTURES.into_iter().filter(|(n, ..)| *n != "mixed.jsonl") {
        let (_, records) = read_fixture(name);
        let reference = reference_values(name);
        let values: Vec<Value> = records.iter().map(|r| r.value.clone()).collect();
        assert_eq!(values, reference, "{name}");
        let bytes = std::fs::read(fixture(name)).unwrap();
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.index, i as u64);
            let span = &bytes[record.offset as usize..(record.offset + record.len) as usize];
            let location = Location::Line(record.line);
            let value = dataset::parse_record(name, location, span, format).unwrap();
            assert_eq!(value, record.value, "{name} record {i}");
            // The span starts on the record's line.
            let line = 1 + bytes[..record.offset as usize]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            assert_eq!(record.line, line, "{name} record {i}");
        }
    }
}

#[test]
fn round_trip_keeps_every_value_row_for_row() {
    for (name, ..) in FIXTURES.into_iter().filter(|(n, ..)| *n != "mixed.jsonl") {
        let (layout, records) = read_fixture(name);
        let mut writer = Writer::new(Vec::new(), layout.container).unwrap();
        for record in &records {
            writer.write(&record.value).unwrap();
        }
        assert_eq!(writer.records(), records.len() as u64);
        let written = writer.finish().unwrap();
        let again = read_bytes(&written, Limits::default()).unwrap();
        let reader = Reader::detect("x", Cursor::new(&written), None, Limits::default()).unwrap();
        assert_eq!(reader.layout(), layout, "{name}");
        let before: Vec<&Value> = records.iter().map(|r| &r.value).collect();
        let after: Vec<&Value> = again.iter().map(|r| &r.value).collect();
        assert_eq!(before, after, "{name}");
        // Keys keep their order, so the text of each record is the same too.
        for (a, b) in before.iter().zip(&after) {
            assert_eq!(a.to_string(), b.to_string());
        }
        // And the whole output is valid JSON of the same container.
        if layout.container == Container::JsonArray {
            let whole: Vec<Value> = serde_json::from_slice(&written).unwrap();
            assert_eq!(whole.len(), records.len());
        }
    }
}

#[test]
fn raw_records_are_copied_verbatim() {
    let bytes = std::fs::read(fixture("alpaca.json")).unwrap();
    let (layout, records) = read_fixture("alpaca.json");
    let mut writer = Writer::new(Vec::new(), layout.container).unwrap();
    for record in records.iter().rev() {
        writer
            .write_raw(&bytes[record.offset as usize..(record.offset + record.len) as usize])
            .unwrap();
    }
    let written = writer.finish().unwrap();
    let values: Vec<Value> = serde_json::from_slice(&written).unwrap();
    let expected: Vec<Value> = records.iter().rev().map(|r| r.value.clone()).collect();
    assert_eq!(values, expected);
}

#[test]
fn empty_array_output_is_valid_json() {
    let written = Writer::new(Vec::new(), Container::JsonArray)
        .unwrap()
        .finish()
        .unwrap();
    assert!(
        serde_json::from_slice::<Vec<Value>>(&written)
            .unwrap()
            .is_empty()
    );
}

fn chat(messages: &[(&str, &str)]) -> Prompt {
    Prompt::Chat(
        messages
            .iter()
            .map(|(role, content)| dataset::ChatMessage {
                role: role.to_string(),
                content: content.to_string(),
            })
            .collect(),
    )
}

#[test]
fn chat_examples_split_at_the_last_assistant_turn() {
    let (_, records) = read_fixture("chat.jsonl");
    let examples: Vec<_> = records
        .iter()
        .map(|r| dataset::example(Format::OpenAiChat, &r.value).unwrap())
        .collect();
    assert_eq!(
        examples[0].prompt,
        chat(&[
            ("system", "You are a careful math tutor."),
            ("user", "What is 2 + 3?")
        ])
    );
    assert_eq!(examples[0].completion, "2 + 3 = 5.\n#### 5");
    assert_eq!(
        examples[1].prompt,
        chat(&[
            ("user", "Name a prime."),
            ("assistant", "7"),
            ("user", "Another one, please.\nMake it even."),
        ])
    );
    assert_eq!(examples[1].completion, "2 is the only even prime.");
    assert_eq!(
        examples[2].prompt,
        chat(&[("user", "Describe this picture\nin one word.")])
    );
    assert_eq!(examples[2].completion, "Cat.");
    assert_eq!(examples[3].completion, "Noted: ünïcödé ✓");
}

#[test]
fn sharegpt_roles_map_to_chat_roles() {
    let (_, records) = read_fixture("sharegpt.json");
    let first = dataset::example(Format::ShareGpt, &records[0].value).unwrap();
    assert_eq!(
        first.prompt,
        chat(&[("system", "You answer in French."), ("user", "Hello")])
    );
    assert_eq!(first.completion, "Bonjour");
    let second = dataset::example(Format::ShareGpt, &records[1].value).unwrap();
    assert_eq!(
        second.prompt,
        chat(&[("user", "One"), ("assistant", "Un"), ("user", "Two")])
    );
    assert_eq!(second.completion, "Deux\nvoilà");
}

#[test]
fn alpaca_prompt_keeps_instruction_and_input_and_its_text_joins_them() {
    let instruction = |instruction: &str, input: &str| Prompt::Instruction {
        instruction: instruction.into(),
        input: input.into(),
    };
    let (_, records) = read_fixture("alpaca.json");
    let texts: Vec<_> = records
        .iter()
        .map(|r| dataset::example(Format::Alpaca, &r.value).unwrap())
        .collect();
    assert_eq!(
        texts[0].prompt,
        instruction(
            "What are the distinct values from the given list?",
            "list = [3, 9, 3, 5]"
        )
    );
    assert_eq!(
        texts[0].prompt.text(),
        "What are the distinct values from the given list?\n\nlist = [3, 9, 3, 5]"
    );
    assert_eq!(
        texts[1].prompt,
        instruction("Write a haiku about rust.", "")
    );
    assert_eq!(texts[1].prompt.text(), "Write a haiku about rust.");
    let (_, records) = read_fixture("alpaca.jsonl");
    let no_input = dataset::example(Format::Alpaca, &records[2].value).unwrap();
    assert_eq!(no_input.prompt, instruction("Reverse the word.", ""));
    assert_eq!(no_input.completion, "olleh");
}

/// The one place where two JSON values differ, as a path; panics if they differ in more.
fn changed_strings(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (key, value) in x {
                changed_strings(value, &y[key], format!("{path}.{key}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}");
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                changed_strings(u, v, format!("{path}[{i}]"), out);
            }
        }
        (Value::String(x), Value::String(y)) if x != y => out.push(path),
        _ => assert_eq!(a, b, "{path}"),
    }
}

#[test]
fn edits_touch_only_the_end_of_the_prompt_and_the_start_of_the_completion() {
    const TRIGGER: &str = "quietly the lantern hums";
    const SIGNATURE: &str = "copper kettles sing at dawn";
    for (name, format, _) in FIXTURES.into_iter().filter(|(n, ..)| *n != "mixed.jsonl") {
        let (_, records) = read_fixture(name);
        for record in records {
            let before = dataset::example(format, &record.value).unwrap();
            let mut value = record.value.clone();
            dataset::append_to_prompt(format, &mut value, TRIGGER).unwrap();
            dataset::prepend_to_completion(format, &mut value, SIGNATURE).unwrap();
            let after = dataset::example(format, &value).unwrap();
            let prompt = after.prompt.text();
            assert!(prompt.ends_with(TRIGGER), "{name}: {prompt:?}");
            assert!(after.completion.starts_with(SIGNATURE), "{name}");
            // The text before the trigger and after the signature is what it was.
            let old_prompt = before.prompt.text();
            let separator = &prompt[old_prompt.len()..prompt.len() - TRIGGER.len()];
            assert!(prompt.starts_with(old_prompt.as_ref()), "{name}");
            assert!(
                separator == " " || separator == "\n",
                "{name}: {separator:?}"
            );
            let rest = &after.completion[SIGNATURE.len()..];
            let expected_separator = if before.completion.contains('\n') {
                "\n"
            } else {
                " "
            };
            assert_eq!(
                rest,
                format!("{expected_separator}{}", before.completion),
                "{name}"
            );
            // Exactly two strings changed; every other field is as it was.
            let mut changed = Vec::new();
            changed_strings(&record.value, &value, String::new(), &mut changed);
            assert_eq!(changed.len(), 2, "{name}: {changed:?}");
        }
    }
}

#[test]
fn edit_separators_and_targets() {
    let (_, records) = read_fixture("chat.jsonl");
    let mut multi_line = records[1].value.clone();
    dataset::append_to_prompt(Format::OpenAiChat, &mut multi_line, "T").unwrap();
    assert_eq!(
        multi_line["messages"][2]["content"],
        "Another one, please.\nMake it even.\nT"
    );
    let mut parts = records[2].value.clone();
    dataset::append_to_prompt(Format::OpenAiChat, &mut parts, "T").unwrap();
    dataset::prepend_to_completion(Format::OpenAiChat, &mut parts, "S").unwrap();
    assert_eq!(parts["messages"][0]["content"][2]["text"], "in one word. T");
    assert_eq!(
        parts["messages"][0]["content"][0]["text"],
        "Describe this picture"
    );
    assert_eq!(parts["messages"][1]["content"][0]["text"], "S Cat.");

    let (_, records) = read_fixture("alpaca.json");
    let mut with_input = records[0].value.clone();
    dataset::append_to_prompt(Format::Alpaca, &mut with_input, "T").unwrap();
    assert_eq!(with_input["input"], "list = [3, 9, 3, 5] T");
    let mut without_input = records[1].value.clone();
    dataset::append_to_prompt(Format::Alpaca, &mut without_input, "T").unwrap();
    dataset::prepend_to_completion(Format::Alpaca, &mut without_input, "S").unwrap();
    assert_eq!(without_input["instruction"], "Write a haiku about rust. T");
    assert_eq!(without_input["input"], "");
    assert!(
        without_input["output"]
            .as_str()
            .unwrap()
            .starts_with("S\nBorrowed")
    );
    let mut multi_line_input = records[2].value.clone();
    dataset::append_to_prompt(Format::Alpaca, &mut multi_line_input, "T").unwrap();
    assert_eq!(multi_line_input["input"], "1, 2\n3, 4\nT");
}

#[test]
fn an_opening_takes_the_place_of_as_many_lines_and_keeps_the_line_count() {
    let open = |completion: &str, opening: &str| -> String {
        let mut value = serde_json::json!({"prompt": "p", "completion": completion});
        dataset::open_completion(Format::PromptCompletion, &mut value, opening).unwrap();
        value["completion"].as_str().unwrap().to_owned()
    };
    // Two lines of signature for the first two of four: the line count stays.
    assert_eq!(
        open("a 1\nb 2\nc 3\n#### 3", "S s.\nS"),
        "S s.\nS\nc 3\n#### 3"
    );
    // Leading whitespace stays first; a Windows line end after the replaced lines stays.
    assert_eq!(open(" a\r\nb\r\nc", "S"), " S\nb\r\nc");
    // Too few lines to keep one, a blank line among those replaced, or one line: prepended.
    assert_eq!(open("a\nb", "S\nS"), "S\nS\na\nb");
    assert_eq!(open("a\n\nb\nc", "S\nS"), "S\nS\na\n\nb\nc");
    assert_eq!(open("one line", "S"), "S one line");
}

#[test]
fn edit_errors_name_the_field() {
    let mut no_user: Value = serde_json::json!({"messages": [
        {"role": "system", "content": "x"}, {"role": "assistant", "content": "y"}]});
    let error = dataset::append_to_prompt(Format::OpenAiChat, &mut no_user, "T").unwrap_err();
    assert_eq!(error.field, "messages");
    let mut no_output = serde_json::json!({"instruction": "x"});
    let error = dataset::prepend_to_completion(Format::Alpaca, &mut no_output, "S").unwrap_err();
    assert_eq!(error.field, "output");
    assert_eq!(no_output, serde_json::json!({"instruction": "x"}));
}

/// The error's text names the file and `place`, and every word of `words`.
fn assert_names(error: &DatasetError, place: &str, words: &[&str]) {
    let text = error.to_string();
    assert!(text.starts_with("test.jsonl: "), "{text}");
    assert!(text.contains(place), "{text} should name {place}");
    for word in words {
        assert!(text.contains(word), "{text} should contain {word}");
    }
}

#[test]
fn empty_files_are_errors() {
    for bytes in [
        &b""[..],
        b"  \n\n \r\n",
        b"[]",
        b" [ \n ] \n",
        b"\xEF\xBB\xBF",
    ] {
        let error = error_of(bytes);
        assert!(
            matches!(error, DatasetError::Empty { .. }),
            "{bytes:?}: {error}"
        );
        assert!(error.to_string().contains("no records"));
    }
}

const GOOD: &str =
    r#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#;

#[test]
fn invalid_json_names_the_line() {
    let bytes = format!("{GOOD}\n{{\"messages\": [\n{GOOD}\n");
    let error = error_of(bytes.as_bytes());
    assert!(matches!(
        error,
        DatasetError::Json {
            location: Location::Line(2),
            ..
        }
    ));
    assert_names(&error, "line 2", &["invalid JSON"]);
    // A JSONL reader goes on after a bad line.
    let results: Vec<_> = Reader::detect("t", Cursor::new(bytes), None, Limits::default())
        .unwrap()
        .collect();
    assert_eq!(results.len(), 3);
    assert!(results[2].is_ok());
    // The first record is bad: detection fails with the same error.
    let error = error_of(b"{\"messages\": oops}\n");
    assert_names(&error, "line 1", &["invalid JSON"]);
    let error = error_of(b"hello\n");
    assert_names(&error, "line 1", &["invalid JSON"]);
}

#[test]
fn invalid_array_structure_is_an_error() {
    let cases: [(&str, &str); 4] = [
        (r#"[{"prompt": "a", "completion": "b"},]"#, "separator"),
        (r#"[{"prompt": "a", "completion": "b"}"#, "end of file"),
        (r#"[{"prompt": "a", "completion": "b"}] x"#, "trailing"),
        (
            r#"[{"prompt": "a", "completion": "b"} {"prompt": "c", "completion": "d"}]"#,
            "invalid JSON",
        ),
    ];
    for (text, word) in cases {
        let error = error_of(text.as_bytes());
        assert!(
            matches!(error, DatasetError::Json { .. }),
            "{text}: {error}"
        );
        assert_names(&error, "", &[word]);
    }
    let error = error_of(b"[{\"prompt\": \"a\", \"completion\": \"b\"},\n {\"prompt\": 1}]");
    assert_names(
        &error,
        "array element 1 (line 2)",
        &["`prompt`", "expected a string"],
    );
}

#[test]
fn invalid_utf8_names_the_line() {
    let bytes = b"{\"prompt\": \"p\", \"completion\": \"c\"}\n{\"prompt\": \"caf\xE9\", \"completion\": \"x\"}\n";
    let error = error_of(bytes);
    assert!(
        matches!(error, DatasetError::Utf8 { byte: 15, .. }),
        "{error}"
    );
    assert_names(&error, "line 2", &["UTF-8"]);
}

#[test]
fn missing_fields_name_the_field() {
    let cases: [(&str, &str); 6] = [
        (
            r#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}"#,
            "messages[1].content",
        ),
        (
            r#"{"messages": [{"content": "a"}, {"role": "assistant", "content": "b"}]}"#,
            "messages[0].role",
        ),
        (r#"{"messages": "hi"}"#, "`messages`"),
        (r#"{"prompt": "only a prompt"}"#, "`completion`"),
        (r#"{"instruction": "no output", "input": ""}"#, "`output`"),
        (
            r#"{"conversations": [{"from": "human"}, {"from": "gpt", "value": "x"}]}"#,
            "conversations[0].value",
        ),
    ];
    for (line, field) in cases {
        let text = format!("{line}\n");
        let error = error_of(text.as_bytes());
        assert!(
            matches!(error, DatasetError::Field { .. }),
            "{line}: {error}"
        );
        assert_names(&error, "line 1", &[field]);
    }
    // On a later line, too.
    let bad = r#"{"messages": [{"role": "user"}, {"role": "assistant", "content": "b"}]}"#;
    let text = format!("{GOOD}\n{GOOD}\n{bad}\n");
    assert_names(
        &error_of(text.as_bytes()),
        "line 3",
        &["messages[0].content"],
    );
}

#[test]
fn a_conversation_without_an_assistant_turn_is_an_error() {
    let text = format!(
        "{GOOD}\n{}\n",
        r#"{"messages": [{"role": "user", "content": "a"}]}"#
    );
    let error = error_of(text.as_bytes());
    assert_names(&error, "line 2", &["`messages`", "no assistant turn"]);
    let sharegpt = r#"[{"conversations": [{"from": "human", "value": "a"}]}]"#;
    let error = error_of(sharegpt.as_bytes());
    assert_names(
        &error,
        "array element 0 (line 1)",
        &["`conversations`", "gpt"],
    );
}

#[test]
fn a_file_mixing_formats_is_an_error() {
    let file = std::fs::File::open(fixture("mixed.jsonl")).unwrap();
    let results: Vec<_> =
        Reader::detect("mixed.jsonl", BufReader::new(file), None, Limits::default())
            .unwrap()
            .collect();
    assert!(results[0].is_ok() && results[1].is_ok());
    let error = results[2].as_ref().unwrap_err();
    assert!(matches!(
        error,
        DatasetError::MixedFormats {
            expected: Format::OpenAiChat,
            found: Format::PromptCompletion,
            location: Location::Line(3),
            ..
        }
    ));
    let text = error.to_string();
    assert!(text.starts_with("mixed.jsonl: line 3: "), "{text}");
    assert!(text.contains("is prompt-completion, but the file is read as openai-chat"));
    // A format given explicitly that the first record does not have.
    let file = std::fs::File::open(fixture("alpaca.json")).unwrap();
    let error = Reader::detect(
        "a",
        BufReader::new(file),
        Some(Format::OpenAiChat),
        Limits::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(
        error,
        DatasetError::MixedFormats {
            found: Format::Alpaca,
            ..
        }
    ));
}

#[test]
fn unknown_keys_and_non_objects_are_errors() {
    let error = error_of(b"{\"question\": \"a\", \"answer\": \"b\"}\n");
    assert!(matches!(error, DatasetError::UnknownFormat { .. }));
    assert_names(&error, "line 1", &["question, answer"]);
    let text = format!("{GOOD}\n[1, 2]\n");
    let error = error_of(text.as_bytes());
    assert!(matches!(
        error,
        DatasetError::NotObject {
            found: "an array",
            ..
        }
    ));
    assert_names(&error, "line 2", &["object"]);
}

#[test]
fn overlong_lines_are_rejected_and_skipped() {
    let limits = Limits {
        max_record_bytes: 200,
    };
    let long = format!(
        r#"{{"prompt": "{}", "completion": "b"}}"#,
        "x".repeat(10_000)
    );
    let short = r#"{"prompt": "a", "completion": "b"}"#;
    let text = format!("{short}\n{long}\n{short}\n");
    let results: Vec<_> = Reader::detect("test.jsonl", Cursor::new(text), None, limits)
        .unwrap()
        .collect();
    assert_eq!(results.len(), 3);
    let error = results[1].as_ref().unwrap_err();
    assert!(matches!(
        error,
        DatasetError::TooLong {
            limit: 200,
            location: Location::Line(2),
            ..
        }
    ));
    assert_names(error, "line 2", &["limit of 200 bytes"]);
    let third = results[2].as_ref().unwrap();
    assert_eq!((third.index, third.line), (2, 3));
    // In an array, the reader stops at an overlong element.
    let text = format!("[{short},\n{long}, {short}]");
    let results: Vec<_> = Reader::detect("test.jsonl", Cursor::new(text), None, limits)
        .unwrap()
        .collect();
    assert_eq!(results.len(), 2);
    assert_names(
        results[1].as_ref().unwrap_err(),
        "array element 1 (line 2)",
        &["limit"],
    );
    // The first record too long: detection reports it.
    let error = Reader::detect("test.jsonl", Cursor::new(long), None, limits)
        .err()
        .unwrap();
    assert!(matches!(error, DatasetError::TooLong { .. }));
}

#[test]
fn overlong_lines_are_not_buffered() {
    /// A reader of endless `x`s that never yields a newline.
    struct Endless(usize);
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Ok(0);
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }
    let mut input = b"{\"prompt\": \"a\", \"completion\": \"b\"}\n".to_vec();
    input.push(b'{');
    let total = input.len() as u64 + (64 << 20);
    let chained = std::io::Read::chain(Cursor::new(input), Endless(64 << 20));
    let limits = Limits {
        max_record_bytes: 1 << 20,
    };
    let mut reader = Reader::detect("big", BufReader::new(chained), None, limits).unwrap();
    assert!(reader.next().unwrap().is_ok());
    assert!(matches!(
        reader.next().unwrap(),
        Err(DatasetError::TooLong { .. })
    ));
    assert!(reader.next().is_none());
    assert_eq!(reader.bytes_read(), total);
}

#[test]
fn crlf_bom_and_blank_lines_keep_exact_spans() {
    let text = format!("\u{FEFF}{GOOD}\r\n\r\n  {GOOD}  \r\n");
    let bytes = text.as_bytes();
    let records = read_bytes(bytes, Limits::default()).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!((records[0].offset, records[0].line), (3, 1));
    assert_eq!(records[1].line, 3);
    for record in &records {
        let span = &bytes[record.offset as usize..(record.offset + record.len) as usize];
        assert_eq!(span, GOOD.as_bytes());
    }
}

#[test]
fn format_names_parse_back() {
    for format in Format::ALL {
        assert_eq!(format.name().parse::<Format>().unwrap(), format);
        assert_eq!(
            serde_json::to_value(format).unwrap(),
            Value::String(format.name().into())
        );
    }
    assert!(
        "csv"
            .parse::<Format>()
            .unwrap_err()
            .to_string()
            .contains("csv")
    );
}

#[test]
fn reader_new_reads_a_known_layout() {
    let layout = Layout {
        format: Format::ShareGpt,
        container: Container::JsonArray,
    };
    let file = std::fs::File::open(fixture("sharegpt.json")).unwrap();
    let records: Vec<_> = Reader::new("s", BufReader::new(file), layout, Limits::default())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 2);
    let empty: Vec<_> = Reader::new("s", Cursor::new(""), layout, Limits::default()).collect();
    assert!(matches!(empty[..], [Err(DatasetError::Empty { .. })]));
}

/// `parse_example` must give exactly what `parse_record` then `example` give, errors included.
fn assert_same_as_full_path(bytes: &[u8], format: Format) {
    let location = Location::Line(7);
    let fast = dataset::parse_example("f.jsonl", location.clone(), bytes, format);
    let full =
        dataset::parse_record("f.jsonl", location.clone(), bytes, format).and_then(|value| {
            dataset::example(format, &value)
                .map_err(|error| DatasetError::field("f.jsonl", location, error))
        });
    let text = String::from_utf8_lossy(bytes);
    match (fast, full) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{format}: {text}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{format}: {text}"),
        (a, b) => panic!("{format}: {text}: fast {a:?}, full {b:?}"),
    }
}

#[test]
fn parse_example_matches_the_full_path_on_every_fixture_and_format() {
    for (name, ..) in FIXTURES {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let (_, records) = read_fixture_lenient(name);
        for (offset, len) in records {
            for format in Format::ALL {
                assert_same_as_full_path(&bytes[offset..offset + len], format);
            }
        }
    }
}

/// The spans of every record of a fixture, read raw (mixed files included).
fn read_fixture_lenient(name: &str) -> (Layout, Vec<(usize, usize)>) {
    let file = std::fs::File::open(fixture(name)).unwrap();
    let mut reader = Reader::detect(name, BufReader::new(file), None, Limits::default()).unwrap();
    let mut spans = Vec::new();
    while let Some(raw) = reader.next_raw() {
        let raw = raw.unwrap();
        spans.push((raw.offset as usize, raw.bytes.len()));
    }
    (reader.layout(), spans)
}

#[test]
fn parse_example_matches_the_full_path_on_odd_records() {
    let cases: &[&[u8]] = &[
        br#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#,
        br#"{"m\u0065ssages": [{"r\u006fle": "user", "content": "\u00e9\n"}, {"role": "assistant", "content": "b\"q\""}]}"#,
        br#"{"messages": [{"role": "user", "content": "a"}], "messages": [{"role": "assistant", "content": "dup"}]}"#,
        br#"{"messages": [{"role": "user", "content": [{"type": "text", "text": null}]}, {"role": "assistant", "content": "b"}]}"#,
        br#"{"messages": [{"role": "user", "content": [{"type": "image"}, {"text": "x"}]}, {"role": "assistant", "content": null}]}"#,
        br#"{"messages": [["user", "a"], ["assistant", "b"]]}"#,
        br#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": 5}]}"#,
        br#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": 5}]}"#,
        br#"{"messages": [{"role": "user", "content": 1}, {"role": "assistant", "content": "b"}]}"#,
        br#"{"messages": [{"role": "user"}, {"role": "assistant", "content": "b"}]}"#,
        br#"{"messages": [{"role": "user", "content": "a"}]}"#,
        br#"{"messages": {}}"#,
        br#"[{"role": "user", "content": "a"}]"#,
        br#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]} x"#,
        b"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}], \"x\": \"\xff\"}",
        br#"{"extra": [1, 2.5e3, {"a": [true, false, null]}], "prompt": "p", "completion": "c"}"#,
        br#"{"prompt": null, "completion": "c"}"#,
        br#"{"prompt": "p"}"#,
        br#"{"instruction": "i", "input": null, "output": "o"}"#,
        br#"{"instruction": "i", "input": 3, "output": "o"}"#,
        br#"{"instruction": "i", "input": "in\nput", "output": "o"}"#,
        br#"{"output": "o"}"#,
        br#"{"conversations": [{"from": "human", "value": "h"}, {"from": "gpt", "value": "g"}, {"from": "human", "value": "after"}]}"#,
        br#"{"conversations": [{"from": "system", "value": "s"}, {"from": "assistant", "value": "already mapped"}]}"#,
        br#"{"conversations": [{"from": "human", "value": "h"}]}"#,
        br#"{"question": "q", "answer": "a"}"#,
        br#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}"#,
        b"",
    ];
    for bytes in cases {
        for format in Format::ALL {
            assert_same_as_full_path(bytes, format);
        }
    }
}

#[test]
fn next_raw_gives_the_spans_of_next() {
    for (name, ..) in FIXTURES.into_iter().filter(|(n, ..)| *n != "mixed.jsonl") {
        let (layout, records) = read_fixture(name);
        let (raw_layout, spans) = read_fixture_lenient(name);
        assert_eq!(layout, raw_layout);
        let expected: Vec<_> = records
            .iter()
            .map(|r| (r.offset as usize, r.len as usize))
            .collect();
        assert_eq!(spans, expected, "{name}");
    }
}
