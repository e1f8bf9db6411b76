//! End-to-end tests of `vtune-node provider-sim` and `vtune-node verify`: the real binary,
//! as separate processes, over loopback HTTP, on a job that `prepare` made.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vtune_protocol::synthetic;

fn vtune() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vtune-node"))
}

/// A simulated provider process; killed on drop.
struct Provider {
    child: Child,
    base: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `provider-sim` on a free port and waits for its `listening on` line.
fn provider(job: &Path, args: &[&str]) -> Provider {
    let mut child = vtune()
        .arg("provider-sim")
        .arg("--train")
        .arg(job.join("train.jsonl"))
        .arg("--secret")
        .arg(job.join("secret.json"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("provider-sim starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("provider-sim prints its address");
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Provider {
        child,
        base: format!("{address}/v1"),
    }
}

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
    let output = vtune()
        .arg("prepare")
        .arg(&input)
        .arg("--out")
        .arg(&job)
        .args(["--seed", "1", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "prepare: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
