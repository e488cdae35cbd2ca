//! From a saliency map to a box: Gaussian smoothing, a threshold at a fraction of the maximum,
//! the bounding box of the largest 8-connected component; GrabCut refinement; box metrics.

pub mod grabcut;
pub mod metrics;

use crate::geometry::BBox;
use crate::map::Map;
use crate::saliency::Method;

/// Settings of [`map_to_box`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxOptions {
    /// Gaussian smoothing σ in map pixels (0: none).
    pub sigma: f32,
    /// Threshold as a fraction of the smoothed map's maximum.
    pub threshold: f32,
}

impl Default for BoxOptions {
    fn default() -> Self {
        Self { sigma: 4.0, threshold: 0.3 }
    }
}

impl BoxOptions {
    /// The tuned settings for `method`: the threshold that maximised its box accuracy on the
    /// ImageNet dev set (docs/RESULTS.md), σ = 4.
    pub fn for_method(method: Method) -> Self {
        let threshold = match method {
            Method::Gradient => 0.15,
            Method::Deconvnet => 0.45,
            Method::Guided => 0.10,
            Method::Cam | Method::GradCam => 0.35,
            Method::FeedbackSoft | Method::FeedbackHard => 0.35,
            Method::FeedbackFsp | Method::FeedbackFr => 0.5,
            Method::FeedbackTwice => 0.35,
        };
        Self { threshold, ..Self::default() }
    }
}

/// Smooth, threshold at `threshold × max`, and box the largest 8-connected component.
/// `None` for an all-zero map.
pub fn map_to_box(map: &Map, options: &BoxOptions) -> Option<BBox> {
    box_of_smoothed(&map.smoothed(options.sigma), options.threshold)
}

/// The box of a map already smoothed: threshold at `threshold × max`, box the largest
/// 8-connected component. `None` for an all-zero map.
pub fn box_of_smoothed(smoothed: &Map, threshold: f32) -> Option<BBox> {
    let max = smoothed.max();
    if max <= 0.0 {
        return None;
    }
    largest_component_box(&smoothed.above(threshold * max), smoothed.width, smoothed.height)
}

/// Bounding box of the largest 8-connected component of `mask`.
pub fn largest_component_box(mask: &[bool], width: usize, height: usize) -> Option<BBox> {
    let mut seen = vec![false; mask.len()];
    let mut best: Option<(usize, BBox)> = None;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut n, mut x0, mut y0, mut x1, mut y1) = (0, width, height, 0, 0);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            n += 1;
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    let (nx, ny) = (x as isize + dx, y as isize + dy);
                    if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let b = BBox { x0: x0 as f32, y0: y0 as f32, x1: x1 as f32, y1: y1 as f32 };
        if best.as_ref().is_none_or(|(m, _)| n > *m) {
            best = Some((n, b));
        }
    }
    best.map(|(_, b)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_the_largest_blob() {
        let (w, h) = (40, 30);
        let mut values = vec![0.0; w * h];
        for y in 5..15 {
            for x in 10..30 {
                values[y * w + x] = 1.0; // large blob
            }
        }
        for y in 20..23 {
            for x in 2..5 {
                values[y * w + x] = 2.0; // small but brighter
            }
        }
        let map = Map::new(values, w, h).unwrap();
        let b = map_to_box(&map, &BoxOptions { sigma: 0.0, threshold: 0.4 }).unwrap();
        assert_eq!(b, BBox { x0: 10.0, y0: 5.0, x1: 30.0, y1: 15.0 });
        assert!(map_to_box(&Map::new(vec![0.0; 4], 2, 2).unwrap(), &BoxOptions::default()).is_none());
    }

    #[test]
    fn diagonal_pixels_are_connected() {
        let mask = [true, false, false, false, true, false, false, false, true];
        assert_eq!(largest_component_box(&mask, 3, 3), Some(BBox { x0: 0.0, y0: 0.0, x1: 3.0, y1: 3.0 }));
    }
}
