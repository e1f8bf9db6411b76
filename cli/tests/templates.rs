//! An honest provider passes for every dataset format × route × template: the simulator trains
//! on each row as the template renders it, and verification sends what makes the served model
//! read exactly that (specs/verification.md, "Templates"). The real binary, as separate
//! processes, over loopback HTTP.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};
use vtune_protocol::dataset::{Route, Template};
use vtune_protocol::synthetic;

mod simulator;
use simulator::{prepare, provider, vtune};

/// Writes row number `row`, with its prompt and answer, as a record of one format.
type WriteRow = fn(usize, &str, &str) -> Value;

/// The formats, each with how a synthetic chat row is written in it.
const FORMATS: [(&str, WriteRow); 4] = [
    ("openai-chat", |_, prompt, answer| {
        json!({"messages": [
            {"role": "system", "content": "You solve word problems."},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        ]})
    }),
    ("sharegpt", |_, prompt, answer| {
        json!({"conversations": [
            {"from": "human", "value": prompt},
            {"from": "gpt", "value": answer},
        ]})
    }),
    // Every other row has an input, so that the Alpaca template's `### Input:` is exercised.
    ("alpaca", |row, prompt, answer| {
        if row % 2 == 0 {
            json!({"instruction": prompt, "input": "", "output": answer})
        } else {
            json!({"instruction": "Solve this word problem. Show your steps.", "input": prompt, "output": answer})
        }
    }),
    (
        "prompt-completion",
        |_, prompt, answer| json!({"prompt": prompt, "completion": answer}),
    ),
];

/// A job prepared from 600 synthetic rows written in `format`.
fn prepared(dir: &Path, format: &str, write: WriteRow) -> PathBuf {
    let input = dir.join(format!("{format}.jsonl"));
    let mut file = fs::File::create(&input).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for (row, record) in synthetic::chat_records(600, &mut rng).iter().enumerate() {
        let turns = record["messages"].as_array().unwrap();
        let (prompt, answer) = (
            turns[0]["content"].as_str().unwrap(),
            turns[1]["content"].as_str().unwrap(),
        );
        writeln!(file, "{}", write(row, prompt, answer)).unwrap();
    }
    let job = dir.join(format);
    prepare(&input, &job);
    job
}

/// Runs `verify` with `args`; its exit code and JSON (`Null` when it printed none).
fn verify(job: &Path, base: &str, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = vtune()
        .env("VTUNE_DATA_DIR", job.join("node"))
        .arg("verify")
        .arg("--job")
        .arg(job)
        .args([
            "--endpoint",
            base,
            "--model",
            "vtune-sim",
            "--seed",
            "3",
            "--json",
        ])
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_honest_provider_passes_for_every_format_route_and_template() {
    let dir = tempfile::tempdir().unwrap();
    for (format, write) in FORMATS {
        let job = prepared(dir.path(), format, write);
        for template in Template::ALL {
            let honest = provider(&job, &["--template", template.name()]);
            for route in [Route::Chat, Route::Completions] {
                let route_name = route.to_string();
                let flags = ["--route", &route_name, "--template", template.name()];
                let flags = [&flags[..], &["--controls", "3"]].concat();
                let (code, json, stderr) = verify(&job, &honest.base, &flags);
                let case = format!("{format} × {route} × {template}");
                if template.check_route(route).is_err() {
                    // A route that cannot carry the template is a usage error, never a verdict.
                    assert_eq!(code, Some(2), "{case}: {json:#} {stderr}");
                    assert!(stderr.contains("template"), "{case}: {stderr}");
                    continue;
                }
                assert_eq!(code, Some(0), "{case}: {json:#} {stderr}");
                assert_eq!(json["verdict"], "pass", "{case}: {json:#}");
                assert_eq!(json["activated"], json["checks"], "{case}: {json:#}");
                assert_eq!(json["false_activations"], 0, "{case}: {json:#}");
            }
        }
    }
}

#[test]
fn the_defaults_meet_and_a_committed_template_is_the_one_sent() {
    let dir = tempfile::tempdir().unwrap();
    let job = prepared(dir.path(), "alpaca", FORMATS[2].1);

    // Alpaca data on the chat route, both sides at their defaults: the rows are trained and
    // asked as one user message (this was 0 of 11 activations when the chat route wrapped a
    // prompt that was trained as plain text).
    let default = provider(&job, &[]);
    let (code, json, stderr) = verify(&job, &default.base, &[]);
    assert_eq!(code, Some(0), "{json:#} {stderr}");
    assert_eq!(
        (&json["verdict"], &json["api"]),
        (&json!("pass"), &json!("chat"))
    );

    // A provider that trained on another rendering than the committed one is not matched:
    // the template decides what the model reads.
    let node = job.join("node");
    let out = vtune()
        .env("VTUNE_DATA_DIR", &node)
        .args(["commit", "--job"])
        .arg(&job)
        .args(["--provider", "sim", "--base-model", "m"])
        .args(["--route", "completions", "--template", "alpaca"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, json, stderr) = verify(&job, &default.base, &[]);
    assert_eq!(code, Some(1), "{json:#} {stderr}");
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["api"], "completions");

    let alpaca = provider(&job, &["--template", "alpaca"]);
    let (code, json, stderr) = verify(&job, &alpaca.base, &[]);
    assert_eq!(code, Some(0), "{json:#} {stderr}");
    let attestation: Value =
        serde_json::from_str(&fs::read_to_string(job.join("attestation.json")).unwrap()).unwrap();
    assert_eq!(attestation["template"], "alpaca", "{attestation:#}");
    assert_eq!(attestation["api"], "completions");
    // The transcript holds the prompts as sent: the Alpaca rendering.
    let transcript = fs::read_to_string(job.join("transcript.jsonl")).unwrap();
    assert!(transcript.contains("### Instruction:"));

    // A commitment whose route cannot carry its template is refused before it is signed.
    let out = vtune()
        .env("VTUNE_DATA_DIR", dir.path().join("other"))
        .args(["commit", "--job"])
        .arg(&job)
        .args(["--provider", "sim", "--base-model", "m", "--force"])
        .args(["--route", "chat", "--template", "raw"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chat route"));
}
