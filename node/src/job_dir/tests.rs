use std::os::unix::fs::PermissionsExt;

use vtune_protocol::messages::{Reveal, samples};

use super::*;
use crate::keys::NodeKey;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn install_replaces_atomically_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.json");
    install(&file, b"one", PUBLIC, Replace::Yes).unwrap();
    install(&file, b"two", PUBLIC, Replace::Yes).unwrap();
    assert_eq!(fs::read(&file).unwrap(), b"two");
    assert_eq!(names(dir.path()), ["a.json"]);
}

#[test]
fn install_sets_the_mode_even_over_a_looser_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.json");
    fs::write(&file, b"old").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    install(&file, b"new", PRIVATE, Replace::Yes).unwrap();
    assert_eq!(mode(&file), 0o600);
    install(&dir.path().join("public"), b"x", PUBLIC, Replace::Yes).unwrap();
    assert_eq!(mode(&dir.path().join("public")), 0o644);
}

#[test]
fn install_without_replace_refuses_an_existing_file_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("commitment.msg");
    install(&file, b"mine", PUBLIC, Replace::No).unwrap();
    let err = install(&file, b"other", PUBLIC, Replace::No).unwrap_err();
    assert!(err.is_exists(), "{err}");
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read(&file).unwrap(), b"mine");
    assert_eq!(names(dir.path()), ["commitment.msg"]);
}

#[test]
fn a_signed_message_round_trips_through_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let job = JobDir::new(dir.path());
    let key = NodeKey::from_seed([7; 32]);
    let commitment = samples::commitment(key.public(), "provider");
    let written = job
        .write_signed(
            COMMITMENT_MSG,
            &commitment,
            key.signing_key(),
            PUBLIC,
            Replace::No,
        )
        .unwrap();
    let read = job.commitment().unwrap();
    assert_eq!(read.id(), written.id());
    assert_eq!(read.message(), &commitment);
    assert_eq!(read.signer(), key.public());
    assert_eq!(
        read_message(&job.file(COMMITMENT_MSG)).unwrap().id(),
        written.id()
    );
    // Not replaced without asking, replaced when asked.
    let again = job.write_signed(
        COMMITMENT_MSG,
        &commitment,
        key.signing_key(),
        PUBLIC,
        Replace::No,
    );
    assert!(again.is_err_and(|e| e.is_exists()));
    job.write_signed(
        COMMITMENT_MSG,
        &commitment,
        key.signing_key(),
        PUBLIC,
        Replace::Yes,
    )
    .unwrap();
    // A reveal is private.
    job.write_signed(
        REVEAL_MSG,
        &samples::reveal(),
        key.signing_key(),
        PRIVATE,
        Replace::Yes,
    )
    .unwrap();
    assert_eq!(mode(&job.file(REVEAL_MSG)), 0o600);
}

#[test]
fn every_error_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let job = JobDir::new(dir.path());
    let named = |err: JobDirError, file: &str| {
        let text = err.to_string();
        assert!(text.contains(file), "{text} should name {file}");
        text
    };
    assert!(named(job.secret().unwrap_err(), SECRET_JSON).contains("prepared job"));
    named(job.commitment_file().unwrap_err(), COMMITMENT_JSON);
    named(job.commitment().unwrap_err(), COMMITMENT_MSG);
    named(
        job.train_file().unwrap_err(),
        &dir.path().display().to_string(),
    );

    fs::write(job.file(SECRET_JSON), "{}").unwrap();
    named(job.secret().unwrap_err(), SECRET_JSON);
    fs::write(job.file(COMMITMENT_MSG), b"not an envelope").unwrap();
    named(job.commitment().unwrap_err(), COMMITMENT_MSG);

    // Another kind of message where a commitment belongs.
    let key = NodeKey::from_seed([8; 32]);
    let reveal: Reveal = samples::reveal();
    job.write_signed(
        COMMITMENT_MSG,
        &reveal,
        key.signing_key(),
        PUBLIC,
        Replace::Yes,
    )
    .unwrap();
    let text = named(job.commitment().unwrap_err(), COMMITMENT_MSG);
    assert!(text.contains("holds a reveal"), "{text}");

    // A JSON file points at the signed message beside it.
    fs::write(job.file(ATTESTATION_JSON), "{}").unwrap();
    let text = named(
        read_message(&job.file(ATTESTATION_JSON)).unwrap_err(),
        ATTESTATION_JSON,
    );
    assert!(text.contains("not a signed message"), "{text}");
    fs::write(job.file(ATTESTATION_MSG), b"x").unwrap();
    let text = named(
        read_message(&job.file(ATTESTATION_JSON)).unwrap_err(),
        ATTESTATION_MSG,
    );
    assert!(text.contains("beside it"), "{text}");
}

#[test]
fn the_training_file_is_the_one_train_file() {
    let dir = tempfile::tempdir().unwrap();
    let job = JobDir::new(dir.path());
    fs::write(job.file("train.jsonl"), "").unwrap();
    assert_eq!(job.train_file().unwrap(), job.file("train.jsonl"));
    fs::write(job.file("train.csv"), "").unwrap();
    assert!(
        job.train_file()
            .unwrap_err()
            .to_string()
            .contains("2 train.*")
    );
}

#[test]
fn every_run_is_kept_and_none_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let job = JobDir::new(dir.path());
    let key = NodeKey::from_seed([9; 32]);
    write_json(
        &job.file(ATTESTATION_JSON),
        &serde_json::json!({"run": 1}),
        PUBLIC,
    )
    .unwrap();
    let first = job.keep_run(100, "abcdef0123456789ff", false).unwrap();
    assert_eq!(first, job.file("attestations/100-abcdef0123456789.json"));
    write_json(
        &job.file(ATTESTATION_JSON),
        &serde_json::json!({"run": 2}),
        PUBLIC,
    )
    .unwrap();
    let second = job.keep_run(100, "abcdef0123456789ff", false).unwrap();
    assert_eq!(second, job.file("attestations/100-abcdef0123456789-2.json"));
    assert!(fs::read_to_string(&first).unwrap().contains("\"run\": 1"));
    assert!(fs::read_to_string(&second).unwrap().contains("\"run\": 2"));

    let signed = job
        .write_signed(
            ATTESTATION_MSG,
            &samples::reveal(),
            key.signing_key(),
            PUBLIC,
            Replace::Yes,
        )
        .unwrap();
    let kept = job.keep_run(101, "unused", true).unwrap();
    let stem = format!("101-{}", &signed.id().to_string()[..16]);
    assert_eq!(kept, job.file(&format!("attestations/{stem}.json")));
    assert_eq!(
        fs::read(job.file(&format!("attestations/{stem}.msg"))).unwrap(),
        fs::read(job.file(ATTESTATION_MSG)).unwrap()
    );
}
