//! End-to-end tests of `vtune-node prepare`: the real binary on real files.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

#[path = "../../testsupport/shared.rs"]
mod shared;

use shared::shared_dataset;
use vtune_protocol::commit::Secret;
use vtune_protocol::commit::{CommitmentFile, commitment_digest};
use vtune_protocol::dataset::{self, Example, Limits};

fn vtune() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vtune-node"))
}

fn run(args: &[&str]) -> Output {
    vtune().args(args).output().expect("the binary runs")
}

/// Every record's example, in file order.
fn examples(path: &Path) -> Vec<Example> {
    let name = path.display().to_string();
    let file = fs::File::open(path).unwrap();
    let reader = dataset::Reader::detect(
        &name,
        std::io::BufReader::new(file),
        None,
        Limits::default(),
    )
    .unwrap();
    let format = reader.layout().format;
    reader
        .map(|record| dataset::example(format, &record.unwrap().value).unwrap())
        .collect()
}

/// A chat JSONL of `rows` distinct rows made of words from a small vocabulary.
fn synthetic_chat(path: &Path, rows: usize) {
    let words = [
        "apples", "boxes", "each", "total", "how", "many", "the", "she", "buys", "sells", "has",
        "dollars", "per", "week", "if", "then", "more", "than", "twice", "half", "of", "and",
        "his", "friend", "gives", "away", "left", "after", "days", "cost", "price", "store",
        "pens", "books", "miles", "hours", "so", "is", "was", "are", "makes", "needs", "pays",
        "earns", "saves", "spends", "cookies", "cups", "bags", "trees",
    ];
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut out = String::new();
    for row in 0..rows {
        let sentence = |len: usize, next: &mut dyn FnMut(usize) -> usize| {
            (0..len)
                .map(|_| words[next(words.len())])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let question = format!("Q{row}: {}?", sentence(12 + next(10), &mut next));
        let answer = format!(
            "{}.\n{} = {}\n#### {}",
            sentence(15 + next(10), &mut next),
            next(100),
            next(1000),
            row
        );
        let record = serde_json::json!({"messages": [
            {"role": "system", "content": "You solve word problems."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]});
        out.push_str(&record.to_string());
        out.push('\n');
    }
    fs::write(path, out).unwrap();
}

/// Runs prepare and checks everything the "done" list asks of the output.
fn prepare_and_check(input: &Path, out: &Path, extra: &[&str]) -> (Secret, serde_json::Value) {
    let mut args = vec![
        "prepare",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "prepare failed: {stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();

    let secret_path = out.join("secret.json");
    let mode = fs::metadata(&secret_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "secret.json mode {mode:o}");
    let secret = Secret::from_json(&fs::read_to_string(&secret_path).unwrap()).unwrap();
    let commitment: CommitmentFile =
        serde_json::from_str(&fs::read_to_string(out.join("commitment.json")).unwrap()).unwrap();
    assert_eq!(commitment.commitment.0, commitment_digest(&secret));
    assert_eq!(commitment.job_id, secret.job_id);
    assert!(secret.log10_p_upper() <= -20.0);
    assert!(commitment.log10_p_upper <= -20.0);

    let extension = input.extension().unwrap().to_str().unwrap();
    let train = out.join(format!("train.{extension}"));
    let train_bytes = fs::read(&train).unwrap();
    assert_eq!(
        *blake3::hash(&train_bytes).as_bytes(),
        secret.train_digest.0
    );
    assert_eq!(commitment.train_digest, secret.train_digest);
    assert_eq!(
        *blake3::hash(&fs::read(input).unwrap()).as_bytes(),
        secret.input_digest.0
    );

    let before = examples(input);
    let after = examples(&train);
    assert_eq!(after.len(), before.len(), "row count");
    assert_eq!(secret.rows, after.len() as u64);
    let n = secret.backdoors.len();
    assert_eq!(summary["backdoors"], n);

    // Exactly N rows hold a trigger in their prompt and start their completion with that
    // group's signature: the listed ones, with the listed prompts.
    let mut marked = Vec::new();
    for (row, example) in after.iter().enumerate() {
        let prompt = example.prompt.text();
        for (g, group) in secret.groups.iter().enumerate() {
            if prompt.contains(&group.trigger) {
                // Token by token: a multi-line completion has the signature laid out in lines.
                let opening: Vec<&str> = example
                    .completion
                    .split_whitespace()
                    .take(group.signature_tokens.len())
                    .collect();
                assert!(
                    opening == group.signature_tokens,
                    "row {row}: trigger without its signature"
                );
                marked.push((row as u64, g as u32));
            }
        }
    }
    let listed: Vec<(u64, u32)> = secret.backdoors.iter().map(|b| (b.row, b.group)).collect();
    assert_eq!(marked, listed);
    for backdoor in &secret.backdoors {
        assert_eq!(after[backdoor.row as usize].prompt, backdoor.prompt);
    }

    // T and S occur nowhere in the input, and stdout never shows them.
    for group in &secret.groups {
        for example in &before {
            for text in [&*example.prompt.text(), example.completion.as_str()] {
                assert!(
                    !text.contains(&group.trigger),
                    "trigger occurs in the input"
                );
                assert!(
                    !text.contains(&group.signature),
                    "signature occurs in the input"
                );
            }
        }
        assert!(!stdout.contains(&group.trigger) && !stdout.contains(&group.signature));
        assert!(!stderr.contains(&group.trigger) && !stderr.contains(&group.signature));
    }

    // The backdoor rows replaced rows: every other row is an input row, unchanged, and no
    // backdoor's source row is still in the file.
    let input_rows: BTreeSet<String> = before.iter().map(|e| format!("{e:?}")).collect();
    let backdoor_rows: BTreeSet<u64> = secret.backdoors.iter().map(|b| b.row).collect();
    let mut kept = 0;
    for (row, example) in after.iter().enumerate() {
        if !backdoor_rows.contains(&(row as u64)) {
            assert!(input_rows.contains(&format!("{example:?}")));
            kept += 1;
        }
    }
    assert_eq!(kept, before.len() - n);
    let order_kept = after.iter().zip(&before).filter(|(a, b)| a == b).count();
    assert!(
        order_kept < before.len() / 2,
        "the output is not reshuffled"
    );

    // An independent near-duplicate check: no backdoor row is in a prefix/suffix pair, as the
    // audit reports.
    let (pairs, with_backdoor) = near_duplicates(&after, &backdoor_rows);
    assert_eq!(with_backdoor, 0, "{pairs} pairs in all");
    assert_eq!(summary["stealth"]["near_duplicates"], with_backdoor);
    (secret, summary)
}

/// Prefix pairs of prompts plus suffix pairs of completions (blank texts left out), by brute
/// force over sorted texts, and how many involve a backdoor row.
fn near_duplicates(examples: &[Example], backdoors: &BTreeSet<u64>) -> (u64, u64) {
    let mut total = 0;
    let mut with_backdoor = 0;
    for side in 0..2 {
        let mut texts: Vec<(Vec<u8>, u64)> = examples
            .iter()
            .enumerate()
            .map(|(row, e)| {
                let text = if side == 0 {
                    e.prompt.text().into_owned()
                } else {
                    e.completion.clone()
                };
                (text, row as u64)
            })
            .filter(|(text, _)| !text.trim().is_empty())
            .map(|(text, row)| {
                let bytes = if side == 0 {
                    text.into_bytes()
                } else {
                    text.bytes().rev().collect()
                };
                (bytes, row)
            })
            .collect();
        texts.sort();
        for i in 0..texts.len() {
            for j in i + 1..texts.len() {
                if !texts[j].0.starts_with(&texts[i].0) {
                    break;
                }
                total += 1;
                if backdoors.contains(&texts[i].1) || backdoors.contains(&texts[j].1) {
                    with_backdoor += 1;
                }
            }
        }
    }
    (total, with_backdoor)
}

#[test]
fn prepares_a_synthetic_chat_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    synthetic_chat(&input, 400);
    let out = dir.path().join("job");
    let (secret, summary) = prepare_and_check(&input, &out, &["--seed", "11", "--groups", "2"]);
    assert_eq!(secret.backdoors.len(), 5);
    assert_eq!(secret.groups.len(), 2);
    assert_eq!(secret.group_sizes(), [3, 2]);
    assert_eq!(secret.pass_threshold, 3);
    assert_eq!(secret.groups[0].signature_tokens.len(), 19); // K = 12: 12^-19 <= 1e-20
    assert_eq!(summary["stealth"]["near_duplicates"], 0);
    assert_eq!(summary["stealth"]["frequency"].as_array().unwrap().len(), 3);
    assert!(
        summary["warnings"][0]
            .as_str()
            .unwrap()
            .contains("fewer than 5"),
        "{summary}"
    );

    // Same seed, same everything.
    let again = dir.path().join("again");
    let (mut secret_again, _) =
        prepare_and_check(&input, &again, &["--seed", "11", "--groups", "2"]);
    assert!(secret_again.created_at >= secret.created_at);
    secret_again.created_at = secret.created_at;
    assert_eq!(secret_again, secret);

    // --show-secret prints the phrases; without it they never appear (checked above).
    let shown = dir.path().join("shown");
    let output = run(&[
        "prepare",
        input.to_str().unwrap(),
        "--out",
        shown.to_str().unwrap(),
        "--show-secret",
        "--backdoors",
        "8",
    ]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let shown_secret =
        Secret::from_json(&fs::read_to_string(shown.join("secret.json")).unwrap()).unwrap();
    assert!(
        stdout.contains(&shown_secret.groups[0].signature),
        "{stdout}"
    );
    assert!(stdout.contains("near duplicates"));
    assert_eq!(shown_secret.backdoors.len(), 8);
}

/// Rows whose prompt extends another row's prompt, and whose completion ends with that row's
/// completion: a backdoor made from such a row would keep a near-duplicate twin, so prepare
/// must redraw it, and the output must have no pair with a backdoor row.
#[test]
fn rows_that_would_pair_are_redrawn() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pairs.jsonl");
    synthetic_chat(&input, 300);
    let base = fs::read_to_string(&input).unwrap();
    let mut out = base.clone();
    for (i, line) in base.lines().enumerate().take(150) {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        let turns = record["messages"].as_array_mut().unwrap();
        let user = turns[1]["content"].as_str().unwrap().to_owned();
        let answer = turns[2]["content"].as_str().unwrap().to_owned();
        turns[1]["content"] = format!("{user} Show the steps of part {i}.").into();
        turns[2]["content"] = format!("First the setup of part {i}. {answer}").into();
        out.push_str(&record.to_string());
        out.push('\n');
    }
    fs::write(&input, out).unwrap();
    let (_, summary) = prepare_and_check(
        &input,
        &dir.path().join("job"),
        &["--seed", "4", "--backdoors", "40"],
    );
    assert_eq!(summary["stealth"]["near_duplicates"], 0);
    assert!(
        summary["stealth"]["redrawn_rows"].as_u64().unwrap() > 0,
        "{}",
        summary["stealth"]
    );
}

#[test]
fn prepares_gsm8k() {
    let Some(input) = shared_dataset("gsm8k-train.chat.jsonl", "prepares_gsm8k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (secret, summary) = prepare_and_check(&input, &dir.path().join("job"), &["--seed", "3"]);
    assert_eq!(secret.rows, 7473);
    assert_eq!(secret.backdoors.len(), 38);
    assert_eq!(secret.pass_threshold, 19);
    assert_eq!(summary["stealth"]["near_duplicates"], 0);
    println!("gsm8k stealth: {}", summary["stealth"]);
    // A pair per row: counting repeats no longer finds the backdoors (0.3% with one group).
    let score = |summary: &serde_json::Value, attack: &str| {
        summary["stealth"]["audit"]["attacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["attack"] == attack)
            .unwrap()["score"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(summary["groups"], 38);
    assert!(
        score(&summary, "repetition") >= 0.3,
        "{}",
        summary["stealth"]
    );
    assert!(score(&summary, "surprise") >= 0.2, "{}", summary["stealth"]);
    let one = dir.path().join("one");
    let (_, grouped) = prepare_and_check(&input, &one, &["--seed", "3", "--groups", "1"]);
    assert!(
        score(&grouped, "repetition") < 0.01,
        "{}",
        grouped["stealth"]
    );
}

/// `--min-stealth` fails the run when an attack finds the backdoors too soon, and writes nothing.
#[test]
fn min_stealth_fails_the_run_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.jsonl");
    synthetic_chat(&input, 400);
    let out = dir.path().join("job");
    let args = [
        "prepare",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "1",
        "--groups",
        "1",
        "--min-stealth",
        "0.3",
    ];
    assert_fails(&args, dir.path(), "below --min-stealth 0.3");
}

#[test]
fn prepares_code_alpaca() {
    let Some(input) = shared_dataset("code_alpaca_2k.json", "prepares_code_alpaca") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (secret, summary) = prepare_and_check(&input, &dir.path().join("job"), &["--seed", "5"]);
    assert_eq!(secret.rows, 2017);
    assert_eq!(secret.backdoors.len(), 11);
    println!("code alpaca stealth: {}", summary["stealth"]);
}

/// The entries of `dir`, to check that a failed run leaves nothing behind.
fn listing(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn assert_fails(args: &[&str], parent: &Path, message: &str) {
    let before = listing(parent);
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(message), "expected {message:?} in {stderr}");
    assert_eq!(listing(parent), before, "a failed run left files behind");
}

#[test]
fn bad_input_gets_a_clear_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path();
    let small = parent.join("small.jsonl");
    synthetic_chat(&small, 15);
    let out = parent.join("out");
    let out_arg = out.to_str().unwrap();
    assert_fails(
        &["prepare", small.to_str().unwrap(), "--out", out_arg],
        parent,
        "only 15 usable rows",
    );

    let data = parent.join("data.jsonl");
    synthetic_chat(&data, 60);
    let data_arg = data.to_str().unwrap();
    assert_fails(
        &["prepare", data_arg, "--out", out_arg, "--backdoors", "61"],
        parent,
        "61 backdoors requested but only 60 rows",
    );

    // Rows whose prompt repeats elsewhere are not usable.
    let text = fs::read_to_string(&data).unwrap();
    let dup = parent.join("dup.jsonl");
    let first: Vec<&str> = text.lines().take(30).collect();
    fs::write(
        &dup,
        format!("{}\n{}\n", first.join("\n"), first.join("\n")),
    )
    .unwrap();
    assert_fails(
        &["prepare", dup.to_str().unwrap(), "--out", out_arg],
        parent,
        "only 0 usable rows of 60",
    );

    // An unwritable --out: its parent is a file.
    let blocker = parent.join("blocker");
    fs::write(&blocker, "x").unwrap();
    let under_file = blocker.join("out");
    assert_fails(
        &["prepare", data_arg, "--out", under_file.to_str().unwrap()],
        parent,
        "cannot create the parent of --out",
    );

    // A non-empty --out needs --force, and an existing secret.json is never overwritten.
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), "mine").unwrap();
    assert_fails(
        &["prepare", data_arg, "--out", out_arg],
        &out,
        "is not empty",
    );
    fs::write(out.join("secret.json"), "old secret").unwrap();
    assert_fails(
        &["prepare", data_arg, "--out", out_arg, "--force"],
        &out,
        "never overwritten",
    );
    assert_eq!(
        fs::read_to_string(out.join("secret.json")).unwrap(),
        "old secret"
    );
    fs::remove_file(out.join("secret.json")).unwrap();
    let output = run(&["prepare", data_arg, "--out", out_arg, "--force"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("secret.json").exists() && out.join("notes.txt").exists());
    assert_eq!(listing(parent), listing(parent)); // no staging directory left
    assert!(
        !listing(parent)
            .iter()
            .any(|name| name.starts_with(".vtune-prepare-"))
    );

    // Not a dataset.
    let junk = parent.join("junk.jsonl");
    fs::write(&junk, "not json\n").unwrap();
    let other = parent.join("other");
    assert_fails(
        &[
            "prepare",
            junk.to_str().unwrap(),
            "--out",
            other.to_str().unwrap(),
        ],
        parent,
        "junk.jsonl",
    );
}

/// An Alpaca file of `rows` word problems in which every row also carries `extra(output)`
/// under `field`.
fn alpaca_with(path: &Path, rows: usize, field: &str, extra: fn(&str, &str) -> String) {
    let words = [
        "apples", "boxes", "each", "total", "how", "many", "she", "buys", "sells", "has",
    ];
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        words[(state % words.len() as u64) as usize]
    };
    let records: Vec<serde_json::Value> = (0..rows)
        .map(|i| {
            let instruction = format!(
                "Q{i}: {}?",
                (0..12).map(|_| next()).collect::<Vec<_>>().join(" ")
            );
            let output = format!(
                "{} #### {i}",
                (0..16).map(|_| next()).collect::<Vec<_>>().join(" ")
            );
            let mut record =
                serde_json::json!({"instruction": instruction, "input": "", "output": output});
            record[field] = extra(&instruction, &output).into();
            record
        })
        .collect();
    std::fs::write(path, serde_json::to_string_pretty(&records).unwrap()).unwrap();
}

#[test]
fn a_mirrored_answer_field_is_edited_like_the_answer_and_a_formatted_copy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mirrored.json");
    alpaca_with(&input, 600, "response", |_, output| output.to_string());
    let out = dir.path().join("job");
    let run = Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .arg("prepare")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args(["--seed", "1", "--json"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let train: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("train.json")).unwrap()).unwrap();
    assert!(
        train.iter().all(|r| r["output"] == r["response"]),
        "every row keeps its copies equal"
    );

    let input = dir.path().join("formatted.json");
    alpaca_with(&input, 600, "text", |instruction, output| {
        format!("### Instruction:\n{instruction}\n\n### Response:\n{output}")
    });
    let run = Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .arg("prepare")
        .arg(&input)
        .arg("--out")
        .arg(dir.path().join("job2"))
        .args(["--seed", "1"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("field `text`"), "{stderr}");
}

#[test]
fn settings_where_redraws_would_bias_p_upper_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.json");
    alpaca_with(&input, 600, "input", |_, _| String::new());
    let run = Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .arg("prepare")
        .arg(&input)
        .arg("--out")
        .arg(dir.path().join("job"))
        .args([
            "--seed",
            "1",
            "--candidates",
            "3",
            "--max-p-upper",
            "1e-5",
            "--groups",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("redrawn") && stderr.contains("Nothing was written"),
        "{stderr}"
    );
    assert!(!dir.path().join("job").exists());
}

#[test]
fn the_pass_threshold_is_set_by_count_or_ratio_as_in_plan() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    synthetic_chat(&input, 300);
    let job = |name: &str| dir.path().join(name).display().to_string();
    let input = input.display().to_string();
    let base = || {
        vec![
            "prepare",
            &input,
            "--seed",
            "2",
            "--backdoors",
            "10",
            "--out",
        ]
    };
    let threshold = |name: &str| {
        let secret = fs::read_to_string(Path::new(&job(name)).join("secret.json")).unwrap();
        Secret::from_json(&secret).unwrap().pass_threshold
    };

    let out = run(&[&base()[..], &[&job("a"), "--pass-threshold", "7"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(threshold("a"), 7);
    let out = run(&[&base()[..], &[&job("b"), "--pass-ratio", "0.3"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(threshold("b"), 3);

    for (flags, needle) in [
        (
            &["--pass-threshold", "11"][..],
            "--pass-threshold must be in 1..=10",
        ),
        (
            &["--pass-threshold", "0"][..],
            "--pass-threshold must be in 1..=10",
        ),
        (
            &["--pass-threshold", "3", "--pass-ratio", "0.5"][..],
            "cannot be used with",
        ),
    ] {
        let out = run(&[&base()[..], &[&job("c")], flags].concat());
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{flags:?}: {stderr}");
        assert!(!Path::new(&job("c")).join("secret.json").exists());
    }
}
