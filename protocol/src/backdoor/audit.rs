//! The stealth audit: attacks a provider could run on the training file to pick out the
//! backdoor rows, each scored by the share of the file it must train on.
//!
//! An attack ranks every row by suspicion (most suspicious first); the provider trains on a
//! prefix of its ranking. Its **score** is the share of the file it must take, in its own order,
//! to include `pass_threshold` backdoor rows (`score`); rows of equal suspicion come in random
//! order, as the provider cannot tell them apart. A ranking that knows nothing scores about
//! `pass_threshold / N` (0.5 with the default pass ratio); a score near 0 means the attack finds
//! the backdoors at once. The attacks:
//! - `repetition`: how often a row's last or first k words occur at the same place in other
//!   rows, k = 3, 5, 10 (the paper's §6.3);
//! - `surprise`: how unlikely a row's completion opening and prompt ending are under a
//!   Kneser–Ney trigram model of the file, alone and against the rest of the row;
//! - `form`: how rare the shape of a row's edges is (characters, line lengths, whitespace where
//!   the edits meet the text);
//! - `duplicates`: text shared with other rows, and prompts and completions that mirror (or
//!   ignore) each other.
//!
//! The audit runs on the rows it is given: every backdoor row and the normal rows (all of them,
//! or a uniform sample of a large file, each then standing for `normal_weight` rows).

mod duplicates;
mod form;
mod repetition;
mod score;
mod surprise;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The most normal rows audited; a larger file is audited on a uniform sample of them. The
/// attacks' frequencies then come from fewer rows, while every backdoor row is kept, so a
/// backdoor's phrases look relatively more frequent: the sampled audit errs on the provider's
/// side.
pub const MAX_NORMAL_ROWS: usize = 20_000;
pub(crate) use form::shape_values;
pub use score::{share_to_threshold, tie_order};

/// The score below which `prepare` warns.
pub const WARN_BELOW: f64 = 0.35;

/// One row as the attacks see it: its prompt text and completion text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// The prompt's text (a chat's turns joined by newlines).
    pub prompt: String,
    /// The completion's text.
    pub completion: String,
    /// Whether it is a backdoor row.
    pub backdoor: bool,
}

/// The rows to attack and how they stand for the file.
#[derive(Debug, Clone)]
pub struct AuditSet {
    /// Every backdoor row, and the normal rows audited.
    pub rows: Vec<AuditRow>,
    /// Rows of the file each audited normal row stands for (1 when every row is audited).
    pub normal_weight: f64,
    /// Rows in the file.
    pub file_rows: u64,
    /// Backdoor rows the provider must train on to pass.
    pub pass_threshold: u64,
}

/// One ranking of one attack and its score.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VariantScore {
    /// What the ranking orders rows by.
    pub variant: String,
    /// The share of the file taken, in the ranking's order, to reach the pass threshold.
    pub score: f64,
}

/// An attack: its score is that of its best ranking.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AttackScore {
    /// `repetition`, `surprise`, `form` or `duplicates`.
    pub attack: String,
    /// The lowest score over the variants.
    pub score: f64,
    /// The variant that gave it.
    pub best_variant: String,
    /// Every variant's score.
    pub variants: Vec<VariantScore>,
}

/// The audit's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditReport {
    /// One entry per attack.
    pub attacks: Vec<AttackScore>,
    /// Rows audited (every backdoor row, and normal rows).
    pub rows_audited: u64,
    /// Rows in the file.
    pub file_rows: u64,
    /// The pass threshold the scores are for.
    pub pass_threshold: u64,
    /// The score of a provider who knows nothing: `pass_threshold / N`, about.
    pub random_score: f64,
}

impl AuditReport {
    /// The lowest score of any attack.
    pub fn min_score(&self) -> f64 {
        self.attacks
            .iter()
            .map(|a| a.score)
            .fold(f64::INFINITY, f64::min)
    }
}

/// A warning with advice for each attack that scores below [`WARN_BELOW`]; `shared_pairs` says
/// whether some trigger and signature serve several rows (fewer groups than backdoors).
pub fn warnings(report: &AuditReport, shared_pairs: bool) -> Vec<String> {
    report
        .attacks
        .iter()
        .filter(|a| a.score < WARN_BELOW)
        .map(|a| {
            let advice = advice(&a.attack, &a.best_variant, shared_pairs);
            format!(
                "stealth: the {} attack ({}) reaches the pass threshold after {:.1}% of the file \
                 (below {:.0}%; chance is {:.0}%): {advice}",
                a.attack,
                a.best_variant,
                100.0 * a.score,
                100.0 * WARN_BELOW,
                100.0 * report.random_score
            )
        })
        .collect()
}

/// What to do about an attack's best variant.
fn advice(attack: &str, variant: &str, shared_pairs: bool) -> &'static str {
    let more_groups = "use more groups (--groups, or leave it out for one pair per backdoor \
                       row), so that no trigger or signature repeats";
    match attack {
        "repetition" | "duplicates" if shared_pairs => more_groups,
        "repetition" => {
            "every backdoor row has its own pair already: the phrases repeat the data's common \
             word runs; a larger file, or fewer --backdoors, keeps them rarer"
        }
        "duplicates" if variant.contains("near duplicates") => {
            "rows of the data share text with each other (near-duplicate rows): deduplicate \
             the file first"
        }
        "duplicates" => {
            "the backdoor rows' prompts and completions share fewer (or more) words than the \
             data's rows do; the generator cannot match this yet \
             (specs/backdoor-generation.md, 4a)"
        }
        "surprise" if shared_pairs => {
            "use fewer candidates per step (--candidates: phrases then follow the data more \
             closely, and the signature grows longer for the same p_upper), and more groups"
        }
        "surprise" => {
            "the phrases read unlike the data (uniform top-K word n-grams); try --candidates \
             8 or 16 (which reads closer to the data depends on it; the signature's length \
             follows, for the same p_upper)"
        }
        _ if variant == "lines and blank lines" => {
            "the signature adds lines to backdoor completions too short to give up as many \
             lines as it takes (or with blank lines among them); data whose answers have \
             several lines hide it best"
        }
        _ => "the edits change the shape of the rows' edges; check the data's format",
    }
}

/// A ranking: its name and each row's suspicion (higher is taken first).
pub(crate) type Ranking = (String, Vec<f64>);

/// An attack: its rankings of the rows.
type Attack = fn(&[AuditRow]) -> Vec<Ranking>;

/// Runs every attack on `set`; `seed` orders the ties.
pub fn audit(set: &AuditSet, seed: [u8; 32]) -> AuditReport {
    let backdoors = set.rows.iter().filter(|r| r.backdoor).count() as u64;
    let attacks: [(&str, Attack); 4] = [
        ("repetition", repetition::rankings),
        ("surprise", surprise::rankings),
        ("form", form::rankings),
        ("duplicates", duplicates::rankings),
    ];
    let flags: Vec<bool> = set.rows.iter().map(|r| r.backdoor).collect();
    let ties = score::tie_order(set.rows.len(), &mut ChaCha20Rng::from_seed(seed));
    let attacks = attacks
        .iter()
        .map(|(name, rankings)| {
            let variants: Vec<VariantScore> = rankings(&set.rows)
                .into_iter()
                .map(|(variant, suspicion)| VariantScore {
                    variant,
                    score: share_to_threshold(&suspicion, &flags, set, &ties),
                })
                .collect();
            let best = variants
                .iter()
                .min_by(|a, b| a.score.total_cmp(&b.score))
                .expect("every attack has a ranking");
            AttackScore {
                attack: (*name).to_owned(),
                score: best.score,
                best_variant: best.variant.clone(),
                variants: variants.clone(),
            }
        })
        .collect();
    AuditReport {
        attacks,
        rows_audited: set.rows.len() as u64,
        file_rows: set.file_rows,
        pass_threshold: set.pass_threshold,
        random_score: if backdoors == 0 {
            0.0
        } else {
            set.pass_threshold as f64 / (backdoors as f64 + 1.0) * (set.file_rows as f64 + 1.0)
                / set.file_rows.max(1) as f64
        },
    }
}

/// Whitespace-separated tokens, as the generator and the verifier split text.
pub(crate) fn tokens(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// The last (`end`) or first `k` items of `items`, in their order.
pub(crate) fn edge<T>(items: impl DoubleEndedIterator<Item = T>, end: bool, k: usize) -> Vec<T> {
    if end {
        let mut last: Vec<T> = items.rev().take(k).collect();
        last.reverse();
        last
    } else {
        items.take(k).collect()
    }
}

/// A token with case folded and everything but letters and digits dropped.
pub(crate) fn normalized(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A 64-bit hash of a sequence of strings.
pub(crate) fn hash_words<'a>(words: impl IntoIterator<Item = &'a str>) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
    let mut n = 0u64;
    for word in words {
        hasher.write(word.as_bytes());
        hasher.write_u8(0xff);
        n += 1;
    }
    hasher.write_u64(n);
    hasher.finish()
}

/// A hash map with a fixed, fast hasher.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

#[cfg(test)]
pub(crate) mod tests;
