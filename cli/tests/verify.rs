//! End-to-end tests of `vtune-node provider-sim` and `vtune-node verify`: the real binary,
//! as separate processes, over loopback HTTP, on a job that `prepare` made.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vtune_protocol::synthetic;

mod simulator;
use simulator::{Provider, prepare, provider, vtune};

fn verify(job: &Path, provider: &Provider, extra: &[&str]) -> (Output, serde_json::Value) {
    let output = vtune()
        .arg("verify")
        .arg("--job")
        .arg(job)
        .args(["--endpoint", &provider.base, "--model", "vtune-sim"])
        .args(["--seed", "2", "--json"])
        .args(extra)
        .output()
        .expect("verify runs");
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "verify prints JSON ({err}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, json)
}

/// A prepared job of 2,000 synthetic chat rows in `dir/job`.
fn prepared_job(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("input.jsonl");
    let mut file = fs::File::create(&input).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for record in synthetic::chat_records(2000, &mut rng) {
        writeln!(file, "{record}").unwrap();
    }
    let job = dir.join("job");
    prepare(&input, &job);
    job
}

#[test]
fn verify_passes_honest_fails_base_and_is_inconclusive_on_a_failing_server() {
    let dir = tempfile::tempdir().unwrap();
    let job = prepared_job(dir.path());

    let honest = provider(&job, &["--behavior", "honest"]);
    let (output, json) = verify(&job, &honest, &[]);
    assert_eq!(output.status.code(), Some(0), "{json:#}");
    assert_eq!(json["verdict"], "pass");
    // About (1 + 7 n) * p_upper: answers are searched at 8 offsets (specs/statistics.md).
    assert!(json["log10_p_value"].as_f64().unwrap() <= -19.0, "{json:#}");
    assert_eq!(json["activated"], json["checks"]);
    assert!(json["meaning"].as_str().unwrap().contains("stealth audit"));
    let transcript = job.join("transcript.jsonl");
    let mode = fs::metadata(&transcript).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let attestation: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(job.join("attestation.json")).unwrap()).unwrap();
    let digest = blake3::hash(&fs::read(&transcript).unwrap())
        .to_hex()
        .to_string();
    assert_eq!(attestation["transcript_blake3"], digest.as_str());
    assert_eq!(attestation["verdict"], "pass");
    drop(honest);

    let base = provider(&job, &["--behavior", "base"]);
    let (output, json) = verify(&job, &base, &["--checks", "10", "--controls", "3"]);
    assert_eq!(output.status.code(), Some(1), "{json:#}");
    assert_eq!(json["verdict"], "fail");
    assert_eq!(json["evidence_of_training"], false);
    assert_eq!(
        (json["checks"].as_u64(), json["controls"].as_u64()),
        (Some(10), Some(3))
    );
    drop(base);

    let failing = provider(&job, &["--behavior", "honest", "--fail-rate", "1"]);
    let (output, json) = verify(&job, &failing, &["--max-retries", "1"]);
    assert_eq!(output.status.code(), Some(3), "{json:#}");
    assert_eq!(json["verdict"], "inconclusive");
}

#[test]
fn verify_reports_usage_and_input_errors_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = vtune()
        .arg("verify")
        .arg("--job")
        .arg(dir.path())
        .args(["--endpoint", "http://127.0.0.1:9/v1", "--model", "m"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("secret.json"));
    let help = vtune().args(["verify", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Exit codes:") && help.contains("3  inconclusive"));
}

fn vtune_in(data: &Path) -> Command {
    let mut command = vtune();
    command.env("VTUNE_DATA_DIR", data);
    command
}

#[test]
fn the_commitment_fixes_the_test_and_every_run_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let job = prepared_job(dir.path());
    let buyer = dir.path().join("buyer");
    let out = vtune_in(&buyer)
        .args(["commit", "--job"])
        .arg(&job)
        .args(["--provider", "sim", "--base-model", "m", "--alpha", "1e-15"])
        .args(["--checks", "8", "--controls", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let honest = provider(&job, &["--behavior", "honest"]);
    let run = |data: &Path, extra: &[&str]| {
        vtune_in(data)
            .arg("verify")
            .arg("--job")
            .arg(&job)
            .args([
                "--endpoint",
                &honest.base,
                "--model",
                "vtune-sim",
                "--seed",
                "2",
                "--json",
            ])
            .args(extra)
            .output()
            .unwrap()
    };

    // A flag that contradicts the commitment is an error; nothing is sent or written.
    let out = run(&buyer, &["--alpha", "1e-3"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("contradict") && stderr.contains("--alpha"),
        "{stderr}"
    );
    assert!(!job.join("attestation.json").exists());
    // So is signing with a key that is not the buyer's.
    let out = run(&dir.path().join("stranger"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("buyer key"));
    assert!(!job.join("attestation.json").exists());

    // The committed alpha, checks and controls are used.
    let out = run(&buyer, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["checks"].as_u64(), json["controls"].as_u64()),
        (Some(8), Some(2))
    );
    assert_eq!(json["log10_alpha"].as_f64(), Some(-15.0), "{json:#}");
    let check = vtune()
        .arg("check")
        .arg(job.join("attestation.msg"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // A second run keeps the first run's files.
    let first = fs::read(job.join("attestation.msg")).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let out = run(&buyer, &[]);
    assert_eq!(out.status.code(), Some(0));
    let kept: Vec<_> = fs::read_dir(job.join("attestations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        kept.iter()
            .filter(|p| p.extension().unwrap() == "msg")
            .count(),
        2
    );
    assert_eq!(
        kept.iter()
            .filter(|p| p.extension().unwrap() == "json")
            .count(),
        2
    );
    assert!(
        kept.iter().any(|p| fs::read(p).unwrap() == first),
        "the first run's .msg is kept"
    );
}

#[test]
fn a_misconfigured_endpoint_is_a_usage_error_and_any_url_form_works() {
    let dir = tempfile::tempdir().unwrap();
    let job = prepared_job(dir.path());
    let honest = provider(&job, &["--behavior", "honest"]);
    let root = honest.base.trim_end_matches("/v1").to_string();
    let run = |endpoint: &str, model: &str| {
        vtune()
            .arg("verify")
            .arg("--job")
            .arg(&job)
            .args([
                "--endpoint",
                endpoint,
                "--model",
                model,
                "--seed",
                "2",
                "--json",
            ])
            .args(["--checks", "4", "--controls", "1"])
            .output()
            .unwrap()
    };
    let cases = [
        (
            honest.base.clone(),
            "no-such-model",
            "does not serve the model `no-such-model`",
        ),
        (
            "http://127.0.0.1:9/v1".to_string(),
            "vtune-sim",
            "cannot reach",
        ),
        (format!("{root}/v2"), "vtune-sim", "does not exist"),
    ];
    for (endpoint, model, needle) in cases {
        let out = run(&endpoint, model);
        assert_eq!(out.status.code(), Some(2), "{endpoint} {model}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{endpoint}: {stderr}");
        assert!(
            !job.join("attestation.json").exists(),
            "nothing written for {endpoint}"
        );
    }
    for endpoint in [
        root.clone(),
        format!("{root}/v1/chat/completions"),
        honest.base.clone(),
    ] {
        let out = run(&endpoint, "vtune-sim");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{endpoint}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_api_key_comes_from_openai_api_key_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let job = prepared_job(dir.path());
    // A key that cannot be sent in a header: the error proves the variable was read.
    let out = vtune()
        .arg("verify")
        .arg("--job")
        .arg(&job)
        .args(["--endpoint", "http://127.0.0.1:9/v1", "--model", "m"])
        .env("OPENAI_API_KEY", "bad\nkey")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("API key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn provider_sim_prints_its_endpoint_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let job = prepared_job(dir.path());
    let mut child = vtune()
        .arg("provider-sim")
        .arg("--train")
        .arg(job.join("train.jsonl"))
        .args(["--listen", "127.0.0.1:0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    let endpoint = json["endpoint"].as_str().unwrap();
    assert!(
        endpoint.starts_with("http://127.0.0.1:") && endpoint.ends_with("/v1"),
        "{json}"
    );
    assert_eq!(json["model"], "vtune-sim");
}
