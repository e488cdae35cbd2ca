//! The saliency map: one 2-D grid of non-negative evidence, row-major. The one map type of the
//! library, used by saliency, localize, overlay and the session.

use crate::error::{Error, Result};

/// A 2-D map, row-major, `height × width` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// Values, `height × width`, row-major.
    pub values: Vec<f32>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Map {
    /// Wraps values of a `width × height` map; an error when the count does not match.
    pub fn new(values: Vec<f32>, width: usize, height: usize) -> Result<Self> {
        if values.len() != width * height || width == 0 || height == 0 {
            return Err(Error::Shape(format!("{} map values for a {width}×{height} map", values.len())));
        }
        Ok(Self { values, width, height })
    }

    /// The same shape with other values (a length the caller has made equal).
    fn with_values(&self, values: Vec<f32>) -> Map {
        debug_assert_eq!(values.len(), self.values.len());
        Map { values, width: self.width, height: self.height }
    }

    /// Largest value (0 for an empty or all-negative map).
    pub fn max(&self) -> f32 {
        self.values.iter().copied().fold(0.0, f32::max)
    }

    /// Values scaled to [0, 1] by the maximum (all zeros stay zeros).
    pub fn normalised(&self) -> Map {
        let m = self.max();
        self.with_values(self.values.iter().map(|v| if m > 0.0 { (v / m).max(0.0) } else { 0.0 }).collect())
    }

    /// The top of the colour scale a map is drawn on: the 99th percentile of its positive values
    /// (0 for a map with none), so that a sparse map (a gradient's few bright pixels) stays visible
    /// and everything above it saturates. The CLI's overlay and the page's canvas both use it.
    pub fn colour_top(&self) -> f32 {
        let mut sorted: Vec<f32> = self.values.iter().copied().filter(|v| *v > 0.0).collect();
        if sorted.is_empty() {
            return 0.0;
        }
        sorted.sort_by(f32::total_cmp);
        sorted[((sorted.len() - 1) as f32 * 0.99).round() as usize]
    }

    /// The sum of the positive values (maps drawn side by side share a scale in shares of it).
    pub fn mass(&self) -> f32 {
        self.values.iter().filter(|v| **v > 0.0).map(|&v| v as f64).sum::<f64>() as f32
    }

    /// Separable Gaussian blur with standard deviation `sigma` pixels (edges clamped).
    pub fn smoothed(&self, sigma: f32) -> Map {
        if sigma <= 0.0 {
            return self.clone();
        }
        let kernel = gaussian(sigma);
        let (w, h, radius) = (self.width, self.height, kernel.len() / 2);
        let mut across = vec![0.0; w * h];
        for (from, to) in self.values.chunks_exact(w).zip(across.chunks_exact_mut(w)) {
            blur_row(from, to, &kernel);
        }
        // Down the columns a row at a time: each output row adds the kernel's rows in order.
        let mut down = vec![0.0f32; w * h];
        for (y, to) in down.chunks_exact_mut(w).enumerate() {
            for (k, &weight) in kernel.iter().enumerate() {
                let from = (y + k).saturating_sub(radius).min(h - 1);
                for (o, &v) in to.iter_mut().zip(&across[from * w..(from + 1) * w]) {
                    *o += weight * v;
                }
            }
        }
        self.with_values(down)
    }

    /// Bilinear resize to `width × height` (pixel centres aligned; sizes below 1 become 1).
    pub fn resized(&self, width: usize, height: usize) -> Map {
        let (width, height) = (width.max(1), height.max(1));
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
        Map { values, width, height }
    }

    /// The value at (u, v) in pixel-centre coordinates, bilinear, edges clamped.
    pub fn sample(&self, u: f32, v: f32) -> f32 {
        let fx = u.clamp(0.0, (self.width - 1) as f32);
        let fy = v.clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
        let at = |yy: usize, xx: usize| self.values[yy * self.width + xx];
        let top = at(y0, x0) * (1.0 - tx) + at(y0, x1) * tx;
        let bottom = at(y1, x0) * (1.0 - tx) + at(y1, x1) * tx;
        top * (1.0 - ty) + bottom * ty
    }

    /// The map mirrored left to right.
    pub fn mirrored(&self) -> Map {
        let values = (0..self.height).flat_map(|y| (0..self.width).rev().map(move |x| (y, x))).map(|(y, x)| self.values[y * self.width + x]).collect();
        self.with_values(values)
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

/// A Gaussian of standard deviation `sigma`, 3σ each side, summing to one.
fn gaussian(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f32 = kernel.iter().sum();
    kernel.iter().map(|k| k / sum).collect()
}

/// `to[x] = Σ_k kernel[k] · from[clamp(x + k − radius)]`, the kernel's taps in order. Away from the
/// ends the taps never clamp, and the sums go tap by tap along the whole run (vectorised: a map
/// of 224² was smoothed for every feedback frame), in the same order, so to the same bits.
fn blur_row(from: &[f32], to: &mut [f32], kernel: &[f32]) {
    let (w, radius) = (from.len(), kernel.len() / 2);
    let clamped = |x: usize| kernel.iter().enumerate().fold(0.0, |acc, (k, &weight)| acc + weight * from[(x + k).saturating_sub(radius).min(w - 1)]);
    // The pixels whose taps all fall inside the row (none in a row narrower than the kernel).
    let inside = if w > 2 * radius { radius..w - radius } else { w..w };
    for x in (0..inside.start).chain(inside.end..w) {
        to[x] = clamped(x);
    }
    if inside.is_empty() {
        return;
    }
    let run = &mut to[inside.clone()];
    for (k, &weight) in kernel.iter().enumerate() {
        for (o, &v) in run.iter_mut().zip(&from[inside.start + k - radius..]) {
            *o += weight * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blur as it was first written: every tap of every pixel clamped.
    fn smoothed_by_taps(map: &Map, sigma: f32) -> Vec<f32> {
        let kernel = gaussian(sigma);
        let radius = (kernel.len() / 2) as isize;
        let (w, h) = (map.width as isize, map.height as isize);
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
        pass(&pass(&map.values, true), false)
    }

    #[test]
    fn smoothing_is_bit_for_bit_the_blur_tap_by_tap() {
        // The network input's side, odd sides, and maps narrower than the kernel.
        for (w, h) in [(224, 224), (37, 21), (5, 40), (1, 1), (24, 3)] {
            let values = (0..w * h).map(|i| ((i * 7919 % 1009) as f32 / 1009.0).powi(3)).collect();
            let map = Map::new(values, w, h).unwrap();
            for sigma in [4.0, 2.0, 0.7] {
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&map.smoothed(sigma).values), bits(&smoothed_by_taps(&map, sigma)), "{w} × {h}, σ {sigma}");
            }
        }
    }

    #[test]
    fn smoothing_keeps_mass_and_resize_keeps_constants() {
        let mut values = vec![0.0; 21 * 21];
        values[10 * 21 + 10] = 1.0;
        let s = Map::new(values, 21, 21).unwrap().smoothed(2.0);
        assert!((s.values.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert_eq!(s.argmax(), (10.5, 10.5));
        let c = Map::new(vec![0.5; 12], 4, 3).unwrap().resized(9, 7);
        assert!(c.values.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }

    #[test]
    fn wrong_sizes_are_errors_not_panics() {
        assert!(matches!(Map::new(vec![0.0; 5], 2, 2), Err(Error::Shape(_))));
        assert!(Map::new(Vec::new(), 0, 0).is_err());
    }
}
