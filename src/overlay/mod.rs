//! Overlay pictures: the photo, a saliency map in a perceptually uniform colour map (viridis)
//! with its legend, boxes and labels. Pure pixels in, pixels out: the CLI writes them as PNGs, the
//! page gets them through the engine (the same code, so the two cannot drift), and the page's live
//! canvas draws with [`palette`] and each frame's [`Map::colour_top`].

mod font;

use image::{Rgb, RgbImage};

use crate::geometry::BBox;
use crate::map::Map;

/// The heat map's opacity where it is strongest, unless the user picks another.
pub const DEFAULT_OPACITY: f32 = 0.6;

/// Class colours, in the order classes are chosen: the Okabe–Ito palette (distinguishable with
/// colour-vision deficiencies).
pub const CLASS_COLOURS: [[u8; 3]; 7] =
    [[0xE6, 0x9F, 0x00], [0x56, 0xB4, 0xE9], [0x00, 0x9E, 0x73], [0xF0, 0xE4, 0x42], [0xD5, 0x5E, 0x00], [0xCC, 0x79, 0xA7], [0x00, 0x72, 0xB2]];

/// Viridis at `t` ∈ [0, 1] (polynomial fit of matplotlib's viridis, CC0, by Matt Zucker).
pub fn viridis(t: f32) -> [u8; 3] {
    const C: [[f32; 3]; 7] = [
        [0.277_727_33, 0.005_407_344_5, 0.334_099_8],
        [0.105_093_04, 1.404_613_5, 1.384_590_2],
        [-0.330_861_83, 0.214_847_56, 0.095_095_16],
        [-4.634_230_5, -5.799_101, -19.332_441],
        [6.228_27, 14.179_933, 56.690_55],
        [4.776_385, -13.745_145, -65.353_03],
        [-5.435_456, 4.645_852_6, 26.312_435],
    ];
    let t = t.clamp(0.0, 1.0);
    let mut rgb = [0.0f32; 3];
    for c in C.iter().rev() {
        for i in 0..3 {
            rgb[i] = rgb[i] * t + c[i];
        }
    }
    rgb.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// The heat colours: 256 RGBA entries, viridis with an alpha that rises from 0.35 to 1, so that the
/// photo shows through where the map is low. Multiplied by the opacity, entry `i` is what a map value
/// at `i / 255` of the scale's top is drawn with.
pub fn palette() -> [[u8; 4]; 256] {
    std::array::from_fn(|i| {
        let t = i as f32 / 255.0;
        let [r, g, b] = viridis(t);
        [r, g, b, (255.0 * (0.35 + 0.65 * t)).round() as u8]
    })
}

/// The palette entry of `value` on a scale whose brightest colour is at `top`.
fn entry(value: f32, top: f32) -> usize {
    if top > 0.0 { (value / top * 255.0).round().clamp(0.0, 255.0) as usize } else { 0 }
}

/// The legend's top end for a map drawn on its own scale ([`Map::colour_top`]).
pub const OWN_SCALE: &str = "top 1%";

/// A map and the value its brightest colour stands for.
#[derive(Debug, Clone, Copy)]
pub struct Heat<'a> {
    /// The map, over `region` of the photo.
    pub map: &'a Map,
    /// The value drawn brightest (everything above saturates): [`Map::colour_top`], or a scale
    /// shared by maps drawn side by side.
    pub top: f32,
}

/// A label as a result names its class: "tabby (281) 93.1% feedback-closer".
pub fn label_text(name: &str, class: usize, probability: f32, method: &str) -> String {
    format!("{name} ({class}) {:.1}% {method}", 100.0 * probability)
}

/// A labelled box to draw.
#[derive(Debug, Clone)]
pub struct Label {
    /// The box, in image pixels.
    pub bbox: BBox,
    /// Text drawn above the box.
    pub text: String,
    /// Box and label colour.
    pub colour: [u8; 3],
}

/// Blends `heat` over `region` of `photo`, then draws `labels` and a legend whose top end says
/// `legend` (e.g. "top 1%": the scale's top is the map's 99th percentile).
///
/// `opacity` ∈ [0, 1] is the map's weight where it is strongest.
pub fn render(photo: &RgbImage, heat: Option<Heat>, region: BBox, labels: &[Label], opacity: f32, legend: &str) -> RgbImage {
    let mut out = photo.clone();
    let (w, h) = out.dimensions();
    let rx0 = region.x0.max(0.0).round() as u32;
    let ry0 = region.y0.max(0.0).round() as u32;
    let rx1 = (region.x1.round() as u32).min(w);
    let ry1 = (region.y1.round() as u32).min(h);
    let palette = palette();
    if let Some(heat) = heat.filter(|_| rx1 > rx0 && ry1 > ry0) {
        let values = heat.map.resized((rx1 - rx0) as usize, (ry1 - ry0) as usize);
        for y in ry0..ry1 {
            for x in rx0..rx1 {
                let [r, g, b, a] = palette[entry(values.values[((y - ry0) * (rx1 - rx0) + (x - rx0)) as usize], heat.top)];
                blend(out.get_pixel_mut(x, y), [r, g, b], opacity * a as f32 / 255.0);
            }
        }
    }
    let thickness = ((w.min(h) as f32) / 200.0).ceil().max(2.0) as i64;
    let scale = ((w.min(h) as f32) / 300.0).ceil().max(1.0) as u32;
    for label in labels {
        let colour = Rgb(label.colour);
        draw_rect(&mut out, &label.bbox, thickness + 2, Rgb([0, 0, 0]));
        draw_rect(&mut out, &label.bbox, thickness, colour);
        let text_w = ((label.text.chars().count() + 2) * font::WIDTH) as i64 * scale as i64;
        let tx = (label.bbox.x0.max(0.0) as i64).min(w as i64 - text_w).max(0);
        let text_h = (font::HEIGHT as u32 * scale) as i64;
        let ty = if label.bbox.y0 as i64 >= text_h + 2 { label.bbox.y0 as i64 - text_h - 2 } else { label.bbox.y0.max(0.0) as i64 + thickness };
        draw_text(&mut out, &label.text, tx, ty, scale, Rgb([0, 0, 0]), Some(colour));
    }
    if heat.is_some() {
        draw_legend(&mut out, scale, legend);
    }
    out
}

fn blend(p: &mut Rgb<u8>, c: [u8; 3], a: f32) {
    for (channel, &colour) in p.0.iter_mut().zip(&c) {
        *channel = (*channel as f32 * (1.0 - a) + colour as f32 * a).round() as u8;
    }
}

fn fill(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, colour: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in y0.max(0)..y1.min(h) {
        for x in x0.max(0)..x1.min(w) {
            img.put_pixel(x as u32, y as u32, colour);
        }
    }
}

fn draw_rect(img: &mut RgbImage, b: &BBox, t: i64, colour: Rgb<u8>) {
    let (x0, y0, x1, y1) = (b.x0 as i64, b.y0 as i64, b.x1 as i64, b.y1 as i64);
    let half = t / 2;
    fill(img, x0 - half, y0 - half, x1 + half, y0 - half + t, colour);
    fill(img, x0 - half, y1 - half - 1, x1 + half, y1 - half - 1 + t, colour);
    fill(img, x0 - half, y0 - half, x0 - half + t, y1 + half, colour);
    fill(img, x1 - half - 1, y0 - half, x1 - half - 1 + t, y1 + half, colour);
}

/// Draws ASCII `text` (other characters as '?') at (x, y), glyphs scaled by `scale`.
pub fn draw_text(img: &mut RgbImage, text: &str, x: i64, y: i64, scale: u32, colour: Rgb<u8>, background: Option<Rgb<u8>>) {
    let s = scale as i64;
    let (gw, gh) = (font::WIDTH as i64 * s, font::HEIGHT as i64 * s);
    if let Some(bg) = background {
        fill(img, x, y, x + gw * text.chars().count() as i64 + 2 * s, y + gh, bg);
    }
    for (i, ch) in text.chars().enumerate() {
        let code = if (32..127).contains(&(ch as u32)) { ch as usize - 32 } else { '?' as usize - 32 };
        for (row, bits) in font::GLYPHS[code].iter().enumerate() {
            for col in 0..font::WIDTH {
                if bits >> (font::WIDTH - 1 - col) & 1 == 1 {
                    let px = x + s + i as i64 * gw + col as i64 * s;
                    let py = y + row as i64 * s;
                    fill(img, px, py, px + s, py + s, colour);
                }
            }
        }
    }
}

/// A colour bar with "0" and `top` in the bottom-right corner: the colours run from zero to the
/// scale's top, and everything above it is the brightest colour.
fn draw_legend(img: &mut RgbImage, scale: u32, top: &str) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let s = scale as i64;
    let (bar_w, bar_h) = ((w / 4).clamp(40, 200), 8 * s);
    let text_h = font::HEIGHT as i64 * s;
    let (x0, y0) = (w - bar_w - 8 * s - (top.chars().count() as i64 + 1) * font::WIDTH as i64 * s, h - bar_h - 6 * s);
    if x0 < 0 || y0 < text_h {
        return;
    }
    fill(img, x0 - 2 * s - 2 * font::WIDTH as i64 * s, y0 - 2 * s, w - 2 * s, h - 2 * s, Rgb([0, 0, 0]));
    for x in 0..bar_w {
        let c = viridis(x as f32 / (bar_w - 1) as f32);
        fill(img, x0 + x, y0, x0 + x + 1, y0 + bar_h, Rgb(c));
    }
    let ty = y0 + (bar_h - text_h) / 2;
    draw_text(img, "0", x0 - 2 * font::WIDTH as i64 * s, ty, scale, Rgb([255, 255, 255]), None);
    draw_text(img, top, x0 + bar_w, ty, scale, Rgb([255, 255, 255]), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_runs_dark_purple_to_yellow() {
        let (lo, hi) = (viridis(0.0), viridis(1.0));
        assert!(lo[2] > lo[0] && lo[2] > lo[1] && lo.iter().all(|&c| c < 100), "{lo:?}");
        assert!(hi[0] > 230 && hi[1] > 210 && hi[2] < 60, "{hi:?}");
        // Perceptually ordered: luminance rises monotonically.
        let lum = |c: [u8; 3]| 0.2126 * c[0] as f32 + 0.7152 * c[1] as f32 + 0.0722 * c[2] as f32;
        assert!((0..20).all(|i| lum(viridis(i as f32 / 20.0)) < lum(viridis((i + 1) as f32 / 20.0))));
    }

    #[test]
    fn draws_boxes_text_and_heat() {
        let photo = RgbImage::from_pixel(300, 200, Rgb([128, 128, 128]));
        let mut values = vec![0.0; 10 * 10];
        values[55] = 1.0;
        let b = BBox { x0: 50.0, y0: 60.0, x1: 150.0, y1: 160.0 };
        let region = BBox { x0: 0.0, y0: 0.0, x1: 300.0, y1: 200.0 };
        let map = Map::new(values, 10, 10).unwrap();
        let heat = Heat { map: &map, top: map.colour_top() };
        let out = render(&photo, Some(heat), region, &[Label { bbox: b, text: "cat 99%".into(), colour: CLASS_COLOURS[0] }], 0.6, "top 1%");
        assert_eq!(out.dimensions(), (300, 200));
        assert_eq!(out.get_pixel(100, 60).0, CLASS_COLOURS[0]); // box edge
        assert_ne!(out.get_pixel(160, 110).0, [128, 128, 128]); // heat near the map's peak
        let label_pixels = (40..60).flat_map(|y| (50..120).map(move |x| (x, y))).filter(|&(x, y)| out.get_pixel(x, y).0 == [0, 0, 0]).count();
        assert!(label_pixels > 20, "label text drawn");
    }
}
