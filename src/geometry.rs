//! Boxes and frame geometry: where the square network input lies in the original image.
//!
//! A leaf module: plain numbers in, plain numbers out, used by imaging, localize, overlay and the
//! session alike.

use serde::{Deserialize, Serialize};

/// Side of the square network input, in pixels (EfficientNet-Lite0 takes 224×224).
pub const INPUT_SIZE: usize = 224;
/// Shorter side after the first resize when centre-cropping (ImageNet convention: 256 → crop 224).
const RESIZE_SHORTER: u32 = 256;

/// An axis-aligned box in pixels: `x0 ≤ x < x1`, `y0 ≤ y < y1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

/// How an image is framed into the square network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// Shorter side to 256, centre crop 224: the classification protocol.
    #[default]
    CenterCrop,
    /// Whole image squashed to 224×224: every pixel maps back exactly (for localization).
    Whole,
}

impl Framing {
    /// The name used in results (`center-crop`, `whole`).
    pub fn name(self) -> &'static str {
        match self {
            Framing::CenterCrop => "center-crop",
            Framing::Whole => "whole",
        }
    }
}

/// Where the network input lies in the original image: input pixel (x, y) covers original
/// pixel `(x · scale_x + offset_x, y · scale_y + offset_y)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameGeometry {
    /// Original pixels per input pixel, horizontally.
    pub scale_x: f32,
    /// Original pixels per input pixel, vertically.
    pub scale_y: f32,
    /// Original x of the input's left edge.
    pub offset_x: f32,
    /// Original y of the input's top edge.
    pub offset_y: f32,
}

impl FrameGeometry {
    /// The geometry of framing an image of `width × height` by `framing`.
    pub fn new(width: u32, height: u32, framing: Framing) -> Self {
        let (x, y, w, h) = source_rect(width, height, framing);
        let size = INPUT_SIZE as f32;
        Self { scale_x: w as f32 / size, scale_y: h as f32 / size, offset_x: x as f32, offset_y: y as f32 }
    }

    /// A box in input pixels → the same box in original pixels.
    pub fn to_original(&self, b: &BBox) -> BBox {
        BBox {
            x0: b.x0 * self.scale_x + self.offset_x,
            y0: b.y0 * self.scale_y + self.offset_y,
            x1: b.x1 * self.scale_x + self.offset_x,
            y1: b.y1 * self.scale_y + self.offset_y,
        }
    }

    /// A box in original pixels → the same box in input pixels.
    pub fn to_input(&self, b: &BBox) -> BBox {
        BBox {
            x0: (b.x0 - self.offset_x) / self.scale_x,
            y0: (b.y0 - self.offset_y) / self.scale_y,
            x1: (b.x1 - self.offset_x) / self.scale_x,
            y1: (b.y1 - self.offset_y) / self.scale_y,
        }
    }

    /// A box in input pixels → the whole original pixels `(x, y, w, h)` that cover it, inside
    /// an image of `width × height`, at least one pixel on a side.
    pub fn pixels_of(&self, b: &BBox, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let o = self.to_original(b);
        let x0 = (o.x0.floor().max(0.0) as u32).min(width.saturating_sub(1));
        let y0 = (o.y0.floor().max(0.0) as u32).min(height.saturating_sub(1));
        let x1 = (o.x1.ceil().max(0.0) as u32).clamp(x0 + 1, width.max(x0 + 1));
        let y1 = (o.y1.ceil().max(0.0) as u32).clamp(y0 + 1, height.max(y0 + 1));
        (x0, y0, x1 - x0, y1 - y0)
    }

    /// A point in input pixels → the same point in original pixels.
    pub fn point_to_original(&self, x: f32, y: f32) -> (f32, f32) {
        (x * self.scale_x + self.offset_x, y * self.scale_y + self.offset_y)
    }

    /// The part of the original image the network sees, in original pixels.
    pub fn region(&self) -> BBox {
        let size = INPUT_SIZE as f32;
        self.to_original(&BBox { x0: 0.0, y0: 0.0, x1: size, y1: size })
    }
}

/// The part of a `width × height` image the network sees, `(x, y, w, h)` in whole pixels: all of
/// it (`Whole`), or the centred square that "shorter side to 256, centre crop 224" keeps, i.e.
/// 224/256 of the shorter side (`CenterCrop`). The one place where framing is decided: the
/// pixels ([`crate::imaging::frame`]) and the boxes ([`FrameGeometry`]) both follow it.
pub fn source_rect(width: u32, height: u32, framing: Framing) -> (u32, u32, u32, u32) {
    match framing {
        Framing::Whole => (0, 0, width, height),
        Framing::CenterCrop => {
            let shorter = width.min(height);
            let side = ((f64::from(shorter) * INPUT_SIZE as f64 / RESIZE_SHORTER as f64).round() as u32).clamp(1, shorter.max(1));
            ((width - side.min(width)) / 2, (height - side.min(height)) / 2, side.min(width), side.min(height))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn geometry_maps_input_boxes_back() {
        let whole = FrameGeometry::new(448, 112, Framing::Whole);
        assert_eq!(whole.region(), BBox { x0: 0.0, y0: 0.0, x1: 448.0, y1: 112.0 });
        // 512×256: the centred 224×224 square (224/256 of the shorter side).
        let crop = FrameGeometry::new(512, 256, Framing::CenterCrop);
        assert_eq!(crop.region(), BBox { x0: 144.0, y0: 16.0, x1: 368.0, y1: 240.0 });
        assert_eq!(crop.point_to_original(0.0, 0.0), (144.0, 16.0));
        // Extreme aspect ratios keep a small square; nothing scales with the long side.
        assert_eq!(source_rect(1, 65535, Framing::CenterCrop), (0, 32767, 1, 1));
        assert_eq!(source_rect(65535, 3, Framing::CenterCrop), (32766, 0, 3, 3));
        assert_eq!(source_rect(1000, 800, Framing::CenterCrop), (150, 50, 700, 700));
    }
}
