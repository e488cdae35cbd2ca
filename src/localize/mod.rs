//! From a saliency map to a box: Gaussian smoothing, then either a threshold at a fraction of the
//! maximum and the bounding box of the largest 8-connected component, or the smallest set of
//! pixels holding a fraction of the map's mass; GrabCut refinement; box metrics.

pub mod grabcut;
pub mod metrics;

use crate::geometry::BBox;
use crate::map::Map;

/// How a smoothed map becomes a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoxRule {
    /// Pixels at or above `threshold × max`; the box of the largest 8-connected component.
    #[default]
    Peak,
    /// The brightest pixels that together hold `threshold` of the map's mass; the box of all of them.
    Mass,
}

impl std::str::FromStr for BoxRule {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> crate::error::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "peak" => Ok(BoxRule::Peak),
            "mass" => Ok(BoxRule::Mass),
            other => Err(crate::error::Error::UnknownMethod(format!("box rule {other:?}; rules: peak, mass"))),
        }
    }
}

/// Settings of [`map_to_box`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxOptions {
    /// Gaussian smoothing σ in map pixels (0: none).
    pub sigma: f32,
    /// Threshold: a fraction of the smoothed map's maximum ([`BoxRule::Peak`]) or of its mass ([`BoxRule::Mass`]).
    pub threshold: f32,
    /// Which of the two the threshold is.
    pub rule: BoxRule,
}

impl Default for BoxOptions {
    fn default() -> Self {
        Self { sigma: 4.0, threshold: 0.3, rule: BoxRule::Peak }
    }
}

/// Smooth, then box by the rule (`None` for an all-zero map).
pub fn map_to_box(map: &Map, options: &BoxOptions) -> Option<BBox> {
    box_by_rule(&map.smoothed(options.sigma), options)
}

/// The box of a map already smoothed, by `options`' rule and threshold (its σ is not applied).
pub fn box_by_rule(smoothed: &Map, options: &BoxOptions) -> Option<BBox> {
    match options.rule {
        BoxRule::Peak => box_of_smoothed(smoothed, options.threshold),
        BoxRule::Mass => mass_box(smoothed, options.threshold),
    }
}

/// The bounding box of the brightest pixels that together hold `share` of the map's mass (all of
/// them, in any number of pieces). `None` for an all-zero map.
pub fn mass_box(map: &Map, share: f32) -> Option<BBox> {
    let mut sorted: Vec<f32> = map.values.iter().copied().filter(|v| *v > 0.0).collect();
    let total: f64 = sorted.iter().map(|&v| v as f64).sum();
    if total <= 0.0 {
        return None;
    }
    sorted.sort_by(|a, b| b.total_cmp(a));
    let wanted = total * share.clamp(0.0, 1.0) as f64;
    let mut sum = 0.0;
    let mut level = sorted[0];
    for v in sorted {
        level = v;
        sum += v as f64;
        if sum >= wanted {
            break;
        }
    }
    let (mut x0, mut y0, mut x1, mut y1) = (map.width, map.height, 0, 0);
    for (i, _) in map.values.iter().enumerate().filter(|(_, v)| **v >= level && **v > 0.0) {
        let (x, y) = (i % map.width, i / map.width);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
    }
    Some(BBox { x0: x0 as f32, y0: y0 as f32, x1: x1 as f32, y1: y1 as f32 })
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
        let b = map_to_box(&map, &BoxOptions { sigma: 0.0, threshold: 0.4, rule: BoxRule::Peak }).unwrap();
        assert_eq!(b, BBox { x0: 10.0, y0: 5.0, x1: 30.0, y1: 15.0 });
        assert!(map_to_box(&Map::new(vec![0.0; 4], 2, 2).unwrap(), &BoxOptions::default()).is_none());
    }

    #[test]
    fn mass_box_holds_the_share_in_every_piece() {
        let (w, h) = (20, 10);
        let mut values = vec![0.0; w * h];
        values[2 * w + 3] = 4.0; // two bright pieces far apart, and a faint pixel
        values[7 * w + 15] = 4.0;
        values[9 * w + 19] = 1.0;
        let map = Map::new(values, w, h).unwrap();
        assert_eq!(mass_box(&map, 0.8), Some(BBox { x0: 3.0, y0: 2.0, x1: 16.0, y1: 8.0 }));
        assert_eq!(mass_box(&map, 1.0), Some(BBox { x0: 3.0, y0: 2.0, x1: 20.0, y1: 10.0 }));
        assert!(mass_box(&Map::new(vec![0.0; 4], 2, 2).unwrap(), 0.5).is_none());
    }

    #[test]
    fn diagonal_pixels_are_connected() {
        let mask = [true, false, false, false, true, false, false, false, true];
        assert_eq!(largest_component_box(&mask, 3, 3), Some(BBox { x0: 0.0, y0: 0.0, x1: 3.0, y1: 3.0 }));
    }
}
