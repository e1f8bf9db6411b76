//! `keygen`, `id`, `commit` and `check` as a user runs them: real processes, real files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vtune_node::keys;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::{reveal_digest, samples};

fn vtune(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .args(args)
        .env("VTUNE_DATA_DIR", data_dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run vtune-node")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A prepared job dir with a `commitment.json` committing to the sample secret set.
fn job_dir(root: &Path) -> PathBuf {
    let job = root.join("job");
    std::fs::create_dir_all(&job).unwrap();
    let commitment = serde_json::json!({
        "version": 1,
        "job_id": samples::SAMPLE_JOB.to_string(),
        "commitment": reveal_digest(&samples::SAMPLE_SALT, samples::SAMPLE_SECRET_SET).to_string(),
        "train_digest": "ab".repeat(32),
        "layout": "jsonl",
        "rows": 10000,
        "backdoors": 50,
        "groups": 1,
        "pass_threshold": 5,
        "log10_p_upper": -21.07,
        "candidates": 32,
        "signature_tokens": 14,
        "created_at": 1
    });
    std::fs::write(job.join("commitment.json"), commitment.to_string()).unwrap();
    job
}

#[test]
fn keygen_then_id_print_the_same_identity() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = vtune(&data, &["keygen", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = json(&out);
    let key_file = data.join(keys::KEY_FILE);
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let id = json(&vtune(&data, &["id", "--json"]));
    assert_eq!(id["public_key"], created["public_key"]);
    assert_eq!(id["peer_id"], created["peer_id"]);
    assert!(id["peer_id"].as_str().unwrap().starts_with("12D3KooW"));

    let again = vtune(&data, &["keygen"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let loose = vtune(&data, &["id"]);
    assert!(!loose.status.success());
    let stderr = String::from_utf8_lossy(&loose.stderr);
    assert!(
        stderr.contains(&format!("chmod 600 {}", key_file.display())),
        "{stderr}"
    );
}

#[test]
fn commit_writes_a_commitment_that_check_accepts_and_every_tampered_byte_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let job = job_dir(dir.path());
    let out = vtune(
        &data,
        &[
            "commit",
            "--job",
            job.to_str().unwrap(),
            "--provider",
            "acme",
            "--base-model",
            "llama",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("created a new node key"),
        "the first command that needs a key says it made one"
    );
    let msg = job.join("commitment.msg");
    let checked = vtune(&data, &["check", msg.to_str().unwrap(), "--json"]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let view = json(&checked);
    let me = json(&vtune(&data, &["id", "--json"]));
    assert_eq!(view["valid"], true);
    assert_eq!(view["kind"], "commitment");
    assert_eq!(view["signer"], me["public_key"]);
    assert_eq!(view["signer_peer_id"], me["peer_id"]);
    assert_eq!(view["message"]["provider"], "acme");
    assert_eq!(view["message"]["job_id"], samples::SAMPLE_JOB.to_string());

    let original = std::fs::read(&msg).unwrap();
    let tampered = dir.path().join("tampered.msg");
    for i in 0..original.len() {
        let mut bytes = original.clone();
        bytes[i] ^= 0x20;
        std::fs::write(&tampered, &bytes).unwrap();
        let out = vtune(&data, &["check", tampered.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(1), "byte {i} flipped is accepted");
        let report = json(&out);
        assert_eq!(report["valid"], false);
        assert!(!report["error"].as_str().unwrap().is_empty());
    }
}

#[test]
fn check_verifies_a_reveal_against_the_commitment_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let job = job_dir(dir.path());
    let commit = vtune(
        &data,
        &[
            "commit",
            "--job",
            job.to_str().unwrap(),
            "--provider",
            "acme",
            "--base-model",
            "llama",
        ],
    );
    assert!(commit.status.success());
    let key = keys::load(&data.join(keys::KEY_FILE)).unwrap();

    let reveal = Envelope::seal(&samples::reveal(), key.signing_key()).unwrap();
    std::fs::write(job.join("reveal.msg"), reveal.to_bytes()).unwrap();
    let out = vtune(
        &data,
        &["check", job.join("reveal.msg").to_str().unwrap(), "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json(&out)["kind"], "reveal");

    // A reveal of another set, validly signed, does not open the commitment.
    let mut other = samples::reveal();
    other.secret_set.push(b'.');
    let other = Envelope::seal(&other, key.signing_key()).unwrap();
    std::fs::write(job.join("other.msg"), other.to_bytes()).unwrap();
    let out = vtune(&data, &["check", job.join("other.msg").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("commitment digest"));

    // Without a commitment to check against, a reveal is not valid.
    let alone = dir.path().join("alone.msg");
    std::fs::write(&alone, reveal.to_bytes()).unwrap();
    let out = vtune(&data, &["check", alone.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let out = vtune(
        &data,
        &[
            "check",
            alone.to_str().unwrap(),
            "--commitment",
            job.join("commitment.msg").to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
}
