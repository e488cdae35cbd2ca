//! Weakly supervised localization metrics for one map against ground-truth boxes (all in the
//! map's pixels): box IoU, pointing game, box accuracy over thresholds (Choe et al., CVPR 2020),
//! and the share of map energy inside an object's own box.

use super::box_of_smoothed;
use crate::geometry::BBox;
use crate::map::Map;

/// Map thresholds for box accuracy curves: 0.00, 0.05, …, 0.95 of the (smoothed) maximum.
pub const THRESHOLDS: [f32; 20] = [
    0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95,
];

/// Best IoU of `b` with any of `truth` (0 without boxes).
pub fn best_iou(b: Option<&BBox>, truth: &[BBox]) -> f32 {
    b.map_or(0.0, |b| truth.iter().map(|t| b.iou(t)).fold(0.0, f32::max))
}

/// Pointing game: is the map's maximum within `tolerance` pixels of a ground-truth box?
pub fn pointing_hit(map: &Map, truth: &[BBox], tolerance: f32) -> bool {
    let (x, y) = map.argmax();
    truth.iter().any(|t| t.distance_to(x, y) <= tolerance)
}

/// Best IoU with `truth` of the largest-component box at each of [`THRESHOLDS`], on a map already
/// smoothed as for [`super::map_to_box`].
pub fn iou_per_threshold(smoothed: &Map, truth: &[BBox]) -> [f32; 20] {
    THRESHOLDS.map(|t| best_iou(box_of_smoothed(smoothed, t).as_ref(), truth))
}

/// Of the map's mass inside any of the boxes, the share inside `own` (the object's own boxes).
/// 0 when no mass falls in any box.
pub fn own_box_energy_share(map: &Map, own: &[BBox], others: &[BBox]) -> f32 {
    let (mut inside_own, mut inside_any) = (0.0f64, 0.0f64);
    for y in 0..map.height {
        for x in 0..map.width {
            let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
            let contains = |b: &BBox| cx >= b.x0 && cx < b.x1 && cy >= b.y0 && cy < b.y1;
            let v = map.values[y * map.width + x].max(0.0) as f64;
            let in_own = own.iter().any(contains);
            if in_own {
                inside_own += v;
            }
            if in_own || others.iter().any(contains) {
                inside_any += v;
            }
        }
    }
    if inside_any > 0.0 { (inside_own / inside_any) as f32 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square_map() -> Map {
        let mut v = vec![0.0; 100];
        for y in 2..6 {
            for x in 2..6 {
                v[y * 10 + x] = 1.0;
            }
        }
        Map::new(v, 10, 10).unwrap()
    }

    #[test]
    fn pointing_and_iou() {
        let map = square_map();
        let truth = [BBox { x0: 2.0, y0: 2.0, x1: 6.0, y1: 6.0 }];
        assert!(pointing_hit(&map, &truth, 0.0));
        assert!(!pointing_hit(&map, &[BBox { x0: 8.0, y0: 8.0, x1: 10.0, y1: 10.0 }], 1.0));
        let per = iou_per_threshold(&map, &truth);
        assert_eq!(per[10], 1.0); // threshold 0.5 boxes the square exactly
        assert_eq!(per[0], 1.0); // threshold 0 still excludes zeros
        assert_eq!(best_iou(None, &truth), 0.0);
    }

    #[test]
    fn energy_share_counts_only_mass_in_boxes() {
        let map = square_map();
        let own = [BBox { x0: 2.0, y0: 2.0, x1: 4.0, y1: 6.0 }];
        let other = [BBox { x0: 4.0, y0: 2.0, x1: 6.0, y1: 4.0 }];
        assert!((own_box_energy_share(&map, &own, &other) - 8.0 / 12.0).abs() < 1e-6);
        assert_eq!(own_box_energy_share(&map, &[BBox { x0: 8.0, y0: 8.0, x1: 9.0, y1: 9.0 }], &[]), 0.0);
    }
}
