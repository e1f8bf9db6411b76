//! `vtune-node inspect` as a process: on the fixtures, on bad input, and on the shared GSM8K
//! and Code Alpaca files when `../shared` is there (otherwise a SKIP line).

#[path = "../../testsupport/shared.rs"]
mod shared;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn vtune_node(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .args(args)
        .output()
        .expect("run vtune-node")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../protocol/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// `inspect --json` on `path`, which must succeed.
fn inspect_json(path: &str, extra: &[&str]) -> Value {
    let mut args = vec!["inspect", "--json", path];
    args.extend_from_slice(extra);
    let output = vtune_node(&args);
    assert!(
        output.status.success(),
        "{path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stderr.is_empty(), "--json keeps stderr quiet");
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

/// Records in a file, counted independently of the reader.
fn count_records(path: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<Value>>(&text).unwrap().len() as u64
    } else {
        text.lines().filter(|line| !line.trim().is_empty()).count() as u64
    }
}

#[test]
fn json_output_names_format_rows_and_bytes() {
    for (name, format, container) in [
        ("chat.jsonl", "openai-chat", "jsonl"),
        ("chat_array.json", "openai-chat", "json-array"),
        ("prompt_completion.jsonl", "prompt-completion", "jsonl"),
        ("alpaca.json", "alpaca", "json-array"),
        ("sharegpt.jsonl", "sharegpt", "jsonl"),
    ] {
        let path = fixture(name);
        let json = inspect_json(&path, &[]);
        assert_eq!(json["format"], format, "{name}");
        assert_eq!(json["container"], container, "{name}");
        assert_eq!(json["rows"], count_records(&path), "{name}");
        assert_eq!(
            json["bytes"],
            std::fs::metadata(&path).unwrap().len(),
            "{name}"
        );
        for side in ["prompt", "completion"] {
            for unit in ["chars", "tokens"] {
                let stats = &json[side][unit];
                let (min, max) = (
                    stats["min"].as_u64().unwrap(),
                    stats["max"].as_u64().unwrap(),
                );
                let (p50, mean) = (
                    stats["p50"].as_u64().unwrap(),
                    stats["mean"].as_f64().unwrap(),
                );
                assert!(min <= p50 && p50 <= max, "{name} {side} {unit}");
                assert!(
                    min as f64 <= mean && mean <= max as f64,
                    "{name} {side} {unit}"
                );
            }
        }
    }
}

#[test]
fn lengths_are_those_of_the_examples() {
    // prompt_completion.jsonl: completions "fromage", "Blue, on a clear day.",
    // "Keys in another order still work."
    let json = inspect_json(&fixture("prompt_completion.jsonl"), &[]);
    assert_eq!(json["completion"]["chars"]["min"], "fromage".len());
    assert_eq!(
        json["completion"]["chars"]["max"],
        "Keys in another order still work.".len()
    );
    assert_eq!(json["completion"]["tokens"]["p50"], 5);
}

#[test]
fn human_output_has_the_layout_and_table() {
    let output = vtune_node(&["inspect", &fixture("alpaca.json")]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "format      alpaca",
        "container   json-array",
        "rows        3",
        "completion tokens",
    ] {
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn bad_input_exits_2_naming_file_and_line() {
    let mixed = fixture("mixed.jsonl");
    let output = vtune_node(&["inspect", &mixed]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&format!("{mixed}: line 3:")), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let output = vtune_node(&["inspect", empty.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no records"));

    let output = vtune_node(&["inspect", "--format", "csv", &mixed]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn format_override_is_checked_against_the_records() {
    let json = inspect_json(&fixture("sharegpt.json"), &["--format", "sharegpt"]);
    assert_eq!(json["format"], "sharegpt");
    let output = vtune_node(&["inspect", "--format", "alpaca", &fixture("sharegpt.json")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("read as alpaca"));
}

#[test]
fn inspects_the_shared_datasets() {
    let Some(dir) = shared::shared_dir() else {
        println!("SKIP: ../shared not found; inspects_the_shared_datasets skipped");
        return;
    };
    for (name, format) in [
        ("gsm8k-train.chat.jsonl", "openai-chat"),
        ("gsm8k-test.chat.jsonl", "openai-chat"),
        ("code_alpaca_2k.json", "alpaca"),
    ] {
        let path = dir.join("datasets").join(name);
        if !path.is_file() {
            println!("SKIP: {} not found", path.display());
            continue;
        }
        let path = path.display().to_string();
        let json = inspect_json(&path, &[]);
        assert_eq!(json["format"], format, "{name}");
        assert_eq!(json["rows"], count_records(&path), "{name}");
        println!("{name}: {} rows", json["rows"]);
    }
}
