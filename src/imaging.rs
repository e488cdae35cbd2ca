//! Image decoding and preprocessing: one path for the CLI (encoded files) and the browser (RGBA
//! pixels from its own decoder); [`crate::Session::prepare`] is where both meet.
//!
//! The network input is RGB, CHW, 224×224, each value `(x − 127) / 128` for 8-bit `x`
//! (the EfficientNet-Lite TF preprocessing).

use std::cell::Cell;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};
use crate::geometry::{Framing, INPUT_SIZE, source_rect};

/// Largest image accepted, in pixels (about 8000×8000): what the header claims is checked before
/// anything is decoded, so a decompression bomb costs nothing.
pub const MAX_PIXELS: u64 = 64_000_000;

/// Most bytes a decoder may allocate for one image (a 64-megapixel 8-bit RGBA image fits; the
/// same pixels at 16 bits do not): with the conversions after it, `classify` stays under 1 GB.
pub const MAX_DECODE_BYTES: u64 = 512 << 20;

/// Decodes JPEG, PNG, WebP, GIF, BMP or TIFF bytes to 8-bit RGB, upright (EXIF orientation
/// applied, as browsers do).
///
/// Grayscale is replicated, CMYK converted, and transparency composited over white. A decoder
/// that panics on a malformed file gives an [`Error::Image`], like any other bad file.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    catching_decoder_panics(|| decode_upright(bytes))
}

/// A decoder's message on one line (some end in a newline or hold several).
fn one_line(message: impl std::fmt::Display) -> Error {
    Error::Image(message.to_string().split_whitespace().collect::<Vec<_>>().join(" "))
}

fn decode_upright(bytes: &[u8]) -> Result<RgbImage> {
    let bad = |e: image::ImageError| one_line(e);
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(one_line)?;
    if reader.format().is_none() {
        return Err(Error::Image("unrecognised format (expected JPEG, PNG, WebP, GIF, BMP or TIFF)".into()));
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(bad)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Error::Image("image has no pixels".into()));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::ImageTooLarge { width, height, limit: MAX_PIXELS });
    }
    limits.reserve(decoder.total_bytes()).map_err(|_| {
        Error::Image(format!("{width}×{height} pixels at {} bytes each is more than thinktwice decodes", decoder.color_type().bytes_per_pixel()))
    })?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(bad)?;
    image.apply_orientation(orientation);
    Ok(to_rgb(image))
}

thread_local! {
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

/// Runs a decoder, turning a panic inside it into an error. The panic's message is not printed
/// (the error carries it): a hook, installed once, stays silent while this thread decodes and
/// passes every other panic on to the hook that was there before.
fn catching_decoder_panics(decode: impl FnOnce() -> Result<RgbImage>) -> Result<RgbImage> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !DECODING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    DECODING.with(|d| d.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(decode));
    DECODING.with(|d| d.set(false));
    outcome.unwrap_or_else(|panic| {
        let why = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        Err(one_line(format!("the decoder failed on this file ({})", why.unwrap_or_else(|| "malformed data".into()))))
    })
}

/// Converts any decoded image to RGB, compositing transparency over white.
fn to_rgb(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as u32;
        let blend = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

/// Sources larger than this on a side are area-averaged down to it before resampling, so that
/// the resampler's intermediate image stays small whatever the size or aspect ratio.
const PRESHRINK_SIDE: u32 = 8 * INPUT_SIZE as u32;

/// The 224×224 RGB crop or squash of `image` that the network sees: the part of it that
/// [`source_rect`] names (the same maths maps boxes back), resampled to 224×224. Nothing larger
/// than the crop is ever allocated, so a 1×65535 image is as cheap as any other.
pub fn frame(image: &RgbImage, framing: Framing) -> RgbImage {
    crop_resized(image, source_rect(image.width(), image.height(), framing), INPUT_SIZE as u32)
}

/// The part `(x, y, w, h)` of `image` (whole pixels, inside it) resampled to `side × side`: how
/// a closer look sees a crop of the original photo at the network's full resolution.
pub fn crop_resized(image: &RgbImage, (x, y, w, h): (u32, u32, u32, u32), side: u32) -> RgbImage {
    let source = image::imageops::crop_imm(image, x, y, w, h);
    let most = PRESHRINK_SIDE.max(8 * side);
    if w > most || h > most {
        let small = image::imageops::thumbnail(&*source, w.min(most), h.min(most));
        image::imageops::resize(&small, side, side, FilterType::Triangle)
    } else {
        image::imageops::resize(&*source, side, side, FilterType::Triangle)
    }
}

/// RGBA pixels (`width × height × 4` bytes, as a browser's canvas gives them) → RGB, with
/// transparency composited over white, exactly as [`decode`] does for files.
pub fn from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage> {
    if width == 0 || height == 0 {
        return Err(Error::Image("image has no pixels".into()));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::ImageTooLarge { width, height, limit: MAX_PIXELS });
    }
    let expected = width as usize * height as usize * 4;
    if rgba.len() != expected {
        return Err(Error::Image(format!("{} bytes of RGBA for {width}×{height} pixels (expected {expected})", rgba.len())));
    }
    let rgba = image::RgbaImage::from_raw(width, height, rgba.to_vec())
        .ok_or_else(|| Error::Image("RGBA buffer does not match its size".into()))?;
    Ok(to_rgb(DynamicImage::ImageRgba8(rgba)))
}

/// The grey level that maps to input 0.
pub const PIXEL_MEAN: f32 = 127.0;
/// Grey levels per input unit.
pub const PIXEL_SCALE: f32 = 128.0;

/// Normalised CHW floats, `[3, H, W]`, each `(x − 127) / 128`.
pub fn normalize(image: &RgbImage) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0.0; 3 * plane];
    for (i, p) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (p.0[c] as f32 - PIXEL_MEAN) / PIXEL_SCALE;
        }
    }
    out
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
    fn rgba_pixels_match_decoded_files() {
        let rgba = image::RgbaImage::from_fn(5, 4, |x, y| image::Rgba([x as u8 * 40, y as u8 * 60, 7, if x == 0 { 0 } else { 255 }]));
        let png = encode(DynamicImage::ImageRgba8(rgba.clone()), image::ImageFormat::Png);
        assert_eq!(from_rgba(rgba.as_raw(), 5, 4).unwrap(), decode(&png).unwrap());
        assert!(matches!(from_rgba(&[0; 7], 5, 4), Err(Error::Image(_))));
        assert!(from_rgba(&[], 0, 4).is_err());
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
