//! The files the commands write: overlay PNGs, 16-bit raw maps, JSON; every one through a
//! temporary file and a rename, so that a failure leaves nothing half-written.

use std::path::Path;

use anyhow::{Context, Result};
use image::{ImageBuffer, ImageFormat, Luma, RgbImage};
use thinktwice::geometry::BBox;
use thinktwice::map::Map;

/// Writes `bytes` to `path` through `path.partial` and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
    .with_context(|| format!("cannot write {}", path.display()))
}

/// Fails now, with the reason, when files cannot be written into `dir` (before any work starts).
pub fn ensure_writable(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let probe = dir.join(format!(".thinktwice-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("cannot write into {}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Writes an RGB picture as PNG.
pub fn write_png(path: &Path, picture: &RgbImage) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut bytes, ImageFormat::Png).with_context(|| format!("cannot encode {}", path.display()))?;
    write_atomically(path, bytes.get_ref())
}

/// Writes the raw map, normalised to its maximum, as a 16-bit grayscale PNG covering `region`
/// (the part of the original image the network sees) at one pixel per original pixel.
pub fn write_map_png(path: &Path, map: &Map, region: BBox) -> Result<()> {
    let (fw, fh) = ((region.x1 - region.x0).round().max(1.0) as u32, (region.y1 - region.y0).round().max(1.0) as u32);
    let raw = map.normalised().resized(fw as usize, fh as usize);
    let gray = ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(fw, fh, |x, y| Luma([(raw.values[(y * fw + x) as usize] * 65535.0).round() as u16]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    gray.write_to(&mut bytes, ImageFormat::Png).with_context(|| format!("cannot encode {}", path.display()))?;
    write_atomically(path, bytes.get_ref())
}

/// Writes `value` as pretty JSON.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    write_atomically(path, serde_json::to_string_pretty(value)?.as_bytes())
}
