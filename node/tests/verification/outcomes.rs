//! What each kind of provider gets: honest passes, base fails without evidence, backdoor-only
//! passes, subset:F activates exactly on the backdoor rows it trained on.

use std::os::unix::fs::PermissionsExt;

use vtune_node::sim::{Behavior, Faults};
use vtune_node::verifier::{self, AttestationFile};
use vtune_protocol::stats::log10_hypergeom_upper_tail;
use vtune_protocol::verdict::Verdict;

use super::support::{PER_GROUP, ROWS, THRESHOLD, build_job};

#[tokio::test]
async fn an_honest_provider_passes_with_a_tiny_p_value() {
    let job = build_job(1);
    let served = job.serve(Behavior::Honest, 0, Faults::default()).await;
    let run = job.verify(served.config(), 10).await;
    let report = &run.report;
    assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
    assert!(report.log10_p_value <= -20.0, "{}", report.log10_p_value);
    assert!(report.evidence_of_training);
    assert_eq!(report.activated, 2 * PER_GROUP as u64);
    assert_eq!((report.errors, report.controls), (0, 10));
    assert_eq!(report.false_activations, 0);
    for group in &report.groups {
        assert_eq!(group.matched_tokens, group.signature_tokens);
        assert_eq!(group.full_activations, PER_GROUP as u64);
    }
}

#[tokio::test]
async fn a_base_model_fails_without_evidence_of_training() {
    let job = build_job(2);
    let served = job.serve(Behavior::Base, 0, Faults::default()).await;
    let report = job.verify(served.config(), 10).await.report;
    assert_eq!(report.verdict, Verdict::Fail, "{report:#?}");
    assert!(!report.evidence_of_training);
    assert_eq!((report.activated, report.errors), (0, 0));
    assert!(report.log10_p_value > -6.0);
}

#[tokio::test]
async fn a_backdoor_only_provider_passes() {
    // Verification cannot tell it from an honest one: that is what prepare's stealth audit
    // guards against.
    let job = build_job(3);
    let served = job
        .serve(Behavior::BackdoorOnly, 0, Faults::default())
        .await;
    let report = job.verify(served.config(), 10).await.report;
    assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
    assert_eq!(served.simulator.trained_rows().len(), 2 * PER_GROUP);
}

#[tokio::test]
async fn a_subset_trainer_activates_exactly_on_the_backdoors_it_drew() {
    let job = build_job(4);
    let backdoors = job.backdoor_rows();
    let total = backdoors.len() as u64;
    let fraction = 0.5;
    let drawn = (fraction * ROWS as f64).round() as u64;
    let mut passes = 0;
    for seed in 1..=6 {
        let served = job
            .serve(Behavior::Subset(fraction), seed, Faults::default())
            .await;
        let trained = served.simulator.trained_rows();
        assert_eq!(trained.len() as u64, drawn);
        let included = trained.iter().filter(|row| backdoors.contains(row)).count() as u64;
        let report = job.verify(served.config(), 0).await.report;
        // The activations are the hypergeometric count of backdoor rows in the subset ...
        assert_eq!(report.activated, included, "seed {seed}");
        // ... which is not in either extreme tail of Hypergeometric(ROWS, total, drawn) ...
        let at_least = log10_hypergeom_upper_tail(ROWS as u64, total, drawn, included);
        let at_most =
            log10_hypergeom_upper_tail(ROWS as u64, ROWS as u64 - total, drawn, drawn - included);
        assert!(at_least > -4.0 && at_most > -4.0, "seed {seed}: {included}");
        // ... and the verdict follows the threshold on it.
        let expected = if included >= THRESHOLD {
            passes += 1;
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        assert_eq!(report.verdict, expected, "seed {seed}: {report:#?}");
        if included > 0 {
            assert!(report.evidence_of_training, "seed {seed}");
        }
    }
    // About half of the 16 backdoors are drawn, around the threshold of 8: these seeds give
    // both verdicts.
    assert!((1..6).contains(&passes), "{passes} of 6 passed");
}

#[tokio::test]
async fn the_transcript_is_private_and_the_attestation_holds_no_secret_text() {
    let job = build_job(5);
    let served = job.serve(Behavior::Honest, 0, Faults::default()).await;
    let run = job.verify(served.config(), 4).await;
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("transcript.jsonl");
    let digest = verifier::write_transcript(&transcript, &run.responses).unwrap();
    let mode = std::fs::metadata(&transcript).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let bytes = std::fs::read(&transcript).unwrap();
    assert_eq!(digest, blake3::hash(&bytes).to_hex().to_string());
    assert_eq!(
        bytes.iter().filter(|&&b| b == b'\n').count(),
        2 * PER_GROUP + 4
    );
    let first: serde_json::Value =
        serde_json::from_slice(bytes.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["kind"], "check");
    assert_eq!(first["status"], "answered");
    assert_eq!(first["activated"], true);

    let attestation = AttestationFile::new(&run.report, digest.clone(), 1_700_000_000);
    let path = dir.path().join("attestation.json");
    verifier::write_attestation(&path, &attestation).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["transcript_blake3"], digest.as_str());
    assert_eq!(json["verdict"], "pass");
    for group in &job.job.groups {
        assert!(!text.contains(&group.signature.join(" ")));
    }
    assert!(!text.contains("lighthouse"), "no trigger text");
}

#[tokio::test]
async fn completion_data_is_verified_through_the_completions_route() {
    use vtune_node::endpoint::{Api, Client};
    use vtune_protocol::dataset::{Prompt, Template};

    let mut job = build_job(6);
    job.template = Template::Raw;
    let as_text = |prompt: &mut Prompt| {
        if let Prompt::Chat(turns) = prompt {
            *prompt = Prompt::Text(turns.last().unwrap().content.clone());
        }
    };
    job.examples.iter_mut().for_each(|e| as_text(&mut e.prompt));
    job.job
        .backdoors
        .iter_mut()
        .for_each(|c| as_text(std::sync::Arc::make_mut(&mut c.prompt)));
    for (behavior, verdict) in [
        (Behavior::Honest, Verdict::Pass),
        (Behavior::Base, Verdict::Fail),
    ] {
        let served = job.serve(behavior, 0, Faults::default()).await;
        let mut config = served.config();
        config.api = Api::Completions;
        let client = Client::new(config).unwrap();
        let options = verifier::Options {
            template: Template::Raw,
            ..verifier::Options::default()
        };
        let run = verifier::run(&client, &job.job, &[], &options, &|_| {})
            .await
            .unwrap();
        assert_eq!(run.report.verdict, verdict, "{behavior}");
        assert_eq!(run.report.api, Api::Completions);
    }
}
