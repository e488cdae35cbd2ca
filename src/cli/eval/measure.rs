//! One photo measured: every method's map and box for each of its objects, scored against the
//! ground truth.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use thinktwice::feedback::Flow;
use thinktwice::geometry::{BBox, Framing, INPUT_SIZE};
use thinktwice::localize::{self, metrics};
use thinktwice::saliency::Method;
use thinktwice::tensors;
use thinktwice::{ExplainOptions, Session};

use super::dataset::Object;
use super::tally::Tally;

/// Pointing-game tolerance in stored-image pixels (Zhang et al. 2016).
const POINTING_TOLERANCE: f32 = 15.0;

/// What one worker learns about one image: per method, the sums and the per-object hits.
pub struct ImageResult {
    /// Per method: its sums over the image's objects and, per object, GT-known loc at IoU 0.5.
    pub per_method: Vec<(Method, Tally, Vec<bool>)>,
}

/// Runs every method of `methods` (with the options `plan` gives it) on the photo at `path`
/// and scores it on each of `objects`.
pub fn evaluate_image(
    session: &Session,
    path: &Path,
    objects: &[Object],
    methods: &[Method],
    plan: &(dyn Fn(Method) -> ExplainOptions + Sync),
) -> Result<ImageResult> {
    let bytes = std::fs::read(path)?;
    let prepared = session.prepare_encoded(&bytes, Framing::Whole)?;
    let image = prepared.original();
    let top1 = tensors::top_k(&pollster::block_on(session.classify(&prepared))?.probabilities, 1)[0].0;
    // Boxes in map (224×224) pixels.
    let to_map = |b: &BBox| b.rescale((image.width() as usize, image.height() as usize), (INPUT_SIZE, INPUT_SIZE));
    let tolerance = POINTING_TOLERANCE * INPUT_SIZE as f32 / image.width().max(image.height()) as f32;
    let mut per_method = Vec::new();
    for &method in methods {
        let explain = plan(method);
        let boxes = &explain.boxes;
        let mut t = Tally::default();
        let mut hits = Vec::with_capacity(objects.len());
        for object in objects {
            let start = Instant::now();
            let mut explained =
                pollster::block_on(session.explain(&prepared, &[object.class], &explain, &mut |_| Flow::Continue(())))?;
            t.seconds += start.elapsed().as_secs_f64();
            let map = explained.remove(0).map;
            let truth: Vec<BBox> = object.boxes.iter().map(to_map).collect();
            let smoothed = map.smoothed(boxes.sigma);
            let found = localize::box_by_rule(&smoothed, boxes);
            let iou = metrics::best_iou(found.as_ref(), &truth);
            t.objects += 1;
            for (i, level) in [0.3, 0.5, 0.7].iter().enumerate() {
                t.correct[i] += usize::from(iou >= *level);
            }
            hits.push(iou >= 0.5);
            t.top1_correct += usize::from(iou >= 0.5 && top1 == object.class);
            t.pointing += usize::from(metrics::pointing_hit(&map, &truth, tolerance));
            t.iou_sum += iou as f64;
            for (i, v) in metrics::iou_per_threshold(&smoothed, &truth).iter().enumerate() {
                t.box_acc[i] += usize::from(*v >= 0.5);
            }
            if !object.others.is_empty() {
                let others: Vec<BBox> = object.others.iter().map(to_map).collect();
                t.energy_share += metrics::own_box_energy_share(&map, &truth, &others) as f64;
                t.grid_objects += 1;
            }
        }
        per_method.push((method, t, hits));
    }
    Ok(ImageResult { per_method })
}
