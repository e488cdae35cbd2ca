//! Image decoding and preprocessing: one path for the CLI and the browser.
//!
//! The network input is RGB, CHW, 224×224, each value `(x − 127) / 128` for 8-bit `x`
//! (the EfficientNet-Lite TF preprocessing).

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};
use crate::model::INPUT_SIZE;

/// Largest image accepted, in pixels (about 8000×8000).
pub const MAX_PIXELS: u64 = 64_000_000;
/// Shorter side after the first resize when centre-cropping (ImageNet convention: 256 → crop 224).
const RESIZE_SHORTER: u32 = 256;

/// How an image is framed into the square network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Shorter side to 256, centre crop 224: the classification protocol.
    #[default]
    CenterCrop,
    /// Whole image squashed to 224×224: every pixel maps back exactly (for localization).
    Whole,
}

/// Decodes JPEG, PNG, WebP, GIF, BMP or TIFF bytes to 8-bit RGB.
///
/// Grayscale is replicated, CMYK converted, and transparency composited over white.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(e.to_string()))?;
    if reader.format().is_none() {
        return Err(Error::Image("unrecognised format (expected JPEG, PNG, WebP, GIF, BMP or TIFF)".into()));
    }
    let (width, height) = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(e.to_string()))?
        .into_dimensions()
        .map_err(|e| Error::Image(e.to_string()))?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::ImageTooLarge { width, height, limit: MAX_PIXELS });
    }
    if width == 0 || height == 0 {
        return Err(Error::Image("image has no pixels".into()));
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 16);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| Error::Image(e.to_string()))?;
    Ok(to_rgb(image))
}

/// Converts any decoded image to RGB, compositing transparency over white.
fn to_rgb(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as u32;
        let blend = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

/// The 224×224 RGB crop or squash of `image` that the network sees.
pub fn frame(image: &RgbImage, framing: Framing) -> RgbImage {
    let size = INPUT_SIZE as u32;
    match framing {
        Framing::Whole => image::imageops::resize(image, size, size, FilterType::Triangle),
        Framing::CenterCrop => {
            let (rw, rh) = center_crop_resize(image.width(), image.height());
            let resized = image::imageops::resize(image, rw, rh, FilterType::Triangle);
            let (x0, y0) = ((rw - size) / 2, (rh - size) / 2);
            image::imageops::crop_imm(&resized, x0, y0, size, size).to_image()
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
    /// The geometry of [`frame`] for an image of `width × height`.
    pub fn new(width: u32, height: u32, framing: Framing) -> Self {
        let size = INPUT_SIZE as f32;
        match framing {
            Framing::Whole => Self { scale_x: width as f32 / size, scale_y: height as f32 / size, offset_x: 0.0, offset_y: 0.0 },
            Framing::CenterCrop => {
                let (rw, rh) = center_crop_resize(width, height);
                let (sx, sy) = (width as f32 / rw as f32, height as f32 / rh as f32);
                let (x0, y0) = ((rw - INPUT_SIZE as u32) / 2, (rh - INPUT_SIZE as u32) / 2);
                Self { scale_x: sx, scale_y: sy, offset_x: x0 as f32 * sx, offset_y: y0 as f32 * sy }
            }
        }
    }

    /// A box in input pixels → the same box in original pixels.
    pub fn to_original(&self, b: &crate::localize::BBox) -> crate::localize::BBox {
        crate::localize::BBox {
            x0: b.x0 * self.scale_x + self.offset_x,
            y0: b.y0 * self.scale_y + self.offset_y,
            x1: b.x1 * self.scale_x + self.offset_x,
            y1: b.y1 * self.scale_y + self.offset_y,
        }
    }
}

/// Size after resizing the shorter side to 256 (never below the crop).
fn center_crop_resize(w: u32, h: u32) -> (u32, u32) {
    let size = INPUT_SIZE as u32;
    let scale = RESIZE_SHORTER as f64 / w.min(h) as f64;
    (((w as f64 * scale).round() as u32).max(size), ((h as f64 * scale).round() as u32).max(size))
}

/// Normalised CHW floats, `[3, H, W]`, each `(x − 127) / 128`.
pub fn normalize(image: &RgbImage) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0.0; 3 * plane];
    for (i, p) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (p.0[c] as f32 - 127.0) / 128.0;
        }
    }
    out
}

/// Decode + frame + normalise: image file bytes → `[3, 224, 224]` network input.
pub fn preprocess(bytes: &[u8], framing: Framing) -> Result<Vec<f32>> {
    Ok(normalize(&frame(&decode(bytes)?, framing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(image: DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    #[test]
    fn gray_and_alpha_become_rgb() {
        let gray = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(4, 3, image::Luma([200])));
        let rgb = decode(&encode(gray, image::ImageFormat::Png)).unwrap();
        assert_eq!(rgb.get_pixel(1, 1).0, [200, 200, 200]);
        let clear = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(2, 2, image::Rgba([0, 0, 0, 0])));
        assert_eq!(decode(&encode(clear, image::ImageFormat::Png)).unwrap().get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        assert!(decode(b"").is_err());
        assert!(decode(b"\x89PNG\r\n\x1a\n garbage").is_err());
        assert!(decode(&[0xff, 0xd8, 0xff, 0xe0, 0, 0]).is_err());
    }

    #[test]
    fn huge_images_are_refused_before_decoding() {
        let mut bmp = encode(DynamicImage::ImageRgb8(RgbImage::new(1, 1)), image::ImageFormat::Bmp);
        bmp[18..22].copy_from_slice(&20_000i32.to_le_bytes());
        bmp[22..26].copy_from_slice(&20_000i32.to_le_bytes());
        let result = decode(&bmp);
        assert!(matches!(result, Err(Error::ImageTooLarge { width: 20_000, .. })), "{result:?}");
    }

    #[test]
    fn geometry_maps_input_boxes_back() {
        use crate::localize::BBox;
        let whole = FrameGeometry::new(448, 112, Framing::Whole);
        let b = whole.to_original(&BBox { x0: 0.0, y0: 0.0, x1: 224.0, y1: 224.0 });
        assert_eq!(b, BBox { x0: 0.0, y0: 0.0, x1: 448.0, y1: 112.0 });
        // 512×256 → 512×256 resized (shorter side 256), crop x from 144.
        let crop = FrameGeometry::new(512, 256, Framing::CenterCrop);
        let b = crop.to_original(&BBox { x0: 0.0, y0: 0.0, x1: 224.0, y1: 224.0 });
        assert_eq!(b, BBox { x0: 144.0, y0: 16.0, x1: 368.0, y1: 240.0 });
    }

    #[test]
    fn frames_are_224_and_normalised() {
        let img = RgbImage::from_fn(400, 300, |x, _| image::Rgb([if x < 200 { 255 } else { 0 }, 127, 0]));
        for framing in [Framing::CenterCrop, Framing::Whole] {
            let f = frame(&img, framing);
            assert_eq!(f.dimensions(), (224, 224));
        }
        let x = normalize(&frame(&img, Framing::Whole));
        assert_eq!(x.len(), 3 * 224 * 224);
        assert_eq!(x[0], 1.0); // red 255 at the left
        assert_eq!(x[224 * 224], 0.0); // green 127
        assert_eq!(x[2 * 224 * 224], -127.0 / 128.0); // blue 0
    }
}
