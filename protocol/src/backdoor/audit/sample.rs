//! The rows `prepare` audits: every backdoor row as edited, and the normal rows, all of them or,
//! in a large file, a uniform sample read back from the input.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{AuditRow, AuditSet};
use crate::backdoor::input::Input;
use crate::backdoor::prepare::PrepareError;
use crate::backdoor::row_scan::Scan;
use crate::dataset::{self, Layout, Location};

/// The most normal rows audited; a larger file is audited on a uniform sample of them. The
/// attacks' frequencies then come from fewer rows, while every backdoor row is kept, so a
/// backdoor's phrases look relatively more frequent: the sampled audit errs on the provider's
/// side.
pub const MAX_NORMAL_ROWS: usize = 20_000;

/// The audit set of a prepared file: `backdoors` as (prompt text, completion text), `chosen` the
/// input rows they were made from; the normal rows come from `input` at the scan's offsets.
/// `seed` draws the sample.
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_set<R: Input>(
    file_name: &str,
    input: &mut R,
    layout: Layout,
    scan: &Scan,
    backdoors: Vec<(String, String)>,
    chosen: &[u32],
    pass_threshold: u64,
    seed: [u8; 32],
) -> Result<AuditSet, PrepareError> {
    let rows = scan.offsets.len();
    let mut is_chosen = vec![false; rows];
    for &row in chosen {
        is_chosen[row as usize] = true;
    }
    let normal: Vec<usize> = (0..rows).filter(|&r| !is_chosen[r]).collect();
    let picked: Vec<usize> = if normal.len() <= MAX_NORMAL_ROWS {
        normal.clone()
    } else {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut picked: Vec<usize> =
            rand::seq::index::sample(&mut rng, normal.len(), MAX_NORMAL_ROWS)
                .into_iter()
                .map(|i| normal[i])
                .collect();
        picked.sort_unstable(); // read in file order
        picked
    };
    let mut out: Vec<AuditRow> = backdoors
        .into_iter()
        .map(|(prompt, completion)| AuditRow {
            prompt,
            completion,
            backdoor: true,
        })
        .collect();
    let mut buf = Vec::new();
    let mut texts = dataset::Texts::new();
    for r in &picked {
        buf.resize(scan.lens[*r] as usize, 0);
        input
            .read_exact_at_offset(&mut buf, scan.offsets[*r])
            .map_err(|source| PrepareError::Io {
                file: file_name.to_owned(),
                context: "reading rows for the audit",
                source,
            })?;
        let (prompt, completion) = if dataset::skim(&buf, layout.format, &mut texts) {
            (
                std::mem::take(&mut texts.prompt),
                std::mem::take(&mut texts.completion),
            )
        } else {
            let example = dataset::parse_example(file_name, Location::File, &buf, layout.format)?;
            (example.prompt.text().into_owned(), example.completion)
        };
        out.push(AuditRow {
            prompt,
            completion,
            backdoor: false,
        });
    }
    Ok(AuditSet {
        rows: out,
        normal_weight: normal.len() as f64 / picked.len().max(1) as f64,
        file_rows: rows as u64,
        pass_threshold,
    })
}
