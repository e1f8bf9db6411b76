//! `keygen`, `id`, `commit` and `check` as a user runs them: real processes, real files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vtune_node::keys;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::samples;

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

/// A small chat dataset in the style of a word-problem set (xorshift-seeded, fixed).
fn synthetic_chat(path: &Path, rows: usize) {
    let words = [
        "apples", "boxes", "each", "total", "how", "many", "the", "she", "buys", "sells", "has",
        "dollars", "per", "week", "if", "then", "more", "than", "twice", "half", "of", "and",
        "his", "friend", "gives", "away", "left", "after", "days", "cost", "price", "store",
    ];
    let mut state = 0x2545f4914f6cdd1du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut out = String::new();
    for row in 0..rows {
        let mut sentence = |len: usize| {
            (0..len)
                .map(|_| words[next(words.len())])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let question = format!("Q{row}: {}?", sentence(14));
        let answer = format!("{}.\n#### {row}", sentence(18));
        let record = serde_json::json!({"messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]});
        out.push_str(&record.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// A job dir made by the real `prepare`: secret.json and commitment.json.
fn job_dir(root: &Path, data: &Path) -> PathBuf {
    let input = root.join("chat.jsonl");
    synthetic_chat(&input, 400);
    let job = root.join("job");
    let out = vtune(
        data,
        &[
            "prepare",
            input.to_str().unwrap(),
            "--out",
            job.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "prepare: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    job
}

fn commit(data: &Path, job: &Path) -> Output {
    vtune(
        data,
        &[
            "commit",
            "--job",
            job.to_str().unwrap(),
            "--provider",
            "acme",
            "--base-model",
            "llama",
        ],
    )
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
    let job = job_dir(dir.path(), &data);
    let out = commit(&data, &job);
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
    let prepared: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(job.join("commitment.json")).unwrap())
            .unwrap();
    assert_eq!(view["message"]["job_id"], prepared["job_id"]);
    assert_eq!(view["message"]["commitment_digest"], prepared["commitment"]);

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
fn reveal_opens_the_commitment_and_check_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let job = job_dir(dir.path(), &data);
    assert!(commit(&data, &job).status.success());
    let out = vtune(&data, &["reveal", "--job", job.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = json(&out);
    let reveal_msg = job.join("reveal.msg");
    let mode = std::fs::metadata(&reveal_msg).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the reveal stays private until published"
    );

    let out = vtune(&data, &["check", reveal_msg.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let view = json(&out);
    assert_eq!(view["kind"], "reveal");
    assert_eq!(view["id"], written["id"]);
    assert!(view["commitment_checked"].is_string());
    // The revealed phrases are shown readably, as in secret.json.
    let secret = json_file(&job.join("secret.json"));
    let revealed = view["revealed"].as_array().expect("the phrases");
    assert_eq!(revealed.len(), secret["groups"].as_array().unwrap().len());
    assert_eq!(revealed[0]["trigger"], secret["groups"][0]["trigger"]);
    let out = vtune(&data, &["check", reveal_msg.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("group 1: trigger"));

    // A validly signed reveal of another set does not open the commitment.
    let key = keys::load(&data.join(keys::KEY_FILE)).unwrap();
    let prepared = json_file(&job.join("commitment.json"));
    let mut other = samples::reveal();
    other.job_id = prepared["job_id"].as_str().unwrap().parse().unwrap();
    let other = Envelope::seal(&other, key.signing_key()).unwrap();
    std::fs::write(job.join("other.msg"), other.to_bytes()).unwrap();
    let out = vtune(&data, &["check", job.join("other.msg").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("commitment digest"), "{stderr}");

    // Without a commitment to check against, a reveal is not valid.
    let alone = dir.path().join("alone.msg");
    std::fs::copy(&reveal_msg, &alone).unwrap();
    let out = vtune(&data, &["check", alone.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let commitment = job.join("commitment.msg");
    let out = vtune(
        &data,
        &[
            "check",
            alone.to_str().unwrap(),
            "--commitment",
            commitment.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());

    // Another node's reveal of the same set is not the buyer's.
    let stranger = dir.path().join("stranger");
    let out = vtune(&stranger, &["reveal", "--job", job.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("signed by"));
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn check_refuses_an_attestation_whose_alpha_or_plan_differ_from_its_commitment() {
    use vtune_protocol::messages::{Attestation, MessageId, TestPlan};
    let dir = tempfile::tempdir().unwrap();
    let key = vtune_node::keys::NodeKey::from_seed([4; 32]);
    let commitment = samples::commitment(key.public(), "acme");
    let c_bytes = Envelope::seal(&commitment, key.signing_key())
        .unwrap()
        .to_bytes();
    std::fs::write(dir.path().join("commitment.msg"), &c_bytes).unwrap();
    let honest = samples::attestation(key.public(), MessageId::of(&c_bytes), "acme", 9);
    let mut other_alpha = honest.clone();
    other_alpha.log10_alpha = -3.0;
    let other_plan = Attestation {
        plan: TestPlan {
            max_tokens: 9,
            ..honest.plan.clone()
        },
        ..honest.clone()
    };
    let path = dir.path().join("attestation.msg");
    let check = |a: &Attestation| {
        let bytes = Envelope::seal(a, key.signing_key()).unwrap().to_bytes();
        std::fs::write(&path, bytes).unwrap();
        vtune(dir.path(), &["check", path.to_str().unwrap()])
    };
    assert!(check(&honest).status.success());
    for (bad, field) in [(&other_alpha, "log10_alpha"), (&other_plan, "plan")] {
        let out = check(bad);
        assert!(!out.status.success(), "{field}: check must refuse it");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(field), "{stderr}");
    }
}

#[test]
fn check_of_a_json_file_points_at_the_signed_message() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("attestation.json");
    std::fs::write(&json, "{\"verdict\": \"pass\"}").unwrap();
    std::fs::write(dir.path().join("attestation.msg"), b"x").unwrap();
    let out = vtune(dir.path(), &["check", json.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a signed message") && stderr.contains("attestation.msg"),
        "{stderr}"
    );
}

#[test]
fn signing_in_a_data_dir_that_does_not_exist_warns_of_a_new_identity() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_dir(dir.path(), &dir.path().join("prepare-data"));
    let fresh = dir.path().join("no-such-dir");
    let out = commit(&fresh, &job);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("NEW node identity"),
        "{stderr}"
    );
}

#[test]
fn commit_names_witnesses_and_seal_seals_the_set_to_each_alone() {
    use vtune_protocol::messages::{Commitment, SealedSecret};
    let dir = tempfile::tempdir().unwrap();
    let (data, w1, w2) = (
        dir.path().join("buyer"),
        dir.path().join("w1"),
        dir.path().join("w2"),
    );
    let job = job_dir(dir.path(), &data);
    let id = |d: &Path| json(&vtune(d, &["id", "--json"]));
    let (first, second) = (id(&w1), id(&w2));
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
            "--witness",
            first["public_key"].as_str().unwrap(),
            "--witness",
            second["peer_id"].as_str().unwrap(),
            "--reveal-window",
            "600",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(job.join("commitment.msg")).unwrap();
    let commitment = vtune_protocol::messages::open::<Commitment>(&bytes).unwrap();
    let c = commitment.message();
    let named: Vec<String> = c.witnesses.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        named,
        [first["public_key"].clone(), second["public_key"].clone()]
    );
    assert_eq!(c.reveal_after, c.created_at + 600);

    let seal = |job: &Path| {
        vtune(
            &data,
            &[
                "seal",
                "--job",
                job.to_str().unwrap(),
                "--endpoint",
                "http://127.0.0.1:9/v1",
                "--model",
                "ft-job",
                "--json",
            ],
        )
    };
    let out = seal(&job);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sealed_bytes = std::fs::read(job.join("sealed.msg")).unwrap();
    let out = vtune(
        &data,
        &["check", job.join("sealed.msg").to_str().unwrap(), "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        json(&out)["commitment_checked"],
        commitment.id().to_string()
    );
    let sealed = vtune_protocol::messages::open::<SealedSecret>(&sealed_bytes).unwrap();
    // No trigger or signature text in the clear.
    let secret = json_file(&job.join("secret.json"));
    let trigger = secret["groups"][0]["trigger"].as_str().unwrap();
    let signature = secret["groups"][0]["signature"].as_str().unwrap();
    let text = String::from_utf8_lossy(&sealed_bytes);
    assert!(!text.contains(trigger) && !text.contains(signature));
    // Each witness opens its own box: the set, the endpoint and controls to use.
    for w in [&w1, &w2] {
        let key = keys::load(&w.join(keys::KEY_FILE)).unwrap();
        let opened = sealed.message().open_for(key.signing_key()).unwrap();
        assert_eq!(opened.brief.endpoint, "http://127.0.0.1:9/v1");
        assert_eq!(opened.commitment.id(), commitment.id());
        assert_eq!(opened.brief.controls.len() as u64, 4 * c.plan.controls);
        assert_eq!(opened.set.groups[0].trigger, trigger);
    }
    // The buyer's own key opens nothing.
    let buyer = keys::load(&data.join(keys::KEY_FILE)).unwrap();
    assert!(sealed.message().open_for(buyer.signing_key()).is_err());

    // A secret set that no longer hashes to the commitment is not sealed.
    let mut changed = secret.clone();
    changed["groups"][0]["trigger"] = "another trigger".into();
    std::fs::write(job.join("secret.json"), changed.to_string()).unwrap();
    std::fs::remove_file(job.join("sealed.msg")).unwrap();
    let out = seal(&job);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("commitment digest"), "{stderr}");
    assert!(!job.join("sealed.msg").exists());
}
