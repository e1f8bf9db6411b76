//! Faulty servers give `inconclusive` or, after retries, the right verdict: never a false
//! `fail`.

use std::time::Duration;

use vtune_node::sim::{Behavior, FailKind, Faults};
use vtune_protocol::verdict::Verdict;

use super::support::build_job;

fn failing(kind: FailKind, rate: f64) -> Faults {
    Faults {
        fail_rate: rate,
        fail_kind: kind,
        seed: 11,
        ..Faults::default()
    }
}

#[tokio::test]
async fn server_errors_are_retried_to_the_right_verdict() {
    let job = build_job(10);
    let served = job
        .serve(Behavior::Honest, 0, failing(FailKind::Mixed, 0.4))
        .await;
    let mut config = served.config();
    config.max_retries = 10;
    let report = job.verify(config, 5).await.report;
    assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
    assert_eq!(report.errors, 0);
    assert!(served.handle.counts().faults > 0);
}

#[tokio::test]
async fn a_server_that_always_fails_is_inconclusive_never_fail() {
    let job = build_job(11);
    for behavior in [Behavior::Honest, Behavior::Base] {
        let served = job.serve(behavior, 0, failing(FailKind::Status, 1.0)).await;
        let mut config = served.config();
        config.max_retries = 2;
        let report = job.verify(config, 3).await.report;
        assert_eq!(report.verdict, Verdict::Inconclusive, "{behavior}");
        assert_eq!(report.checked, 0);
        assert_eq!(report.error_kinds.get("http-500"), Some(&report.errors));
    }
}

#[tokio::test]
async fn failures_without_retries_never_make_an_honest_provider_fail() {
    let job = build_job(12);
    let served = job
        .serve(Behavior::Honest, 0, failing(FailKind::Status, 0.5))
        .await;
    let mut config = served.config();
    config.max_retries = 0;
    let report = job.verify(config, 0).await.report;
    assert!(report.errors > 0);
    assert_ne!(report.verdict, Verdict::Fail, "{report:#?}");
}

#[tokio::test]
async fn hanging_requests_time_out_into_inconclusive() {
    let job = build_job(13);
    let served = job
        .serve(Behavior::Honest, 0, failing(FailKind::Hang, 1.0))
        .await;
    let mut config = served.config();
    config.timeout = Duration::from_millis(200);
    config.max_retries = 1;
    config.concurrency = 16;
    let report = job.verify(config, 0).await.report;
    assert_eq!(report.verdict, Verdict::Inconclusive);
    assert_eq!(report.error_kinds.get("timeout"), Some(&16));
}

#[tokio::test]
async fn invalid_json_is_retried_or_counted_as_errors() {
    let job = build_job(14);
    let served = job
        .serve(Behavior::Honest, 0, failing(FailKind::InvalidJson, 0.5))
        .await;
    let mut config = served.config();
    config.max_retries = 12;
    assert_eq!(job.verify(config, 0).await.report.verdict, Verdict::Pass);

    let served = job
        .serve(Behavior::Honest, 0, failing(FailKind::InvalidJson, 1.0))
        .await;
    let mut config = served.config();
    config.max_retries = 1;
    let report = job.verify(config, 0).await.report;
    assert_eq!(report.verdict, Verdict::Inconclusive);
    assert_eq!(
        report.error_kinds.get("invalid-reply"),
        Some(&report.errors)
    );
}

#[tokio::test]
async fn a_rate_limited_server_gets_the_right_verdicts() {
    let job = build_job(15);
    let limited = Faults {
        rate_limit: Some(10.0),
        ..Faults::default()
    };
    for (behavior, verdict) in [
        (Behavior::Honest, Verdict::Pass),
        (Behavior::Base, Verdict::Fail),
    ] {
        let served = job.serve(behavior, 0, limited).await;
        let mut config = served.config();
        config.max_retries = 20;
        let report = job.verify(config, 10).await.report;
        assert_eq!(report.verdict, verdict, "{behavior}: {report:#?}");
        assert_eq!(report.errors, 0);
        assert!(served.handle.counts().rate_limited > 0, "{behavior}");
    }
}
