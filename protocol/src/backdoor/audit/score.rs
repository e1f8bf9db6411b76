//! The score of a ranking: the share of the file a provider takes, in the ranking's order, to
//! include the pass threshold of backdoor rows.

use rand::Rng;

use super::AuditSet;

/// One random key per row: the order in which a provider takes rows it cannot tell apart.
/// The audit draws it once, so that rankings that tie everywhere score alike.
pub fn tie_order<R: Rng + ?Sized>(rows: usize, rng: &mut R) -> Vec<u64> {
    (0..rows).map(|_| rng.next_u64()).collect()
}

/// The share of the file that a provider who takes rows by descending `suspicion` (ties in the
/// random order `ties`, see [`tie_order`]; NaN counts as least suspicious) must train on to
/// include `set.pass_threshold` backdoor rows (`backdoor[i]` says whether row i is one). Each
/// audited normal row stands for `set.normal_weight` rows of the file. 1 when the threshold is
/// never reached.
pub fn share_to_threshold(
    suspicion: &[f64],
    backdoor: &[bool],
    set: &AuditSet,
    ties: &[u64],
) -> f64 {
    assert_eq!(suspicion.len(), backdoor.len());
    assert_eq!(suspicion.len(), ties.len());
    let mut order: Vec<(f64, u64, usize)> = suspicion
        .iter()
        .enumerate()
        .map(|(i, &s)| (if s.is_nan() { f64::NEG_INFINITY } else { s }, ties[i], i))
        .collect();
    order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let (mut taken_backdoors, mut taken_normal) = (0u64, 0u64);
    if set.pass_threshold == 0 {
        return 0.0;
    }
    for &(_, _, i) in &order {
        if backdoor[i] {
            taken_backdoors += 1;
            if taken_backdoors == set.pass_threshold {
                let rows = taken_backdoors as f64 + taken_normal as f64 * set.normal_weight;
                return (rows / set.file_rows.max(1) as f64).min(1.0);
            }
        } else {
            taken_normal += 1;
        }
    }
    1.0
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn set(rows: u64, threshold: u64, weight: f64) -> AuditSet {
        AuditSet {
            rows: Vec::new(),
            normal_weight: weight,
            file_rows: rows,
            pass_threshold: threshold,
        }
    }

    #[test]
    fn a_ranking_that_puts_the_backdoors_first_scores_threshold_over_rows() {
        let backdoor: Vec<bool> = (0..1000).map(|i| i % 50 == 0).collect();
        let suspicion: Vec<f64> = backdoor.iter().map(|&b| f64::from(u8::from(b))).collect();
        let ties = tie_order(1000, &mut ChaCha20Rng::seed_from_u64(1));
        let score = share_to_threshold(&suspicion, &backdoor, &set(1000, 10, 1.0), &ties);
        assert!((score - 0.010).abs() < 1e-12, "{score}");
        // Last: all 980 normal rows and 10 backdoors.
        let reversed: Vec<f64> = suspicion.iter().map(|s| -s).collect();
        let score = share_to_threshold(&reversed, &backdoor, &set(1000, 10, 1.0), &ties);
        assert!((score - 0.990).abs() < 1e-12, "{score}");
    }

    #[test]
    fn ties_are_broken_at_random_so_a_constant_ranking_scores_like_chance() {
        // 40 backdoors among 4,000 rows, threshold 20: the 20th of 40 uniform places is at about
        // 20/41 of the file.
        let backdoor: Vec<bool> = (0..4000).map(|i| i % 100 == 7).collect();
        let constant = vec![1.0; 4000];
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mean = (0..50)
            .map(|_| {
                let ties = tie_order(4000, &mut rng);
                share_to_threshold(&constant, &backdoor, &set(4000, 20, 1.0), &ties)
            })
            .sum::<f64>()
            / 50.0;
        assert!((mean - 20.0 / 41.0).abs() < 0.03, "{mean}");
    }

    #[test]
    fn sampled_normal_rows_stand_for_their_weight() {
        // 100 normal rows audited for 10,000 in the file; backdoors last after 50 of them.
        let mut backdoor = vec![false; 100];
        backdoor.extend([true; 10]);
        let suspicion: Vec<f64> = (0..110)
            .map(|i| {
                if i < 50 {
                    2.0
                } else if i < 100 {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        let ties = tie_order(110, &mut ChaCha20Rng::seed_from_u64(3));
        let score = share_to_threshold(&suspicion, &backdoor, &set(10_010, 5, 100.0), &ties);
        assert!((score - 5005.0 / 10_010.0).abs() < 1e-12, "{score}");
    }
}
