//! From a saliency map to a box: Gaussian smoothing, a threshold at a fraction of the maximum,
//! the bounding box of the largest 8-connected component; plus box geometry and metrics.

pub mod grabcut;
pub mod metrics;

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use image::RgbImage;
use serde::Serialize;

use crate::error::Result;
use crate::feedback::TraceRecord;
use crate::imaging::{self, FrameGeometry, Framing};
use crate::model::{self, EfficientNetLite0, INPUT_SIZE, labels, read_back};
use crate::saliency::{self, Method, SaliencyOptions};

/// An axis-aligned box in pixels: `x0 ≤ x < x1`, `y0 ≤ y < y1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge (exclusive).
    pub x1: f32,
    /// Bottom edge (exclusive).
    pub y1: f32,
}

impl BBox {
    /// Area in square pixels (0 for an empty box).
    pub fn area(&self) -> f32 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }

    /// Intersection over union with `other`.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let h = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// This box in an image of `to` (width, height) pixels, from one of `from` pixels.
    pub fn rescale(&self, from: (usize, usize), to: (usize, usize)) -> BBox {
        let (sx, sy) = (to.0 as f32 / from.0 as f32, to.1 as f32 / from.1 as f32);
        BBox { x0: self.x0 * sx, y0: self.y0 * sy, x1: self.x1 * sx, y1: self.y1 * sy }
    }

    /// Distance in pixels from point (x, y) to the box (0 inside).
    pub fn distance_to(&self, x: f32, y: f32) -> f32 {
        let dx = (self.x0 - x).max(x - self.x1).max(0.0);
        let dy = (self.y0 - y).max(y - self.y1).max(0.0);
        (dx * dx + dy * dy).sqrt()
    }
}

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
        };
        Self { threshold, ..Self::default() }
    }
}

/// A 2-D map, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// Values, `height × width`.
    pub values: Vec<f32>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Map {
    /// Wraps values of a `width × height` map.
    pub fn new(values: Vec<f32>, width: usize, height: usize) -> Self {
        assert_eq!(values.len(), width * height, "map size");
        Self { values, width, height }
    }

    /// Largest value (0 for an empty or all-negative map).
    pub fn max(&self) -> f32 {
        self.values.iter().copied().fold(0.0, f32::max)
    }

    /// Values scaled to [0, 1] by the maximum (all zeros stay zeros).
    pub fn normalised(&self) -> Map {
        let m = self.max();
        let values = self.values.iter().map(|v| if m > 0.0 { (v / m).max(0.0) } else { 0.0 }).collect();
        Map::new(values, self.width, self.height)
    }

    /// Separable Gaussian blur with standard deviation `sigma` pixels (edges clamped).
    pub fn smoothed(&self, sigma: f32) -> Map {
        if sigma <= 0.0 {
            return self.clone();
        }
        let radius = (3.0 * sigma).ceil() as isize;
        let kernel: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
        let sum: f32 = kernel.iter().sum();
        let kernel: Vec<f32> = kernel.iter().map(|k| k / sum).collect();
        let (w, h) = (self.width as isize, self.height as isize);
        let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
            let mut out = vec![0.0; src.len()];
            for y in 0..h {
                for x in 0..w {
                    let mut acc = 0.0;
                    for (k, weight) in kernel.iter().enumerate() {
                        let d = k as isize - radius;
                        let (sx, sy) = if horizontal { ((x + d).clamp(0, w - 1), y) } else { (x, (y + d).clamp(0, h - 1)) };
                        acc += weight * src[(sy * w + sx) as usize];
                    }
                    out[(y * w + x) as usize] = acc;
                }
            }
            out
        };
        let values = pass(&pass(&self.values, true), false);
        Map::new(values, self.width, self.height)
    }

    /// Bilinear resize to `width × height` (pixel centres aligned).
    pub fn resized(&self, width: usize, height: usize) -> Map {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let (sx, sy) = (self.width as f32 / width as f32, self.height as f32 / height as f32);
        let mut values = Vec::with_capacity(width * height);
        for y in 0..height {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (self.height - 1) as f32);
            let (y0, ty) = (fy.floor() as usize, fy.fract());
            let y1 = (y0 + 1).min(self.height - 1);
            for x in 0..width {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (self.width - 1) as f32);
                let (x0, tx) = (fx.floor() as usize, fx.fract());
                let x1 = (x0 + 1).min(self.width - 1);
                let at = |yy: usize, xx: usize| self.values[yy * self.width + xx];
                let top = at(y0, x0) * (1.0 - tx) + at(y0, x1) * tx;
                let bottom = at(y1, x0) * (1.0 - tx) + at(y1, x1) * tx;
                values.push(top * (1.0 - ty) + bottom * ty);
            }
        }
        Map::new(values, width, height)
    }

    /// Position (x, y) of the maximum, at the pixel centre.
    pub fn argmax(&self) -> (f32, f32) {
        let i = self.values.iter().enumerate().fold(0, |best, (i, v)| if *v > self.values[best] { i } else { best });
        ((i % self.width) as f32 + 0.5, (i / self.width) as f32 + 0.5)
    }

    /// Pixels at or above `level` as a mask.
    pub fn above(&self, level: f32) -> Vec<bool> {
        self.values.iter().map(|&v| v >= level && v > 0.0).collect()
    }
}

/// What to compute for one image.
#[derive(Debug, Clone)]
pub struct LocalizeOptions {
    /// Saliency method.
    pub method: Method,
    /// Saliency and feedback settings.
    pub saliency: SaliencyOptions,
    /// Map → box settings.
    pub boxes: BoxOptions,
    /// GrabCut refinement of the thresholded map, if wanted.
    pub refine: Option<grabcut::GrabCutOptions>,
}

impl Default for LocalizeOptions {
    fn default() -> Self {
        Self {
            method: Method::FEEDBACK,
            saliency: SaliencyOptions::default(),
            boxes: BoxOptions::for_method(Method::FEEDBACK),
            refine: None,
        }
    }
}

/// One class located in one image.
#[derive(Debug, Clone, Serialize)]
pub struct Localization {
    /// Class index (0–999).
    pub class: usize,
    /// Class display name.
    pub name: &'static str,
    /// Class logit on the framed image.
    pub score: f32,
    /// Softmax probability of the class.
    pub probability: f32,
    /// The box in original-image pixels (`None` for an all-zero map).
    #[serde(rename = "box")]
    pub bbox: Option<BBox>,
    /// The map's maximum, in original-image pixels.
    pub peak: (f32, f32),
    /// The saliency map over the network input (224×224).
    #[serde(skip)]
    pub map: Map,
    /// The feedback trace (empty for baselines).
    pub trace: Vec<TraceRecord>,
}

/// An image framed for the network: the 224×224 picture, its input tensor, where it lies in the
/// original, and its class scores (read back to the host).
#[derive(Debug, Clone)]
pub struct Framed {
    /// The 224×224 RGB picture the network sees.
    pub picture: RgbImage,
    /// Its normalised `[1, 3, 224, 224]` input tensor.
    pub input: Tensor<4>,
    /// Input pixels → original pixels.
    pub geometry: FrameGeometry,
    /// Logits, 1000.
    pub logits: Vec<f32>,
    /// Softmax probabilities, 1000.
    pub probabilities: Vec<f32>,
}

impl Framed {
    /// Frames `image` (see [`Framing`]; [`Framing::Whole`] maps boxes back exactly) and scores it.
    pub async fn new(net: &EfficientNetLite0, image: &RgbImage, framing: Framing, device: &Device) -> Result<Self> {
        let picture = imaging::frame(image, framing);
        let input = model::input_tensor(imaging::normalize(&picture), INPUT_SIZE, INPUT_SIZE, device)?;
        let logits = net.forward(input.clone());
        let probabilities = read_back(softmax(logits.clone(), 1)).await?;
        let logits = read_back(logits).await?;
        let geometry = FrameGeometry::new(image.width(), image.height(), framing);
        Ok(Self { picture, input, geometry, logits, probabilities })
    }

    /// The part of the original image the network sees, in original pixels.
    pub fn region(&self) -> BBox {
        let size = INPUT_SIZE as f32;
        self.geometry.to_original(&BBox { x0: 0.0, y0: 0.0, x1: size, y1: size })
    }
}

/// Maps, boxes and traces for `classes` in a framed image; boxes in the original image's pixels.
pub async fn localize(
    net: &EfficientNetLite0,
    framed: &Framed,
    classes: &[usize],
    options: &LocalizeOptions,
    observer: &mut dyn FnMut(usize, &TraceRecord),
) -> Result<Vec<Localization>> {
    let (input, geometry) = (&framed.input, &framed.geometry);
    let mut results = Vec::with_capacity(classes.len());
    for &class in classes {
        model::check_class(class)?;
        let s = saliency::saliency(net, input.clone(), class, options.method, &options.saliency, &mut |r| observer(class, r)).await?;
        let map = Map::new(s.map, s.width, s.height);
        let in_input = match &options.refine {
            None => map_to_box(&map, &options.boxes),
            Some(g) => {
                let mask = grabcut::segment(&framed.picture, &map, g);
                largest_component_box(&mask, map.width, map.height).or_else(|| map_to_box(&map, &options.boxes))
            }
        };
        let (px, py) = map.argmax();
        let peak = geometry.to_original(&BBox { x0: px, y0: py, x1: px, y1: py });
        results.push(Localization {
            class,
            name: labels::class_name(class),
            score: framed.logits[class],
            probability: framed.probabilities[class],
            bbox: in_input.map(|b| geometry.to_original(&b)),
            peak: (peak.x0, peak.y0),
            map,
            trace: s.trace,
        });
    }
    Ok(results)
}

/// Smooth, threshold at `threshold × max`, and box the largest 8-connected component.
/// `None` for an all-zero map.
pub fn map_to_box(map: &Map, options: &BoxOptions) -> Option<BBox> {
    let smooth = map.smoothed(options.sigma);
    let max = smooth.max();
    if max <= 0.0 {
        return None;
    }
    largest_component_box(&smooth.above(options.threshold * max), map.width, map.height)
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
        let map = Map::new(values, w, h);
        let b = map_to_box(&map, &BoxOptions { sigma: 0.0, threshold: 0.4 }).unwrap();
        assert_eq!(b, BBox { x0: 10.0, y0: 5.0, x1: 30.0, y1: 15.0 });
        assert!(map_to_box(&Map::new(vec![0.0; 4], 2, 2), &BoxOptions::default()).is_none());
    }

    #[test]
    fn diagonal_pixels_are_connected() {
        let mask = [true, false, false, false, true, false, false, false, true];
        assert_eq!(largest_component_box(&mask, 3, 3), Some(BBox { x0: 0.0, y0: 0.0, x1: 3.0, y1: 3.0 }));
    }

    #[test]
    fn iou_and_rescale() {
        let a = BBox { x0: 0.0, y0: 0.0, x1: 10.0, y1: 10.0 };
        let b = BBox { x0: 5.0, y0: 0.0, x1: 15.0, y1: 10.0 };
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.rescale((10, 10), (20, 5)), BBox { x0: 0.0, y0: 0.0, x1: 20.0, y1: 5.0 });
        assert_eq!(a.distance_to(13.0, 14.0), 5.0);
    }

    #[test]
    fn smoothing_keeps_mass_and_resize_keeps_constants() {
        let mut values = vec![0.0; 21 * 21];
        values[10 * 21 + 10] = 1.0;
        let s = Map::new(values, 21, 21).smoothed(2.0);
        assert!((s.values.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert_eq!(s.argmax(), (10.5, 10.5));
        let c = Map::new(vec![0.5; 12], 4, 3).resized(9, 7);
        assert!(c.values.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }
}
