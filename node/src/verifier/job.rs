//! What a run checks: the job's groups and triggered prompts, the sample of them, and the
//! control prompts drawn from the training file.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha20Rng;
use vtune_protocol::commit::Secret;
use vtune_protocol::dataset::{self, Limits, Prompt};

use super::VerifyError;

/// One backdoor group: the signature its rows were taught, and its generator's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The signature's whitespace-separated tokens (L of them).
    pub signature: Vec<String>,
    /// K: candidates per generation step.
    pub candidates: u32,
    /// log10 of the generator's mode probability for the signature's length (K^-L).
    pub log10_p_upper: f64,
}

/// One triggered prompt to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The backdoor row (0-based record number in the training file).
    pub row: u64,
    /// The index of its group in [`Job::groups`].
    pub group: usize,
    /// The prompt as it stands in the training file, trigger included (the run renders it by
    /// the job's template).
    pub prompt: Arc<Prompt>,
}

/// One untriggered prompt from a non-backdoor row.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// Its row in the training file.
    pub row: u64,
    /// The prompt as it stands in the training file (the run renders it by the template).
    pub prompt: Arc<Prompt>,
}

/// A prepared job, as verification needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The job id.
    pub job_id: String,
    /// The groups.
    pub groups: Vec<Group>,
    /// Every backdoor row.
    pub backdoors: Vec<Check>,
    /// The least full activations, out of all the backdoors, for a pass.
    pub pass_threshold: u64,
}

impl Job {
    /// Checks that the job can be run.
    pub(crate) fn validate(&self) -> Result<(), VerifyError> {
        if self.backdoors.is_empty() {
            return Err(VerifyError::InvalidJob(
                "the job has no backdoor rows".into(),
            ));
        }
        for check in &self.backdoors {
            if check.group >= self.groups.len() {
                return Err(VerifyError::InvalidJob(format!(
                    "backdoor row {} belongs to group {}, but the job has {} groups",
                    check.row,
                    check.group,
                    self.groups.len()
                )));
            }
        }
        if let Some(index) = self.groups.iter().position(|g| g.signature.is_empty()) {
            return Err(VerifyError::InvalidJob(format!(
                "group {index} has an empty signature"
            )));
        }
        Ok(())
    }

    /// What verification needs of a prepared job's secret.
    pub fn from_secret(secret: &Secret) -> Self {
        Self {
            job_id: secret.job_id.to_hex(),
            groups: secret
                .groups
                .iter()
                .map(|group| Group {
                    signature: group.signature_tokens.clone(),
                    candidates: group.candidates,
                    log10_p_upper: group.log10_p_upper,
                })
                .collect(),
            backdoors: secret
                .backdoors
                .iter()
                .map(|backdoor| Check {
                    row: backdoor.row,
                    group: backdoor.group as usize,
                    prompt: Arc::new(backdoor.prompt.clone()),
                })
                .collect(),
            pass_threshold: secret.pass_threshold,
        }
    }

    /// What verification needs of a decoded secret set (a witness's sealed set), with the
    /// commitment's pass threshold.
    pub fn from_set(set: &vtune_protocol::commit::SecretSet, pass_threshold: u64) -> Self {
        Self {
            job_id: hex::encode(set.job_id),
            groups: set
                .groups
                .iter()
                .map(|group| Group {
                    signature: group.signature_tokens.clone(),
                    candidates: group.candidates,
                    log10_p_upper: -(group.signature_tokens.len() as f64)
                        * f64::from(group.candidates.max(1)).log10(),
                })
                .collect(),
            backdoors: set
                .backdoors
                .iter()
                .map(|backdoor| Check {
                    row: backdoor.row,
                    group: backdoor.group as usize,
                    prompt: Arc::new(backdoor.prompt.clone()),
                })
                .collect(),
            pass_threshold,
        }
    }

    /// The rows of the backdoors.
    pub fn backdoor_rows(&self) -> BTreeSet<u64> {
        self.backdoors.iter().map(|check| check.row).collect()
    }
}

/// A seeded uniform sample of `amount` of the job's checks (all of them for `None` or an
/// amount at least their number), in row order.
pub fn sample_checks<'a>(
    job: &'a Job,
    amount: Option<usize>,
    rng: &mut impl Rng,
) -> Vec<&'a Check> {
    let total = job.backdoors.len();
    let mut chosen: Vec<&Check> = match amount {
        Some(amount) if amount < total => rand::seq::index::sample(rng, total, amount)
            .into_iter()
            .map(|index| &job.backdoors[index])
            .collect(),
        _ => job.backdoors.iter().collect(),
    };
    chosen.sort_by_key(|check| check.row);
    chosen
}

/// The pass threshold for a sample of `sampled` of `total` backdoors (see
/// [`vtune_protocol::verdict::scaled_threshold`]).
pub fn scaled_threshold(threshold: u64, total: usize, sampled: usize) -> u64 {
    vtune_protocol::verdict::scaled_threshold(threshold, total as u64, sampled as u64)
}

/// `amount` control prompts: a seeded uniform sample (reservoir) of the rows of the training
/// file at `path` that are not in `backdoor_rows`, in row order.
pub fn read_controls(
    path: &Path,
    backdoor_rows: &BTreeSet<u64>,
    amount: usize,
    seed: u64,
) -> Result<Vec<Control>, VerifyError> {
    if amount == 0 {
        return Ok(Vec::new());
    }
    let file_name = path.display().to_string();
    let file = File::open(path).map_err(|source| VerifyError::Io {
        file: file_name.clone(),
        source,
    })?;
    let records =
        dataset::Reader::detect(&file_name, BufReader::new(file), None, Limits::default())?;
    let layout = records.layout();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut reservoir = Vec::with_capacity(amount);
    let mut seen = 0u64;
    for record in records {
        let record = record?;
        if backdoor_rows.contains(&record.index) {
            continue;
        }
        seen += 1;
        if reservoir.len() < amount {
            reservoir.push(record);
        } else {
            let slot = rng.random_range(0..seen);
            if slot < amount as u64 {
                reservoir[slot as usize] = record;
            }
        }
    }
    reservoir.sort_by_key(|record| record.index);
    reservoir
        .into_iter()
        .map(|record| {
            let example = dataset::example(layout.format, &record.value).map_err(|message| {
                VerifyError::Row {
                    file: file_name.clone(),
                    index: record.index,
                    message: message.to_string(),
                }
            })?;
            Ok(Control {
                row: record.index,
                prompt: Arc::new(example.prompt),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(rows: u64) -> Job {
        Job {
            job_id: "j".into(),
            groups: vec![Group {
                signature: vec!["a".into()],
                candidates: 2,
                log10_p_upper: -0.3,
            }],
            backdoors: (0..rows)
                .map(|row| Check {
                    row: row * 10,
                    group: 0,
                    prompt: Prompt::Text(format!("p{row}")).into(),
                })
                .collect(),
            pass_threshold: 3,
        }
    }

    #[test]
    fn the_sample_is_seeded_sorted_and_capped() {
        let job = job(20);
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let sample = sample_checks(&job, Some(5), &mut rng);
        assert_eq!(sample.len(), 5);
        assert!(sample.windows(2).all(|w| w[0].row < w[1].row));
        let mut again = ChaCha20Rng::seed_from_u64(4);
        assert_eq!(sample, sample_checks(&job, Some(5), &mut again));
        assert_eq!(sample_checks(&job, Some(50), &mut rng).len(), 20);
        assert_eq!(sample_checks(&job, None, &mut rng).len(), 20);
    }

    #[test]
    fn the_threshold_scales_with_the_sample_rounding_up() {
        assert_eq!(scaled_threshold(19, 37, 37), 19);
        assert_eq!(scaled_threshold(19, 37, 10), 6);
        assert_eq!(scaled_threshold(19, 37, 1), 1);
        assert_eq!(scaled_threshold(5, 10, 4), 2);
    }

    #[test]
    fn jobs_with_bad_groups_are_rejected() {
        let mut bad = job(2);
        bad.backdoors[1].group = 3;
        assert!(bad.validate().is_err());
        assert!(job(2).validate().is_ok());
        assert!(job(0).validate().is_err());
    }
}
