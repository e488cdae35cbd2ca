//! Per-method sums over photos, and the report made from them: rates per object, seconds per
//! photo, the paired test against CAM.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thinktwice::localize::BoxOptions;
use thinktwice::localize::metrics::THRESHOLDS;
use thinktwice::saliency::Method;

use super::records::Record;
use super::stats::paired_with;

/// Running sums for one method.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Tally {
    /// Objects tried.
    pub objects: usize,
    /// Objects whose box reached IoU 0.3, 0.5 and 0.7.
    pub correct: [usize; 3],
    /// Objects boxed at IoU 0.5 in a photo whose top-1 class is theirs.
    pub top1_correct: usize,
    /// Objects whose map's maximum fell on (or near) one of their boxes.
    pub pointing: usize,
    /// Sum of the best IoUs.
    pub iou_sum: f64,
    /// Per map threshold of [`THRESHOLDS`]: objects boxed at IoU 0.5.
    pub box_acc: [usize; 20],
    /// Time spent explaining.
    pub seconds: f64,
    /// Sum over grid objects of the share of the map's in-box mass inside their own boxes.
    pub energy_share: f64,
    /// Objects that shared their image with others (a grid).
    pub grid_objects: usize,
}

impl Tally {
    /// Adds `t`'s sums to these.
    pub fn add(&mut self, t: &Tally) {
        self.objects += t.objects;
        (0..3).for_each(|i| self.correct[i] += t.correct[i]);
        self.top1_correct += t.top1_correct;
        self.pointing += t.pointing;
        self.iou_sum += t.iou_sum;
        (0..20).for_each(|i| self.box_acc[i] += t.box_acc[i]);
        self.seconds += t.seconds;
        self.energy_share += t.energy_share;
        self.grid_objects += t.grid_objects;
    }
}

/// The JSON report of `records` for `methods` (`seconds`: the run's wall time).
pub fn report(records: &[Record], methods: &[Method], seconds: f64) -> serde_json::Value {
    let mut totals: BTreeMap<&str, (Tally, BoxOptions)> = BTreeMap::new();
    let mut images = BTreeSet::new();
    // Summed in one fixed order, so that any split of the same records gives the same floats.
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| (&a.image, &a.method).cmp(&(&b.image, &b.method)));
    for r in sorted {
        let Some(m) = methods.iter().find(|m| m.name() == r.method) else { continue };
        images.insert(r.image.as_str());
        let entry = totals
            .entry(m.name())
            .or_insert_with(|| (Tally::default(), BoxOptions { threshold: r.box_threshold, sigma: r.box_sigma, rule: r.box_rule }));
        entry.0.add(&r.tally);
    }
    let n_images = images.len();
    let mut report = serde_json::Map::new();
    for m in methods {
        let Some((t, b)) = totals.get(m.name()) else { continue };
        let n = t.objects.max(1) as f64;
        let curve: Vec<f64> = t.box_acc.iter().map(|&c| c as f64 / n).collect();
        let (best, best_acc) = curve.iter().enumerate().fold((0, 0.0), |b, (i, &a)| if a > b.1 { (i, a) } else { b });
        let mut entry = serde_json::json!({
            "gt_known_loc": t.correct[1] as f64 / n,
            "top1_loc": t.top1_correct as f64 / n,
            "pointing": t.pointing as f64 / n,
            "maxboxacc": best_acc,
            "mean_iou": t.iou_sum / n,
            "sec_per_image": t.seconds / n_images.max(1) as f64,
            "gt_known_loc_30": t.correct[0] as f64 / n,
            "gt_known_loc_70": t.correct[2] as f64 / n,
            "maxboxacc_threshold": THRESHOLDS[best],
            "box_threshold": b.threshold,
            "box_rule": b.rule,
            "box_sigma": b.sigma,
            "box_accuracy_curve": curve,
            "n_objects": t.objects,
        });
        if t.grid_objects > 0 {
            entry["own_box_energy_share"] = serde_json::json!(t.energy_share / t.grid_objects as f64);
        }
        if *m != Method::Cam
            && let Some(paired) = paired_with(records, m.name(), Method::Cam.name())
        {
            entry["vs_cam"] = paired;
        }
        report.insert(m.name().to_string(), entry);
    }
    serde_json::json!({
        "n_images": n_images,
        "seconds": seconds,
        "methods": report,
    })
}
