//! A deterministic generator of hostile and odd image files (seeded; no file is stored): what a
//! visitor may drop onto the page or a user may point the CLI at. Every case says whether it must
//! decode, must fail, or may do either (a damaged file some decoders still read).
#![allow(dead_code)]

use std::io::{Cursor, Write};

use image::{DynamicImage, ImageFormat, RgbImage};

/// What a case must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A valid (if odd) image: it must be classified.
    Valid,
    /// Not an image, or one over the limits: it must be a clean error.
    Invalid,
    /// Damaged: either is fine, but never a panic, an abort or a hang.
    Either,
}

/// One generated input.
pub struct Case {
    /// File name, unique, with an extension that hints at the format.
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// What it must give.
    pub expect: Expect,
}

/// xorshift64*: small, seeded, good enough to pick cut points and bytes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A small photo-like picture: gradients and a disc, so that every codec has work to do.
pub fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width.max(1) as f32, y as f32 / height.max(1) as f32);
        let disc = ((fx - 0.5).powi(2) + (fy - 0.5).powi(2)).sqrt() < 0.25;
        image::Rgb([(255.0 * fx) as u8, (255.0 * fy) as u8, if disc { 230 } else { 40 }])
    })
}

pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

pub fn jpeg(pixels: &[u8], width: u16, height: u16, color: jpeg_encoder::ColorType, progressive: bool, app1: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    encoder.set_progressive(progressive);
    if let Some(segment) = app1 {
        encoder.add_app_segment(1, segment).unwrap();
    }
    encoder.encode(pixels, width, height, color).unwrap();
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG chunk with its CRC, so that whatever it holds reaches the decoder.
pub fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    out
}

/// A PNG built chunk by chunk: `rows` yields each scanline's raw bytes (filter byte included),
/// compressed as it goes (so a 20000×20000 bomb costs no memory to make).
pub fn png(width: u32, height: u32, bit_depth: u8, color_type: u8, plte: Option<&[u8]>, rows: &mut dyn FnMut(u32) -> Vec<u8>) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    out.extend(chunk(b"IHDR", &ihdr));
    if let Some(p) = plte {
        out.extend(chunk(b"PLTE", p));
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for y in 0..height {
        z.write_all(&rows(y)).unwrap();
    }
    out.extend(chunk(b"IDAT", &z.finish().unwrap()));
    out.extend(chunk(b"IEND", &[]));
    out
}

/// An EXIF APP1 payload holding only an orientation (1–8).
pub fn exif_orientation(orientation: u16) -> Vec<u8> {
    let mut e = b"Exif\0\0II*\0\x08\0\0\0".to_vec();
    e.extend_from_slice(&1u16.to_le_bytes()); // one entry
    e.extend_from_slice(&0x0112u16.to_le_bytes());
    e.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&orientation.to_le_bytes());
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding, next IFD = 0
    e
}

/// A baseline uncompressed RGB TIFF with `pages` pages of `width × height`.
pub fn tiff_pages(width: u32, height: u32, pages: usize) -> Vec<u8> {
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&0u32.to_le_bytes()); // patched below
    let mut ifd_offsets = Vec::new();
    let strip = picture(width, height).into_raw();
    for _ in 0..pages {
        let data_at = out.len() as u32;
        out.extend_from_slice(&strip);
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let bps_at = out.len() as u32;
        out.extend_from_slice(&[8, 0, 8, 0, 8, 0]);
        let ifd_at = out.len() as u32;
        ifd_offsets.push(ifd_at);
        let entries: [(u16, u16, u32, u32); 9] = [
            (256, 4, 1, width),
            (257, 4, 1, height),
            (258, 3, 3, bps_at),
            (259, 3, 1, 1),
            (262, 3, 1, 2),
            (273, 4, 1, data_at),
            (277, 3, 1, 3),
            (278, 4, 1, height),
            (279, 4, 1, strip.len() as u32),
        ];
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            if kind == 3 && count == 1 {
                out.extend_from_slice(&(value as u16).to_le_bytes());
                out.extend_from_slice(&[0, 0]);
            } else {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        out.extend_from_slice(&0u32.to_le_bytes()); // next IFD, patched below
    }
    out[4..8].copy_from_slice(&ifd_offsets[0].to_le_bytes());
    for pair in ifd_offsets.windows(2) {
        let next_field = pair[0] as usize + 2 + 9 * 12;
        out[next_field..next_field + 4].copy_from_slice(&pair[1].to_le_bytes());
    }
    out
}

/// Patches a JPEG's first start-of-frame to claim `width × height`.
pub fn jpeg_claiming(mut bytes: Vec<u8>, width: u16, height: u16) -> Vec<u8> {
    let mut i = 2;
    while i + 9 < bytes.len() {
        let marker = bytes[i + 1];
        if (0xc0..=0xc2).contains(&marker) {
            bytes[i + 5..i + 7].copy_from_slice(&height.to_be_bytes());
            bytes[i + 7..i + 9].copy_from_slice(&width.to_be_bytes());
            break;
        }
        i += 2 + u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
    }
    bytes
}

/// The valid base file of every format, 64×48.
pub fn bases() -> Vec<(&'static str, Vec<u8>)> {
    let rgb = DynamicImage::ImageRgb8(picture(64, 48));
    vec![
        ("png", encode(&rgb, ImageFormat::Png)),
        ("jpg", encode(&rgb, ImageFormat::Jpeg)),
        ("webp", encode(&rgb, ImageFormat::WebP)),
        ("gif", encode(&rgb, ImageFormat::Gif)),
        ("bmp", encode(&rgb, ImageFormat::Bmp)),
        ("tiff", encode(&rgb, ImageFormat::Tiff)),
    ]
}

/// Every case, in a fixed order, from one seed: ≥ 1,000 files.
pub fn generate(seed: u64) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let mut cases = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>, expect: Expect| cases.push(Case { name, bytes, expect });

    // Every format intact, truncated at 70 cut points, and with 1–8 bytes flipped, 70 times.
    for (ext, base) in bases() {
        add(format!("valid.{ext}"), base.clone(), Expect::Valid);
        for k in 0..70 {
            let cut = match k {
                0..=15 => k,                                 // the magic and the first header bytes
                16..=31 => base.len() - 1 - (k - 16),        // the very end
                _ => 16 + rng.below(base.len().saturating_sub(32)), // anywhere
            };
            add(format!("truncated-{k:02}-at-{cut}.{ext}"), base[..cut].to_vec(), if cut < 8 { Expect::Invalid } else { Expect::Either });
        }
        for k in 0..70 {
            let mut bytes = base.clone();
            let flips = 1 + rng.below(8);
            // Half of them in the first 64 bytes (headers), half anywhere.
            for _ in 0..flips {
                let at = if k % 2 == 0 { rng.below(64.min(bytes.len())) } else { rng.below(bytes.len()) };
                bytes[at] ^= 1 << rng.below(8);
            }
            add(format!("flipped-{k:02}.{ext}"), bytes, Expect::Either);
        }
    }

    // PNG with CRCs fixed, so that bad values reach the decoder: every IHDR field, random IDAT bytes.
    // A scanline: filter byte 0, then `n` bytes of data.
    let row = |n: u32| move |_y: u32| -> Vec<u8> { std::iter::once(0).chain((0..n).map(|i| (i * 7) as u8)).collect() };
    for (depth, color) in [(8u8, 2u8), (8, 6), (16, 2), (8, 0), (1, 0), (8, 4), (8, 3), (3, 2), (8, 7), (0, 0)] {
        let valid = matches!((depth, color), (8, 2) | (8, 6) | (16, 2) | (8, 0) | (1, 0) | (8, 4));
        let channels: u32 = match color { 2 => 3, 6 => 4, 4 => 2, _ => 1 };
        let w = 16u32;
        let bytes_per_row = (w * channels * u32::from(depth.max(1))).div_ceil(8);
        let plte = (color == 3).then(|| vec![0u8; 48]);
        let bytes = png(w, 12, depth, color, plte.as_deref(), &mut row(bytes_per_row));
        add(format!("ihdr-depth{depth}-colour{color}.png"), bytes, if valid { Expect::Valid } else { Expect::Either });
    }
    for k in 0..60 {
        let mut idat: Vec<u8> = Vec::new();
        let mut r = row(48);
        let mut raw = png(16, 12, 8, 2, None, &mut r);
        let start = 8 + 25 + 8; // signature, IHDR chunk, IDAT length and type
        let len = u32::from_be_bytes(raw[start - 8..start - 4].try_into().unwrap()) as usize;
        idat.extend_from_slice(&raw[start..start + len]);
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(idat.len());
            idat[at] = rng.next() as u8;
        }
        let fixed = chunk(b"IDAT", &idat);
        raw.splice(start - 8..start + len + 4, fixed);
        add(format!("idat-corrupt-{k:02}.png"), raw, Expect::Either);
    }
    // Palettes: valid, too short, and a PLTE length that is not a multiple of 3 (a known decoder panic).
    for (k, plte_len) in [3usize, 6, 48, 768, 1, 2, 4, 5, 7, 769, 0].into_iter().enumerate() {
        let plte: Vec<u8> = (0..plte_len).map(|i| i as u8).collect();
        let bytes = png(16, 12, 8, 3, Some(&plte), &mut |_| std::iter::once(0).chain((0..16).map(|i| (i % (plte_len / 3).max(1)) as u8)).collect());
        add(format!("palette-{k:02}-plte{plte_len}.png"), bytes, if plte_len % 3 == 0 && plte_len >= 48 { Expect::Valid } else { Expect::Either });
    }
    // Headers that claim far too many pixels, with almost no data behind them.
    for (w, h) in [(30_000u32, 30_000u32), (100_000, 100_000), (1 << 31, 1), (65_535, 65_535), (1 << 16, 1 << 15)] {
        let bytes = png(w, h, 8, 2, None, &mut |_| vec![]);
        let short = bytes.len().min(200);
        add(format!("claims-{w}x{h}.png"), bytes[..short].to_vec(), Expect::Invalid);
    }
    // A real decompression bomb: 20000×20000 grey, about 0.4 MB on disk, 400 MB decoded.
    add("bomb-20000x20000.png".into(), png(20_000, 20_000, 8, 0, None, &mut |_| vec![0; 20_001]), Expect::Invalid);
    let small = jpeg(&picture(16, 16).into_raw(), 16, 16, jpeg_encoder::ColorType::Rgb, false, None);
    for (w, h) in [(65_500u16, 65_500u16), (65_535, 65_535), (40_000, 30_000)] {
        add(format!("claims-{w}x{h}.jpg"), jpeg_claiming(small.clone(), w, h), Expect::Invalid);
    }

    // Not images at all.
    let texts: [(&str, &[u8]); 8] = [
        ("txt", b"hello, this is text and not a picture\n"),
        ("html", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"),
        ("pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"),
        ("svg", b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><rect width='10' height='10'/></svg>"),
        ("zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00!\x00"),
        ("elf", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
        ("json", b"{\"image\": \"no\"}"),
        ("empty", b""),
    ];
    for (ext, bytes) in texts {
        add(format!("not-an-image.{ext}"), bytes.to_vec(), Expect::Invalid);
    }
    for k in 0..40 {
        let n = 1 + rng.below(4096);
        add(format!("noise-{k:02}.bin"), (0..n).map(|_| rng.next() as u8).collect(), Expect::Invalid);
    }
    for (ext, base) in bases() {
        for n in 1..8 {
            add(format!("magic-only-{n}.{ext}"), base[..n].to_vec(), Expect::Invalid);
        }
    }

    // Valid but odd: tiny, extreme aspect ratios, 16-bit, grey + alpha, CMYK, progressive, animated,
    // every EXIF orientation, multipage and float TIFF.
    let one = DynamicImage::ImageRgb8(picture(1, 1));
    for (ext, format) in [("png", ImageFormat::Png), ("jpg", ImageFormat::Jpeg), ("gif", ImageFormat::Gif), ("bmp", ImageFormat::Bmp), ("tiff", ImageFormat::Tiff), ("webp", ImageFormat::WebP)] {
        add(format!("one-pixel.{ext}"), encode(&one, format), Expect::Valid);
    }
    add("1x65535.png".into(), png(1, 65_535, 8, 0, None, &mut |y| vec![0, (y % 251) as u8]), Expect::Valid);
    add("65535x1.png".into(), png(65_535, 1, 8, 0, None, &mut |_| std::iter::once(0).chain((0..65_535u32).map(|x| (x % 251) as u8)).collect()), Expect::Valid);
    add("16383x1.webp".into(), encode(&DynamicImage::ImageRgb8(picture(16_383, 1)), ImageFormat::WebP), Expect::Valid);
    add("65500x1.jpg".into(), jpeg(&picture(65_500, 1).into_raw(), 65_500, 1, jpeg_encoder::ColorType::Rgb, false, None), Expect::Valid);
    add("1x65500.jpg".into(), jpeg(&picture(1, 65_500).into_raw(), 1, 65_500, jpeg_encoder::ColorType::Rgb, false, None), Expect::Valid);
    add("rgb16.png".into(), encode(&DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(picture(40, 30)).to_rgb16()), ImageFormat::Png), Expect::Valid);
    add("grey-alpha.png".into(), encode(&DynamicImage::ImageLumaA8(DynamicImage::ImageRgb8(picture(40, 30)).to_luma_alpha8()), ImageFormat::Png), Expect::Valid);
    add("rgba.png".into(), encode(&DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(picture(40, 30)).to_rgba8()), ImageFormat::Png), Expect::Valid);
    let cmyk: Vec<u8> = picture(40, 30).pixels().flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0]).collect();
    add("cmyk.jpg".into(), jpeg(&cmyk, 40, 30, jpeg_encoder::ColorType::Cmyk, false, None), Expect::Valid);
    add("progressive.jpg".into(), jpeg(&picture(40, 30).into_raw(), 40, 30, jpeg_encoder::ColorType::Rgb, true, None), Expect::Valid);
    let grey: Vec<u8> = picture(40, 30).pixels().map(|p| p[0]).collect();
    add("grey.jpg".into(), jpeg(&grey, 40, 30, jpeg_encoder::ColorType::Luma, false, None), Expect::Valid);
    for orientation in 1..=8 {
        add(format!("exif-orientation-{orientation}.jpg"), jpeg(&picture(64, 48).into_raw(), 64, 48, jpeg_encoder::ColorType::Rgb, false, Some(&exif_orientation(orientation))), Expect::Valid);
    }
    let mut gif = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
        for k in 0..3u32 {
            let frame = image::RgbaImage::from_fn(32, 24, |x, _| image::Rgba([(x * 8 + k * 60) as u8, 90, 200, 255]));
            encoder.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    add("animated.gif".into(), gif, Expect::Valid);
    add("two-pages.tiff".into(), tiff_pages(40, 30, 2), Expect::Valid);
    add("float.tiff".into(), encode(&DynamicImage::ImageRgb32F(DynamicImage::ImageRgb8(picture(40, 30)).to_rgb32f()), ImageFormat::Tiff), Expect::Valid);
    cases
}
