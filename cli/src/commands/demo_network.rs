//! The demo's network part: three nodes (the buyer's, a witness and an observer) on
//! loopback; the buyer's node publishes a commitment and an attestation per provider, and the
//! observer's API answers for each provider's record. The honest provider's job names the
//! witness: the buyer seals the secret set to it, the witness verifies the still-running
//! endpoint and attests, and the observer shows the job as confirmed.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use vtune_node::api::ApiClient;
use vtune_node::buyer::{self, CommitTerms, PlanChoice, SealTerms};
use vtune_node::clock::unix_now;
use vtune_node::daemon::{Daemon, DaemonConfig};
use vtune_node::job_dir::{COMMITMENT_MSG, JobDir, PUBLIC, Replace};
use vtune_node::keys;
use vtune_node::summary::ProviderSummary;
use vtune_node::verifier::Report;
use vtune_protocol::messages::{Digest, JobId};

/// The job that a witness checks: its provider and the endpoint (still serving).
pub(crate) struct Witnessed<'a> {
    pub(crate) provider: &'a str,
    pub(crate) endpoint: &'a str,
}

/// What the observer said about each provider.
pub(crate) struct NetworkOutcome {
    /// The nodes' names and peer ids.
    pub(crate) nodes: Vec<(String, String)>,
    /// The observer's API URL.
    pub(crate) observer_api: String,
    /// Each provider's summary, as served by the observer.
    pub(crate) summaries: Vec<ProviderSummary>,
}

fn config(
    dir: &Path,
    bootstrap: Vec<vtune_node::network::Multiaddr>,
    witness: bool,
) -> DaemonConfig {
    DaemonConfig {
        data_dir: dir.to_path_buf(),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid multiaddr")],
        bootstrap,
        api: "127.0.0.1:0".parse().expect("a valid address"),
        market: "demo".to_string(),
        trust: None,
        sync_interval: Duration::from_secs(1),
        witness: witness.then(|| vtune_node::witness::WitnessConfig {
            budget_per_minute: 60_000,
            ..Default::default()
        }),
    }
}

/// Starts the three nodes, publishes through the buyer's, and reads the observer's summaries.
pub(crate) async fn run(
    dir: &Path,
    job_dir: &Path,
    reports: &[(String, &Report)],
    witnessed: Option<&Witnessed<'_>>,
    say: &dyn Fn(&str),
) -> anyhow::Result<NetworkOutcome> {
    let buyer_dir = dir.join("nodes/buyer");
    let buyer = Daemon::start(config(&buyer_dir, Vec::new(), false)).await?;
    let bootstrap = buyer.listen_addrs.clone();
    let witness_dir = dir.join("nodes/witness");
    let witness = Daemon::start(config(&witness_dir, bootstrap.clone(), true)).await?;
    let observer = Daemon::start(config(&dir.join("nodes/observer"), bootstrap, false)).await?;
    let (witness_key, _) = keys::load_or_create(&witness_dir)?;
    let nodes = [
        ("buyer", &buyer),
        ("witness", &witness),
        ("observer", &observer),
    ];
    for (name, node) in nodes {
        say(&format!(
            "   node {name:<8} {}  api {}",
            node.peer_id, node.api_url
        ));
    }
    let api = ApiClient::new(&buyer.api_url);
    let observer_api = ApiClient::new(&observer.api_url);
    wait_for_peers(&observer_api).await?;

    let (key, _) = keys::load_or_create(&buyer_dir)?;
    let job = JobDir::new(job_dir);
    let mut ids = Vec::new();
    let mut confirmed_job = None;
    for (provider, report) in reports {
        let witnessed = witnessed.filter(|w| w.provider == provider);
        // One secret set serves the three providers here; each gets a job of its own. The
        // witnessed job keeps the secret set's own job id (the sealed set names it).
        let terms = CommitTerms {
            provider: provider.clone(),
            base_model: "demo-base".to_string(),
            plan: PlanChoice {
                controls: Some(report.controls),
                ..Default::default()
            },
            witnesses: witnessed.map_or(Vec::new(), |_| vec![witness_key.public()]),
            reveal_window: witnessed.map(|_| 3600),
        };
        let mut commitment = buyer::commitment(&job, &key, &terms, unix_now())?;
        if witnessed.is_none() {
            let own = Digest::of(
                &[commitment.job_id.as_bytes().as_slice(), provider.as_bytes()].concat(),
            );
            commitment.job_id = JobId(own.0[..16].try_into().expect("16 bytes"));
        }
        let commitment = job.write_signed(
            COMMITMENT_MSG,
            &commitment,
            key.signing_key(),
            PUBLIC,
            Replace::Yes,
        )?;
        // The demo keeps no transcript file; the digest covers the report instead.
        let digest = Digest::of(&serde_json::to_vec(report)?).to_string();
        let mut report = (*report).clone();
        report.job_id = commitment.message().job_id.to_string();
        let attestation = buyer::sign_attestation(&job, &key, &report, &digest, unix_now())?;
        for bytes in [commitment.envelope(), attestation.envelope()].map(|e| e.to_bytes()) {
            ids.push(api.publish(bytes).await?.id);
        }
        if let Some(w) = witnessed {
            let terms = SealTerms {
                endpoint: w.endpoint.to_string(),
                model: w.provider.to_string(),
                api_key: String::new(),
                seed: 7,
            };
            let sealed = buyer::seal(&job, &key, &terms, unix_now())?;
            api.publish(sealed.envelope().to_bytes()).await?;
            say(&format!(
                "   sealed the secret set of {provider}'s job to the witness {}",
                witness.peer_id
            ));
            confirmed_job = Some(commitment.message().job_id);
        }
    }
    say(&format!(
        "   published {} messages (a commitment and an attestation per provider) and a sealed secret at the buyer's node",
        ids.len()
    ));
    let received = poll(20, "the observer did not receive every message", || async {
        for id in &ids {
            if !observer_api.has(id).await? {
                return Ok(None);
            }
        }
        Ok(Some(()))
    });
    received.await?;
    if let Some(job) = confirmed_job {
        wait_for_confirmation(&observer_api, &job, say).await?;
    }
    let mut summaries = Vec::new();
    for (provider, _) in reports {
        summaries.push(
            observer_api
                .summary(provider)
                .await
                .with_context(|| format!("the observer's summary of {provider}"))?,
        );
    }
    let outcome = NetworkOutcome {
        nodes: nodes
            .iter()
            .map(|(name, node)| (name.to_string(), node.peer_id.to_string()))
            .collect(),
        observer_api: observer.api_url.clone(),
        summaries,
    };
    for node in [observer, witness, buyer] {
        node.shutdown().await?;
    }
    Ok(outcome)
}

/// Waits until the observer shows `job` as confirmed by its witness, and says so.
async fn wait_for_confirmation(
    observer: &ApiClient,
    job: &JobId,
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let name = |v: Option<vtune_protocol::verdict::Verdict>| {
        v.map_or("none".to_string(), |v| format!("{v:?}").to_lowercase())
    };
    let what = format!("the witness's attestation did not confirm job {job} at the observer");
    let verdicts = poll(60, &what, || async {
        let view = observer.job(&job.to_string()).await.ok();
        let verdicts = view.and_then(|v| v.verdicts);
        Ok(verdicts.filter(|v| v.status == vtune_node::summary::Agreement::Confirmed))
    });
    let verdicts = verdicts.await?;
    say(&format!(
        "   the observer shows job {} as confirmed: buyer {}, witness {}, before any reveal",
        job.fmt_short(),
        name(verdicts.buyer),
        name(verdicts.witnesses[0].verdict),
    ));
    Ok(())
}

/// Waits until the observer is in the topic's mesh.
async fn wait_for_peers(observer: &ApiClient) -> anyhow::Result<()> {
    poll(20, "the observer joined no mesh", || async {
        Ok((observer.health().await?.mesh_peers > 0).then_some(()))
    })
    .await
}

/// Calls `check` every 50 ms until it gives a value, for at most `secs` seconds.
async fn poll<T, F>(secs: u64, what: &str, mut check: impl FnMut() -> F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        anyhow::ensure!(Instant::now() < deadline, "{what} within {secs} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
