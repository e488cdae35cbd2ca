//! The second look that looks closer: after the first look over the whole photo (a map and its
//! box), crop the box with a margin from the *original* photo, look again at the crop at the
//! network's full input size, paste the crop's map back into the photo's map, box again, and
//! repeat until the box stops moving. A crop of a quarter of the photo is seen at twice the
//! resolution, so the head's 7×7 grid covers the object, not the whole scene; in clutter the
//! crop also drops the neighbours. The session runs the looks ([`crate::Session::explain`]);
//! this module holds the geometry and the arithmetic of maps, so that both are testable alone.

use serde::{Deserialize, Serialize};

use crate::geometry::{BBox, INPUT_SIZE};
use crate::map::Map;

/// How many closer looks, where, and how their maps join the photo's map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloserOptions {
    /// Most looks after the first (0: the first look only, as every baseline).
    pub looks: usize,
    /// Margin added on each side of the box before cropping, as a fraction of the box's side.
    pub margin: f32,
    /// The looks stop once a new box overlaps the one before by at least this IoU.
    pub stable_iou: f32,
    /// Side of the network input of the first look, in pixels (224: the training size; the head's
    /// grid is side / 32).
    pub first_side: usize,
    /// Average every look with the look at its mirror image.
    pub flip: bool,
    /// Weight of a closer look's map against the map before it: inside the crop the new map is
    /// `(1 − w) · before + w · look`, outside it `(1 − w) · before` (both normalised to max 1).
    pub weight: f32,
    /// Smallest crop side, as a fraction of the photo's side: at most 1 / this zoom.
    pub min_side: f32,
}

impl CloserOptions {
    /// One look at the whole photo at 224 px, as the baselines do.
    pub const ONE_LOOK: CloserOptions =
        CloserOptions { looks: 0, margin: 0.25, stable_iou: 0.9, first_side: INPUT_SIZE, flip: false, weight: 0.5, min_side: 0.25 };
}

impl Default for CloserOptions {
    fn default() -> Self {
        Self::ONE_LOOK
    }
}

/// Where one look looked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Look {
    /// 0 for the first look (the whole photo), then one per closer look.
    pub look: usize,
    /// The part of the photo the network saw, in original pixels.
    pub region: BBox,
    /// The box after this look, in original pixels.
    #[serde(rename = "box")]
    pub bbox: Option<BBox>,
    /// Class probability on this look's input (no gates).
    pub probability: f32,
}

/// The whole network input, in input pixels.
pub fn whole() -> BBox {
    let s = INPUT_SIZE as f32;
    BBox { x0: 0.0, y0: 0.0, x1: s, y1: s }
}

/// The crop of the next look: `b` (input pixels) grown by `margin` of its side on each side, at
/// least `min_side` of the input on a side, and kept inside the input.
pub fn crop_around(b: &BBox, options: &CloserOptions) -> BBox {
    let size = INPUT_SIZE as f32;
    let least = (options.min_side.clamp(0.0, 1.0) * size).max(1.0);
    let grow = |lo: f32, hi: f32| -> (f32, f32) {
        let side = ((hi - lo) * (1.0 + 2.0 * options.margin.max(0.0))).max(least).min(size);
        let centre = (lo + hi) / 2.0;
        let lo = (centre - side / 2.0).clamp(0.0, size - side);
        (lo, lo + side)
    };
    let (x0, x1) = grow(b.x0, b.x1);
    let (y0, y1) = grow(b.y0, b.y1);
    BBox { x0, y0, x1, y1 }
}

/// The map after a look: `before` (over the whole input) joined with `look` (a map over `region`
/// of the input, any size) by `weight`, both normalised to max 1; the result has `before`'s size.
pub fn paste(before: &Map, look: &Map, region: &BBox, weight: f32) -> Map {
    let w = weight.clamp(0.0, 1.0);
    let (before, look) = (before.normalised(), look.normalised());
    let (sx, sy) = (INPUT_SIZE as f32 / before.width as f32, INPUT_SIZE as f32 / before.height as f32);
    let (rw, rh) = ((region.x1 - region.x0).max(1e-3), (region.y1 - region.y0).max(1e-3));
    let mut values = Vec::with_capacity(before.values.len());
    for y in 0..before.height {
        for x in 0..before.width {
            // This pixel's centre in input pixels, then in the look's pixels.
            let (ix, iy) = ((x as f32 + 0.5) * sx, (y as f32 + 0.5) * sy);
            let outside = (1.0 - w) * before.values[y * before.width + x];
            let inside = ix >= region.x0 && ix < region.x1 && iy >= region.y0 && iy < region.y1;
            values.push(if inside {
                let u = (ix - region.x0) / rw * look.width as f32 - 0.5;
                let v = (iy - region.y0) / rh * look.height as f32 - 0.5;
                outside + w * look.sample(u, v)
            } else {
                outside
            });
        }
    }
    Map { values, width: before.width, height: before.height }
}

/// Whether the looks may stop: the new box overlaps the one before by `stable_iou` or more.
pub fn settled(before: Option<&BBox>, after: Option<&BBox>, options: &CloserOptions) -> bool {
    match (before, after) {
        (Some(a), Some(b)) => a.iou(b) >= options.stable_iou,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_grow_by_the_margin_and_stay_inside() {
        let options = CloserOptions { margin: 0.25, min_side: 0.25, ..CloserOptions::ONE_LOOK };
        let c = crop_around(&BBox { x0: 100.0, y0: 100.0, x1: 180.0, y1: 140.0 }, &options);
        assert_eq!(c, BBox { x0: 80.0, y0: 90.0, x1: 200.0, y1: 150.0 }); // 80 → 120 wide, 40 → 60 high
        let edge = crop_around(&BBox { x0: 0.0, y0: 200.0, x1: 40.0, y1: 224.0 }, &options);
        assert!(edge.x0 >= 0.0 && edge.y1 <= 224.0 && edge.x1 - edge.x0 >= 56.0 && edge.y1 - edge.y0 >= 56.0, "{edge:?}");
        let all = crop_around(&whole(), &options);
        assert_eq!(all, whole());
    }

    #[test]
    fn paste_puts_the_look_where_it_looked() {
        let before = Map::new(vec![1.0; 224 * 224], 224, 224).unwrap();
        let mut values = vec![0.0; 16 * 16];
        values[0] = 2.0; // the look's top-left corner is bright
        let look = Map::new(values, 16, 16).unwrap();
        let region = BBox { x0: 112.0, y0: 0.0, x1: 224.0, y1: 112.0 };
        let full = paste(&before, &look, &region, 1.0);
        assert_eq!(full.values[0], 0.0, "outside the crop nothing is left at weight 1");
        assert_eq!(full.argmax(), (112.5, 0.5));
        let half = paste(&before, &look, &region, 0.5);
        assert_eq!(half.values[0], 0.5);
        assert!((half.values[112] - 1.0).abs() < 1e-6);
    }
}
