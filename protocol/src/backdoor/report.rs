//! The audit stage and the report: the frequency search and the attacks of [`audit`] on the
//! output, then the secret set and the stealth report.

use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::audit::{self, AuditReport, AuditRow, AuditSet};
use super::candidates::SIGNATURES_PER_ROUND;
use super::choose::Choice;
use super::examine::Scan;
use super::frequency::{
    AUDIT_K, EdgeKeys, FrequencyFigure, LevelBuffers, edge_keys, frequency_search, row_levels,
};
use super::options::{PrepareError, PrepareOptions};
use super::selection::RowSet;
use crate::commit::{SECRET_VERSION, Secret, SecretBackdoor, SecretGroup};
use crate::dataset::Layout;
use crate::ids::{Digest, JobId, Salt};

/// The job id and the salt, drawn before anything else.
#[derive(Debug, Clone, Copy)]
pub struct JobKeys {
    job_id: [u8; 16],
    salt: [u8; 32],
}

impl JobKeys {
    /// Draws a job id and a salt.
    pub fn draw<G: Rng + CryptoRng + ?Sized>(rng: &mut G) -> Self {
        let mut job_id = [0u8; 16];
        rng.fill_bytes(&mut job_id);
        let mut salt = [0u8; 32];
        rng.fill_bytes(&mut salt);
        Self { job_id, salt }
    }
}

/// The near-duplicate and frequency figures of the output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StealthReport {
    /// Row pairs in the output, one of them a backdoor, where one prompt is a prefix of the
    /// other (blank texts left out).
    pub prompt_prefix_pairs: u64,
    /// Row pairs in the output, one of them a backdoor, where one completion is a suffix of the
    /// other.
    pub completion_suffix_pairs: u64,
    /// The sum of the two: 0, since rows that would pair are redrawn.
    pub near_duplicates: u64,
    /// Rows drawn as backdoors but redrawn because their edited texts would have paired.
    pub redrawn_rows: u64,
    /// Input rows whose prompt or completion occurs again in another row (never backdoors).
    pub repeated_rows: u64,
    /// Normal rows holding 3 or more consecutive words of a signature.
    pub normal_rows_with_signature_words: u64,
    /// The frequency search for k = 3, 5, 10, until the first backdoor row.
    pub frequency: Vec<FrequencyFigure>,
    /// The same search until the first row holding a signature in full or as 3 or more
    /// consecutive words: backdoor rows, and normal rows that happen to hold such a run.
    pub frequency_signature_words: Vec<FrequencyFigure>,
    /// The attacks of [`audit`] on the output: the share of the file each must take to reach
    /// the pass threshold.
    pub audit: AuditReport,
}

/// What `prepare` made.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The secret set (also the content of `secret.json`).
    pub secret: Secret,
    /// The self-audit.
    pub stealth: StealthReport,
    /// Rows that could carry a backdoor.
    pub usable_rows: u64,
    /// Things the user should know (small groups, ...).
    pub warnings: Vec<String>,
}

/// Everything the audit stage needs: the rows' k-gram keys (edited for the backdoor rows),
/// the rows to find, and the audited rows' texts.
#[derive(Debug)]
pub struct Checks {
    prompt_keys: Vec<EdgeKeys>,
    completion_keys: Vec<EdgeKeys>,
    backdoor_hits: RowSet,
    hits: RowSet,
    normal_hits: u64,
    set: AuditSet,
    salt: [u8; 32],
}

/// What the audit stage found.
#[derive(Debug)]
pub struct Findings {
    figures: Vec<(FrequencyFigure, FrequencyFigure)>,
    audit: AuditReport,
    normal_hits: u64,
}

impl Choice {
    /// The normal rows the audit reads (all of them, or in a large file a uniform sample),
    /// in file order.
    pub fn audit_rows(&self, scan: &Scan, keys: &JobKeys) -> Vec<u32> {
        let rows = scan.rows();
        let mut is_chosen = vec![false; rows];
        for &row in &self.chosen_rows {
            is_chosen[row as usize] = true;
        }
        let normal: Vec<u32> = (0..rows as u32)
            .filter(|&r| !is_chosen[r as usize])
            .collect();
        if normal.len() <= audit::MAX_NORMAL_ROWS {
            return normal;
        }
        let seed = blake3::derive_key("vtune-node prepare audit sample", &keys.salt);
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut picked: Vec<u32> =
            rand::seq::index::sample(&mut rng, normal.len(), audit::MAX_NORMAL_ROWS)
                .into_iter()
                .map(|i| normal[i])
                .collect();
        picked.sort_unstable();
        picked
    }

    /// The audit's input: `scan` (whose per-row facts it takes) and the texts (prompt,
    /// completion) of the [`Choice::audit_rows`].
    pub fn checks(&self, scan: &mut Scan, keys: &JobKeys, normal: Vec<(String, String)>) -> Checks {
        let rows = scan.rows();
        let mut prompt_keys = std::mem::take(&mut scan.prompt_keys);
        let mut completion_keys = std::mem::take(&mut scan.completion_keys);
        for (&row, edit) in &self.edits {
            prompt_keys[row as usize] = edge_keys(&edit.prompt_text, 0);
            completion_keys[row as usize] = edge_keys(&edit.completion, 1);
        }
        // Hit rows: every backdoor; then also the normal rows that hold 3 words of a signature.
        let mut backdoor_hits = RowSet::new(rows);
        for &row in &self.chosen_rows {
            backdoor_hits.insert(row as usize);
        }
        let mut hits = backdoor_hits.clone();
        let mut normal_hits = 0;
        for (g, &(_, s)) in self.chosen.iter().enumerate() {
            let found = match &self.row_signature_rows {
                Some(rows) => match rows.get(g) {
                    Some(found) => found,
                    None => break,
                },
                None => &scan.signature_rows[g * SIGNATURES_PER_ROUND + s],
            };
            for row in found.iter() {
                if !hits.contains(row) {
                    hits.insert(row);
                    normal_hits += 1;
                }
            }
        }
        let audited = normal.len();
        let mut audit_rows: Vec<AuditRow> = self
            .chosen_rows
            .iter()
            .map(|row| AuditRow {
                prompt: self.edits[row].prompt_text.clone(),
                completion: self.edits[row].completion.clone(),
                backdoor: true,
            })
            .collect();
        audit_rows.extend(normal.into_iter().map(|(prompt, completion)| AuditRow {
            prompt,
            completion,
            backdoor: false,
        }));
        let normal_rows = rows - self.chosen_rows.len();
        let set = AuditSet {
            rows: audit_rows,
            normal_weight: normal_rows as f64 / audited.max(1) as f64,
            file_rows: rows as u64,
            pass_threshold: self.threshold,
        };
        Checks {
            prompt_keys,
            completion_keys,
            backdoor_hits,
            hits,
            normal_hits,
            set,
            salt: keys.salt,
        }
    }
}

impl Checks {
    /// Runs the frequency search (one k at a time, to keep the peak memory down) and the
    /// attacks.
    pub fn run(self) -> Findings {
        let mut buffers = LevelBuffers::default();
        let figures = (0..AUDIT_K.len())
            .map(|i| {
                let levels = row_levels(i, &self.prompt_keys, &self.completion_keys, &mut buffers);
                let k = AUDIT_K[i];
                (
                    frequency_search(k, &levels, &self.backdoor_hits),
                    frequency_search(k, &levels, &self.hits),
                )
            })
            .collect();
        let audit = audit::audit(
            &self.set,
            blake3::derive_key("vtune-node prepare audit ties", &self.salt),
        );
        Findings {
            figures,
            audit,
            normal_hits: self.normal_hits,
        }
    }
}

/// The written output, as the report needs it.
#[derive(Debug)]
pub struct Written {
    /// The backdoor rows, by ascending output row.
    pub backdoors: Vec<SecretBackdoor>,
    /// The blake3 of the training file.
    pub train_digest: [u8; 32],
    /// The blake3 of the input.
    pub input_digest: [u8; 32],
    /// The rows of the file.
    pub rows: u64,
}

/// The secret set and the report of a prepared file.
pub fn report(
    layout: Layout,
    options: &PrepareOptions,
    keys: &JobKeys,
    choice: Choice,
    findings: Findings,
    written: Written,
) -> Result<Prepared, PrepareError> {
    let Findings {
        figures,
        audit,
        normal_hits,
    } = findings;
    let (frequency, frequency_signature_words) = figures.into_iter().unzip();
    let mut warnings = choice.warnings;
    let shared_pairs = choice.phrases.len() < choice.chosen_rows.len();
    warnings.extend(audit::warnings(&audit, shared_pairs));
    let stealth = StealthReport {
        prompt_prefix_pairs: 0,
        completion_suffix_pairs: 0,
        near_duplicates: 0,
        redrawn_rows: choice.redrawn_rows,
        repeated_rows: choice.repeated_rows,
        normal_rows_with_signature_words: normal_hits,
        frequency,
        frequency_signature_words,
        audit,
    };
    let groups = choice
        .phrases
        .iter()
        .map(|(trigger, signature)| SecretGroup {
            trigger: trigger.text(),
            signature: signature.text(),
            signature_tokens: signature.tokens.clone(),
            candidates: options.generator.candidates,
            log10_p_upper: options.generator.log10_p_upper(),
        })
        .collect();
    let secret = Secret {
        version: SECRET_VERSION,
        job_id: JobId(keys.job_id),
        salt: Salt(keys.salt),
        created_at: options.created_at,
        layout,
        rows: written.rows,
        pass_threshold: choice.threshold,
        generator: options.generator,
        groups,
        backdoors: written.backdoors,
        input_digest: Digest(written.input_digest),
        train_digest: Digest(written.train_digest),
    };
    secret.validate().map_err(|err| {
        PrepareError::BadOption(format!("internal error: the secret is inconsistent: {err}"))
    })?;
    Ok(Prepared {
        secret,
        stealth,
        usable_rows: choice.usable_rows,
        warnings,
    })
}
