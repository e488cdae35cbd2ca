//! The paired test between two methods on the same objects: which one localized the objects the
//! other missed, and whether that split is more than chance (exact McNemar).

use std::collections::BTreeMap;

use super::records::Record;

/// `method` against `base` on the objects both localized (GT-known loc, IoU ≥ 0.5): the
/// difference, the objects only one of them got, and the exact two-sided McNemar p-value, so that a
/// difference inside the noise reads as a tie.
pub fn paired_with(records: &[Record], method: &str, base: &str) -> Option<serde_json::Value> {
    let hits = |name: &str| -> BTreeMap<&str, &Vec<bool>> {
        records.iter().filter(|r| r.method == name).map(|r| (r.image.as_str(), &r.hits)).collect()
    };
    let (ours, theirs) = (hits(method), hits(base));
    let (mut n, mut wins, mut losses) = (0usize, 0usize, 0usize);
    for (image, a) in &ours {
        let Some(b) = theirs.get(image) else { continue };
        for (&x, &y) in a.iter().zip(b.iter()) {
            n += 1;
            wins += usize::from(x && !y);
            losses += usize::from(!x && y);
        }
    }
    (n > 0).then(|| {
        serde_json::json!({
            "objects": n,
            "difference": (wins as f64 - losses as f64) / n as f64,
            "wins": wins,
            "losses": losses,
            "mcnemar_p": mcnemar_p(wins, losses),
        })
    })
}

/// Exact two-sided McNemar test: the probability of a split at least this uneven of the
/// `wins + losses` discordant objects if both methods were equally good (binomial, p = ½).
pub fn mcnemar_p(wins: usize, losses: usize) -> f64 {
    let n = wins + losses;
    let k = wins.min(losses);
    // Σ_{i ≤ k} C(n, i) / 2ⁿ, in logarithms so that large n does not overflow.
    let ln_choose = |i: usize| -> f64 { (1..=i).map(|j| ((n - i + j) as f64 / j as f64).ln()).sum() };
    let tail: f64 = (0..=k).map(|i| (ln_choose(i) - n as f64 * std::f64::consts::LN_2).exp()).sum();
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_p_is_the_exact_binomial_tail() {
        assert!((mcnemar_p(10, 0) - 2.0 / 1024.0).abs() < 1e-12);
        assert!((mcnemar_p(0, 10) - 2.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_p(5, 5), 1.0);
        assert_eq!(mcnemar_p(0, 0), 1.0);
        // 7 against 20: Σ_{i ≤ 7} C(27, i) / 2²⁷, doubled.
        let tail: f64 = (0..=7u64).map(|i| (0..i).fold(1.0, |c, j| c * (27 - j) as f64 / (j + 1) as f64)).sum::<f64>() / 2f64.powi(27);
        assert!((mcnemar_p(7, 20) - 2.0 * tail).abs() < 1e-12 && (mcnemar_p(7, 20) - 0.0192).abs() < 1e-3);
        assert!(mcnemar_p(400, 600) < 1e-9);
    }
}
