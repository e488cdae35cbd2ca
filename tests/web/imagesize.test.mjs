// www/imagesize.js: an image's pixel size from its header alone, which the worker's decode()
// checks before decoding (null: a format it does not read; {width, height, type} otherwise) so a
// decompression bomb is refused unread. Every header here is built byte by byte in the test; where
// python3 has PIL, real files written by its encoders are read too, and so are the PNG samples
// in pkg/samples when a build has put them there. No build and no browser needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { imageSize } from "../../www/imagesize.js";
import { initSync, engineConstants } from "../../pkg/thinktwice.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// The worker's cap is the engine's (`ready.constants.maxPixels`, the Rust library's MAX_PIXELS).
initSync({ module: readFileSync(join(ROOT, "pkg/thinktwice_bg.wasm")) });
const MAX_PIXELS = engineConstants().maxPixels;

// ---- byte builders ---------------------------------------------------------------------------

// Concatenates numbers (one byte each), arrays of them, strings (one byte a character) and
// Uint8Arrays into one Uint8Array.
function bytes(...parts) {
  const out = [];
  const put = (p) => {
    if (typeof p === "number") out.push(p & 0xff);
    else if (typeof p === "string") for (const c of p) out.push(c.charCodeAt(0) & 0xff);
    else for (const x of p) put(x);
  };
  parts.forEach(put);
  return Uint8Array.from(out);
}
const be16 = (n) => [(n >>> 8) & 0xff, n & 0xff];
const be32 = (n) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const le16 = (n) => [n & 0xff, (n >>> 8) & 0xff];
const le24 = (n) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff];
const le32 = (n) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const zeros = (n) => new Uint8Array(n);

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(data) {
  let c = 0xffffffff;
  for (const x of data) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// PNG: signature, IHDR (8-bit RGB), an empty IDAT and IEND, with real CRCs.
function png(width, height) {
  const chunk = (type, data) => bytes(be32(data.length), type, data, be32(crc32(bytes(type, data))));
  return bytes(
    0x89, "PNG\r\n", 0x1a, "\n",
    chunk("IHDR", bytes(be32(width), be32(height), 8, 2, 0, 0, 0)),
    chunk("IDAT", bytes()),
    chunk("IEND", bytes()),
  );
}

// GIF: header, logical screen descriptor, one image descriptor covering the screen, a tiny
// LZW stream and the trailer.
function gif(width, height, version = "89a") {
  return bytes(
    "GIF", version, le16(width), le16(height), 0x00, 0, 0,
    0x2c, le16(0), le16(0), le16(width), le16(height), 0x00,
    2, 2, 0x44, 0x01, 0,
    0x3b,
  );
}

// BMP: file header and a DIB header of `headerSize` bytes (40 BITMAPINFOHEADER, 108 V4, 124 V5;
// 12 is OS/2's BITMAPCOREHEADER with 16-bit sides); height < 0 means top-down rows.
function bmp(width, height, headerSize = 40) {
  const dib = headerSize === 12
    ? bytes(le32(12), le16(width), le16(height), le16(1), le16(24))
    : bytes(le32(headerSize), le32(width), le32(height), le16(1), le16(24), le32(0), le32(0),
      le32(2835), le32(2835), le32(0), le32(0), zeros(headerSize - 40));
  const pixels = zeros(16);
  return bytes("BM", le32(14 + dib.length + pixels.length), le16(0), le16(0), le32(14 + dib.length), dib, pixels);
}

// WebP: a RIFF container around chunks; chunk data is padded to an even length.
function riffChunk(fourcc, data) {
  return bytes(fourcc, le32(data.length), data, data.length % 2 ? [0] : []);
}
function webpFile(...chunks) {
  const body = bytes("WEBP", ...chunks);
  return bytes("RIFF", le32(body.length), body);
}
// Lossy: a key frame's 3-byte tag, the start code 9d 01 2a, then 14-bit sides each with a 2-bit
// upscaling hint on top; then some (fake) partition bytes.
function vp8Chunk(width, height, { xscale = 0, yscale = 0 } = {}) {
  const tag = [0x10, 0x00, 0x00]; // key frame, version 0, shown, first partition size 0
  return riffChunk("VP8 ", bytes(tag, 0x9d, 0x01, 0x2a, le16(width | (xscale << 14)), le16(height | (yscale << 14)), zeros(10)));
}
// Lossless: signature 0x2f, then width-1 and height-1 in 14 bits each, alpha hint, 3-bit version.
function vp8lChunk(width, height) {
  const bits = ((width - 1) | ((height - 1) << 14) | (1 << 28)) >>> 0;
  return riffChunk("VP8L", bytes(0x2f, le32(bits), zeros(11)));
}
// Extended: flags, 3 reserved bytes, canvas width-1 and height-1 in 24 bits each.
function vp8xChunk(width, height, flags = 0x10) {
  return riffChunk("VP8X", bytes(flags, 0, 0, 0, le24(width - 1), le24(height - 1)));
}
const webpVP8 = (w, h, scale) => webpFile(vp8Chunk(w, h, scale));
const webpVP8L = (w, h) => webpFile(vp8lChunk(w, h));
// As real files have it: VP8X, an ALPH chunk, then the lossy bitstream of the same size.
const webpVP8X = (w, h) => webpFile(vp8xChunk(w, h), riffChunk("ALPH", bytes(0, zeros(7))), vp8Chunk(w & 0x3fff, h & 0x3fff));

// JPEG: segments are a marker and a payload; the length field counts itself.
const segment = (marker, payload) => {
  assert.ok(payload.length + 2 <= 0xffff, "a JPEG segment holds at most 65533 bytes");
  return bytes(0xff, marker, be16(payload.length + 2), payload);
};
const SOI = [0xff, 0xd8];
const EOI = [0xff, 0xd9];
const app0 = () => segment(0xe0, bytes("JFIF", 0, 1, 1, 0, be16(1), be16(1), 0, 0));
// APP1 EXIF: a TIFF header and `padding` more bytes; with a thumbnail, a whole small JPEG (with
// its own SOF) sits inside, as cameras write it: it must be skipped with the segment.
function app1Exif(padding = 0, thumbnail = null) {
  return segment(0xe1, bytes("Exif", 0, 0, "II", 0x2a, 0, le32(8), le16(0), le32(0), zeros(padding), thumbnail ?? []));
}
const dqt = () => segment(0xdb, bytes(0x00, Array.from({ length: 64 }, (_, i) => 1 + (i % 50))));
// A DHT whose first bytes, read as an SOF's, would say a quite different size (1 × 1281).
const dht = () => segment(0xc4, bytes(0x00, [0, 1, 5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5, 6, 7]));
const dac = () => segment(0xcc, bytes(0x00, 0x10, 0x10, 0x05, 0x27, 0x10));
const jpgReserved = () => segment(0xc8, bytes(0x08, be16(777), be16(999), 0x01, 0x01, 0x11, 0x00));
const com = (text) => segment(0xfe, bytes(text));
// SOFn: precision, height, width, three components.
const sof = (marker, width, height) => segment(marker, bytes(8, be16(height), be16(width), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1));
const sos = () => bytes(segment(0xda, bytes(3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0)), 0x12, 0x34, 0xff, 0x00, 0x56);
function jpeg(width, height, { marker = 0xc0, before = [app0(), dqt()], after = [dht()] } = {}) {
  return bytes(SOI, ...before, sof(marker, width, height), ...after, sos(), EOI);
}

// ISO BMFF (AVIF): boxes and full boxes.
const box = (type, ...payload) => {
  const body = bytes(...payload);
  return bytes(be32(8 + body.length), type, body);
};
const fullBox = (type, version, flags, ...payload) => box(type, version, (flags >>> 16) & 0xff, (flags >>> 8) & 0xff, flags & 0xff, ...payload);
const ispe = (width, height) => fullBox("ispe", 0, 0, be32(width), be32(height));
// A still AVIF as libavif writes one: ftyp, meta (hdlr, pitm, iloc, iinf, iprp with ipco and
// ipma), mdat. `items` is [{id, width, height}]; the first is primary unless `primary` says.
function avif(width, height, { items = [{ id: 1, width, height }], primary = items[0].id, brand = "avif", mdatFirst = 0 } = {}) {
  const mdatBody = bytes(0x12, 0x00, 0x0a, 0x0a, zeros(12));
  const ipco = box("ipco", ...items.flatMap((it) => [ispe(it.width, it.height), fullBox("pixi", 0, 0, 3, 8, 8, 8), box("av1C", 0x81, 0x00, 0x0c, 0x00)]));
  const ipma = fullBox("ipma", 0, 0, be32(items.length), ...items.map((it, k) => bytes(be16(it.id), 3, 0x80 | (3 * k + 1), 3 * k + 2, 0x80 | (3 * k + 3))));
  const meta = fullBox("meta", 0, 0,
    fullBox("hdlr", 0, 0, be32(0), "pict", zeros(12), 0),
    fullBox("pitm", 0, 0, be16(primary)),
    fullBox("iloc", 0, 0, 0x44, 0x00, be16(items.length), ...items.map((it) => bytes(be16(it.id), be16(0), be16(1), be32(0), be32(mdatBody.length)))),
    fullBox("iinf", 0, 0, be16(items.length), ...items.map((it) => fullBox("infe", 2, 0, be16(it.id), be16(0), "av01", 0))),
    box("iprp", ipco, ipma),
  );
  const ftyp = box("ftyp", brand, be32(0), "mif1", "avif", "miaf");
  // A large mdat (or other top-level box) before meta is allowed by ISO BMFF.
  const early = mdatFirst ? box("mdat", zeros(mdatFirst)) : bytes();
  return bytes(ftyp, early, meta, box("mdat", mdatBody));
}

// ---- helpers for the assertions --------------------------------------------------------------

const size = (width, height, type) => ({ width, height, type });
// The worker passes an ArrayBuffer (from postMessage); a Uint8Array must read the same.
function read(data) {
  const fromView = imageSize(data);
  const copy = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  assert.deepEqual(imageSize(copy), fromView, "an ArrayBuffer and a Uint8Array of the same bytes read the same");
  return fromView;
}
// The worker's own rule (decode() in www/worker.js).
const refused = (header) => header !== null && header.width * header.height > MAX_PIXELS;

// Every prefix of `data` reads without throwing, as null or as the full file's size (never a
// half-read size); prefixes shorter than `needed` bytes (those that cut the size fields) are null.
// (Only the first `upTo` prefixes of a large file: imageSize copies its input.)
function assertPrefixes(data, expected, needed, upTo = Infinity) {
  for (let n = 0; n <= Math.min(data.length, upTo); n++) {
    let got;
    assert.doesNotThrow(() => { got = imageSize(data.subarray(0, n)); }, `prefix of ${n} bytes`);
    if (got !== null) assert.deepEqual(got, expected, `prefix of ${n} of ${data.length} bytes read a wrong size`);
    if (n < needed) assert.equal(got, null, `prefix of ${n} bytes cuts the size fields, yet read ${JSON.stringify(got)}`);
  }
}

// ---- PNG -----------------------------------------------------------------------------------

test("PNG: IHDR's width and height, exactly", () => {
  assert.deepEqual(read(png(640, 480)), size(640, 480, "PNG"));
  assert.deepEqual(read(png(1, 1)), size(1, 1, "PNG"));
  assert.deepEqual(read(png(479, 641)), size(479, 641, "PNG"), "width and height are not swapped");
});

test("PNG: bomb sizes are read exactly (32-bit fields, unsigned) so the worker refuses them", () => {
  for (const [w, h] of [[30000, 30000], [100000, 100000], [0x7fffffff, 0x7fffffff], [0x80000000, 1], [0xffffffff, 0xffffffff]]) {
    const got = read(png(w, h));
    assert.deepEqual(got, size(w, h, "PNG"));
    assert.ok(got.width >= 0 && got.height >= 0, "sides never come back negative");
  }
  assert.ok(refused(read(png(30000, 30000))));
  assert.ok(!refused(read(png(640, 480))));
});

test("PNG: a zero side is read as zero (the worker refuses it with its own message)", () => {
  assert.deepEqual(read(png(0, 480)), size(0, 480, "PNG"));
});

test("PNG: truncated input never throws; cut before IHDR's sides it is null", () => {
  assertPrefixes(png(640, 480), size(640, 480, "PNG"), 24);
  assert.equal(imageSize(png(640, 480).subarray(0, 25)), null, "fewer than 26 bytes");
});

test("PNG: a signature without IHDR first (e.g. Apple's CgBI) is not read as PNG", () => {
  const data = png(640, 480);
  data.set(bytes("CgBI"), 12);
  assert.equal(read(data), null);
});

// ---- GIF -----------------------------------------------------------------------------------

test("GIF: the logical screen's size, GIF89a and GIF87a", () => {
  assert.deepEqual(read(gif(640, 480)), size(640, 480, "GIF"));
  assert.deepEqual(read(gif(640, 480, "87a")), size(640, 480, "GIF"));
  assert.deepEqual(read(gif(479, 641)), size(479, 641, "GIF"));
});

test("GIF: bomb sizes up to the 16-bit maximum 65535×65535 are read exactly and refused", () => {
  for (const [w, h] of [[30000, 30000], [65535, 65535], [65535, 4097]]) {
    const got = read(gif(w, h));
    assert.deepEqual(got, size(w, h, "GIF"));
    assert.ok(refused(got), `${w}×${h} is over the worker's limit`);
  }
});

test("GIF: truncated input never throws; under 26 bytes it is null", () => {
  const data = gif(640, 480);
  assert.ok(data.length >= 26);
  assertPrefixes(data, size(640, 480, "GIF"), 26);
});

// ---- BMP -----------------------------------------------------------------------------------

test("BMP: BITMAPINFOHEADER, V4 and V5 headers", () => {
  for (const header of [40, 108, 124]) {
    assert.deepEqual(read(bmp(640, 480, header)), size(640, 480, "BMP"), `${header}-byte DIB header`);
    assert.deepEqual(read(bmp(479, 641, header)), size(479, 641, "BMP"));
  }
});

test("BMP: a negative height (top-down rows) gives a positive height", () => {
  assert.deepEqual(read(bmp(640, -480)), size(640, 480, "BMP"));
  assert.deepEqual(read(bmp(1, -1)), size(1, 1, "BMP"));
  assert.deepEqual(read(bmp(30000, -30000)), size(30000, 30000, "BMP"));
  // The most negative int32: its absolute value does not fit int32 but must stay positive.
  assert.deepEqual(read(bmp(1, -0x80000000)), size(1, 0x80000000, "BMP"));
});

test("BMP: bomb sizes are read exactly and refused", () => {
  for (const [w, h] of [[30000, 30000], [0x7fffffff, 0x7fffffff], [100000, -100000]]) {
    const got = read(bmp(w, h));
    assert.deepEqual(got, size(w, Math.abs(h), "BMP"));
    assert.ok(refused(got));
  }
});

test("BMP: truncated input never throws; cut in the height it is null", () => {
  assertPrefixes(bmp(640, 480), size(640, 480, "BMP"), 26);
  assertPrefixes(bmp(640, -480), size(640, 480, "BMP"), 26);
});

test("BMP: OS/2 BITMAPCOREHEADER (12 bytes, 16-bit sides) is read, not taken as a bomb", () => {
  assert.deepEqual(read(bmp(640, 480, 12)), size(640, 480, "BMP"));
  assert.deepEqual(read(bmp(65535, 65535, 12)), size(65535, 65535, "BMP"));
});

// ---- WebP ----------------------------------------------------------------------------------

test("WebP lossy (VP8): 14-bit sides, the 2-bit upscaling hints ignored", () => {
  assert.deepEqual(read(webpVP8(640, 480)), size(640, 480, "WebP"));
  assert.deepEqual(read(webpVP8(479, 641)), size(479, 641, "WebP"));
  assert.deepEqual(read(webpVP8(640, 480, { xscale: 3, yscale: 2 })), size(640, 480, "WebP"), "scale bits are not part of the size");
  assert.deepEqual(read(webpVP8(16383, 16383)), size(16383, 16383, "WebP"), "the largest a VP8 frame can say");
});

test("WebP lossless (VP8L): width-1 and height-1 in 14 bits each", () => {
  assert.deepEqual(read(webpVP8L(640, 480)), size(640, 480, "WebP"));
  assert.deepEqual(read(webpVP8L(479, 641)), size(479, 641, "WebP"));
  assert.deepEqual(read(webpVP8L(1, 1)), size(1, 1, "WebP"));
  // The format's maximum is read exactly, and is more than the engine accepts.
  const max = read(webpVP8L(16384, 16384));
  assert.deepEqual(max, size(16384, 16384, "WebP"));
  assert.ok(refused(max));
  assert.deepEqual(read(webpVP8L(16384, 1)), size(16384, 1, "WebP"));
  assert.deepEqual(read(webpVP8L(1, 16384)), size(1, 16384, "WebP"), "the height's bits do not leak into the width");
});

test("WebP extended (VP8X): the canvas size, 24-bit fields, bombs read exactly and refused", () => {
  assert.deepEqual(read(webpVP8X(640, 480)), size(640, 480, "WebP"));
  assert.deepEqual(read(webpVP8X(479, 641)), size(479, 641, "WebP"));
  for (const [w, h] of [[30000, 30000], [16385, 16385], [1 << 24, 1 << 24]]) {
    const got = read(webpVP8X(w, h));
    assert.deepEqual(got, size(w, h, "WebP"));
    assert.ok(refused(got), `${w}×${h} is over the worker's limit`);
  }
});

test("WebP: truncated input never throws; cut in the size fields it is null", () => {
  assertPrefixes(webpVP8(640, 480), size(640, 480, "WebP"), 30);
  assertPrefixes(webpVP8L(640, 480), size(640, 480, "WebP"), 25);
  assertPrefixes(webpVP8X(640, 480), size(640, 480, "WebP"), 30);
  assertPrefixes(webpVP8X(30000, 30000), size(30000, 30000, "WebP"), 30);
});

test("WebP: a RIFF WEBP with an unknown first chunk, or another RIFF, is null", () => {
  assert.equal(read(webpFile(riffChunk("ANIM", zeros(6)), vp8Chunk(640, 480))), null);
  const wave = webpVP8(640, 480);
  wave.set(bytes("WAVE"), 8);
  assert.equal(read(wave), null);
});

// ---- JPEG ----------------------------------------------------------------------------------

test("JPEG: baseline SOF0 after APP0 and DQT", () => {
  assert.deepEqual(read(jpeg(640, 480)), size(640, 480, "JPEG"));
  assert.deepEqual(read(jpeg(479, 641)), size(479, 641, "JPEG"), "SOF stores height before width");
});

test("JPEG: SOF after APP1 EXIF of various lengths, with an embedded thumbnail JPEG skipped", () => {
  const thumbnail = jpeg(160, 120);
  for (const padding of [0, 1, 100, 4093, 30000, 65000]) {
    const data = jpeg(640, 480, { before: [app0(), app1Exif(padding, thumbnail), dqt(), com("made by hand")] });
    assert.deepEqual(read(data), size(640, 480, "JPEG"), `EXIF with ${padding} bytes of padding`);
  }
  // EXIF straight after SOI (no JFIF), as cameras write it.
  assert.deepEqual(read(jpeg(4000, 3000, { before: [app1Exif(20000, thumbnail), dqt(), dqt()] })), size(4000, 3000, "JPEG"));
});

test("JPEG: every start-of-frame variant it accepts, and only those", () => {
  // SOF0-3 (baseline, extended, progressive, lossless), SOF5-7 (differential), SOF9-11 and
  // SOF13-15 (arithmetic); 0xC4 DHT, 0xC8 JPG and 0xCC DAC share the range but are no frame.
  const frames = [0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf];
  for (const marker of frames) {
    assert.deepEqual(read(jpeg(640, 480, { marker })), size(640, 480, "JPEG"), `SOF marker 0x${marker.toString(16)}`);
  }
});

test("JPEG: DHT (0xC4), JPG (0xC8) and DAC (0xCC) before the frame are skipped, not taken as SOF", () => {
  const before = [app0(), dqt(), dht(), jpgReserved(), dac(), dht()];
  assert.deepEqual(read(jpeg(640, 480, { before })), size(640, 480, "JPEG"));
  assert.deepEqual(read(jpeg(640, 480, { marker: 0xc2, before })), size(640, 480, "JPEG"));
  assert.deepEqual(read(jpeg(640, 480, { marker: 0xc9, before: [app0(), dac(), dqt()] })), size(640, 480, "JPEG"));
  // With no frame at all, the markers alone give no size.
  assert.equal(read(bytes(SOI, app0(), dqt(), dht(), jpgReserved(), dac(), sos(), EOI)), null);
});

test("JPEG: fill bytes, RSTn and TEM markers before the frame are stepped over", () => {
  const data = bytes(SOI, 0xff, 0xff, 0xff, app0(), 0xff, 0x01, 0xff, 0xd0, 0xff, 0xd7, dqt(), 0xff, 0xff, sof(0xc0, 640, 480), sos(), EOI);
  assert.deepEqual(read(data), size(640, 480, "JPEG"));
});

test("JPEG: bomb sizes up to the 16-bit maximum 65535×65535 are read exactly and refused", () => {
  for (const marker of [0xc0, 0xc2]) {
    for (const [w, h] of [[30000, 30000], [65535, 65535], [65535, 4097]]) {
      const got = read(jpeg(w, h, { marker, before: [app0(), app1Exif(500), dqt()] }));
      assert.deepEqual(got, size(w, h, "JPEG"));
      assert.ok(refused(got));
    }
  }
});

test("JPEG: a height of 0 (to come in a DNL marker) is read as 0, which the worker refuses", () => {
  assert.deepEqual(read(jpeg(640, 0)), size(640, 0, "JPEG"));
});

test("JPEG: truncated input never throws; cut before the SOF's width it is null", () => {
  const data = jpeg(640, 480, { before: [app0(), app1Exif(300), dqt()] });
  const widthEnd = data.findIndex((x, i) => x === 0xff && data[i + 1] === 0xc0) + 9;
  assertPrefixes(data, size(640, 480, "JPEG"), widthEnd);
  // Cut inside the EXIF segment whose length points past the end.
  assert.equal(read(data.subarray(0, 200)), null);
});

test("JPEG: a bad segment (no 0xFF where a marker must be) is null, not a guess", () => {
  const data = bytes(SOI, app0(), 0x00, dqt(), sof(0xc0, 640, 480), sos(), EOI);
  assert.equal(read(data), null);
  // A segment length of 0 or 1 (corrupt) does not loop forever.
  assert.equal(read(bytes(SOI, 0xff, 0xe0, 0x00, 0x00, zeros(40))), null);
  assert.doesNotThrow(() => imageSize(bytes(SOI, 0xff, 0xe0, 0x00, 0x01, zeros(40))));
});

// ---- AVIF ----------------------------------------------------------------------------------

test("AVIF: the ispe property in meta/iprp/ipco, as libavif writes it", () => {
  assert.deepEqual(read(avif(640, 480)), size(640, 480, "AVIF"));
  assert.deepEqual(read(avif(479, 641)), size(479, 641, "AVIF"));
  assert.deepEqual(read(avif(640, 480, { brand: "avis" })), size(640, 480, "AVIF"));
});

test("AVIF: bomb sizes (32-bit ispe fields) are read exactly and refused", () => {
  for (const [w, h] of [[30000, 30000], [65536, 65536], [0xffffffff, 0xffffffff]]) {
    const got = read(avif(w, h));
    assert.deepEqual(got, size(w, h, "AVIF"));
    assert.ok(refused(got));
  }
});

test("AVIF: an ispe after a top-level box of some KiB before meta is still found", () => {
  assert.deepEqual(read(avif(30000, 30000, { mdatFirst: 8000 })), size(30000, 30000, "AVIF"));
});

test("AVIF: truncated input never throws; cut inside ispe it is null", () => {
  const data = avif(640, 480);
  const at = data.findIndex((x, i) => String.fromCharCode(...data.subarray(i, i + 4)) === "ispe");
  // ispe's height ends 16 bytes after its type; the code also wants one byte more after it
  // (so a file cut right at ispe's end reads null): both are fine here.
  assertPrefixes(data, size(640, 480, "AVIF"), at + 16);
});

test("AVIF: an ftyp file with no ispe (e.g. an MP4 video) is null", () => {
  const mp4 = bytes(box("ftyp", "isom", be32(512), "isom", "mp41"), box("free", zeros(8)), box("mdat", zeros(32)));
  assert.equal(read(mp4), null);
});

test("AVIF: the largest item's ispe is read when a smaller one (a thumbnail) comes first", () => {
  const items = [{ id: 1, width: 256, height: 256 }, { id: 2, width: 30000, height: 30000 }];
  const got = read(avif(0, 0, { items, primary: 2 }));
  assert.deepEqual(got, size(30000, 30000, "AVIF"));
  assert.ok(refused(got), "the bomb behind a thumbnail is refused");
});

test("AVIF: meta after a large mdat (over 64 KiB) is read, not left to the decoder", () => {
  assert.deepEqual(read(avif(30000, 30000, { mdatFirst: 70000 })), size(30000, 30000, "AVIF"));
});

// ---- unknown and short input ---------------------------------------------------------------

test("unknown bytes are null", () => {
  const hello = bytes("hello world, this is no image!");
  assert.equal(hello.length, 30);
  assert.equal(read(hello), null);
  assert.equal(read(zeros(100)), null);
  assert.equal(read(bytes(Array.from({ length: 64 }, () => 0xff))), null);
  // TIFF and PPM are not formats it reads.
  assert.equal(read(bytes("II", 0x2a, 0, le32(8), zeros(40))), null);
  assert.equal(read(bytes("P6\n640 480\n255\n", zeros(20))), null);
});

test("fewer than 26 bytes are null, whatever the magic", () => {
  const samples = { png: png(640, 480), gif: gif(640, 480), bmp: bmp(640, 480), vp8: webpVP8(640, 480), vp8l: webpVP8L(640, 480), vp8x: webpVP8X(640, 480), jpeg: jpeg(640, 480, { before: [] }), avif: avif(640, 480) };
  for (const [name, data] of Object.entries(samples)) {
    for (let n = 0; n < 26; n++) assert.equal(imageSize(data.subarray(0, n)), null, `${name}: ${n} bytes`);
  }
  assert.equal(imageSize(new ArrayBuffer(0)), null);
  assert.equal(imageSize(new Uint8Array(0)), null);
});

test("a Uint8Array view with an offset into a larger buffer reads its own bytes", () => {
  const file = png(640, 480);
  const big = new Uint8Array(file.length + 64);
  big.set(file, 32);
  assert.deepEqual(imageSize(big.subarray(32, 32 + file.length)), size(640, 480, "PNG"));
});

test("random bytes behind each magic never throw, and any size read is a pair of whole numbers", () => {
  let seed = 0x9e3779b9;
  const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const magics = [bytes(0x89, "PNG\r\n", 0x1a, "\n", be32(13), "IHDR"), bytes("GIF89a"), bytes("BM"), bytes("RIFF", le32(100), "WEBPVP8 "),
    bytes("RIFF", le32(100), "WEBPVP8L"), bytes("RIFF", le32(100), "WEBPVP8X"), bytes(SOI), bytes(SOI, 0xff), bytes(be32(24), "ftyp")];
  for (const magic of magics) {
    for (let k = 0; k < 2000; k++) {
      const data = new Uint8Array(Math.floor(random() * 120));
      for (let i = 0; i < data.length; i++) data[i] = random() < 0.2 ? 0xff : Math.floor(random() * 256);
      data.set(magic.subarray(0, Math.min(magic.length, data.length)));
      let got;
      assert.doesNotThrow(() => { got = imageSize(data); }, `input ${Buffer.from(data).toString("hex")}`);
      if (got === null) continue;
      assert.ok(Number.isInteger(got.width) && got.width >= 0, `width ${got.width} from ${Buffer.from(data).toString("hex")}`);
      assert.ok(Number.isInteger(got.height) && got.height >= 0, `height ${got.height} from ${Buffer.from(data).toString("hex")}`);
      assert.equal(typeof got.type, "string");
    }
  }
});

// ---- real files ----------------------------------------------------------------------------

test("the PNG samples in pkg/samples read as their IHDR says", (t) => {
  const dir = join(ROOT, "pkg", "samples");
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.toLowerCase().endsWith(".png")) : [];
  if (files.length === 0) return t.skip("no pkg/samples/*.png (they come with a build)");
  for (const file of files) {
    const data = new Uint8Array(readFileSync(join(dir, file)));
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    assert.equal(String.fromCharCode(...data.subarray(12, 16)), "IHDR", `${file} starts with IHDR`);
    const ihdr = size(view.getUint32(16), view.getUint32(20), "PNG");
    assert.ok(ihdr.width > 0 && ihdr.height > 0);
    assert.deepEqual(read(data), ihdr, file);
  }
});

// Real files from PIL's encoders (libjpeg, libwebp, libavif, ...), at sizes that are neither
// square nor even. PYTHON may name the interpreter; python3 otherwise.
const PIL_SCRIPT = String.raw`
import json, os, sys
from PIL import Image, features
d = sys.argv[1]
W, H = 641, 479
rgb = Image.new("RGB", (W, H), (200, 100, 50))
for x in range(0, W, 7):
    rgb.putpixel((x, x % H), (x % 256, 30, 220))
rgba = rgb.convert("RGBA")
rgba.putalpha(Image.linear_gradient("L").resize((W, H)))
exif = Image.Exif()
exif[0x010F] = "thinktwice"
exif[0x0110] = "x" * 3000
out = []
def save(name, image, kind, **kw):
    path = os.path.join(d, name)
    try:
        image.save(path, **kw)
    except Exception as e:
        out.append({"file": name, "skip": repr(e)})
        return
    out.append({"file": name, "width": image.width, "height": image.height, "type": kind})
save("rgb.png", rgb, "PNG")
save("rgba-interlaced.png", rgba, "PNG", interlace=1)
save("baseline.jpg", rgb, "JPEG", quality=90)
save("progressive.jpg", rgb, "JPEG", quality=90, progressive=True)
save("exif.jpg", rgb, "JPEG", quality=90, exif=exif.tobytes())
save("tall.jpg", rgb.transpose(Image.Transpose.ROTATE_90), "JPEG")
save("palette.gif", rgb.convert("P"), "GIF")
save("rgb.bmp", rgb, "BMP")
save("rgba.bmp", rgba, "BMP")
if features.check("webp"):
    save("lossy.webp", rgb, "WebP", quality=80)
    save("lossless.webp", rgb, "WebP", lossless=True)
    save("alpha.webp", rgba, "WebP", quality=80)
    save("exif.webp", rgb, "WebP", quality=80, exif=exif.tobytes())
    save("animated.webp", rgb, "WebP", save_all=True, append_images=[rgb.rotate(180)], duration=100)
else:
    out.append({"file": "*.webp", "skip": "PIL has no WebP"})
if features.check("avif"):
    save("still.avif", rgb, "AVIF", quality=50)
    save("exif.avif", rgb, "AVIF", quality=50, exif=exif.tobytes())
else:
    out.append({"file": "*.avif", "skip": "PIL has no AVIF"})
save("rgb.tiff", rgb, None)
save("rgb.ppm", rgb, None)
print(json.dumps(out))
`;

function havePil(python) {
  try {
    execFileSync(python, ["-c", "import PIL"], { stdio: "ignore", timeout: 30000 });
    return true;
  } catch {
    return false;
  }
}

test("real files from PIL's encoders read at their true size", (t) => {
  const python = process.env.PYTHON || "python3";
  if (!havePil(python)) return t.skip(`${python} has no PIL (pip install pillow to run this check)`);
  const dir = mkdtempSync(join(tmpdir(), "imagesize-"));
  try {
    const made = JSON.parse(execFileSync(python, ["-c", PIL_SCRIPT, dir], { encoding: "utf8", timeout: 120000 }));
    const skipped = made.filter((m) => m.skip);
    if (skipped.length) t.diagnostic(`not made: ${skipped.map((m) => `${m.file} (${m.skip})`).join("; ")}`);
    const files = made.filter((m) => !m.skip);
    t.diagnostic(`read ${files.length} files made by PIL: ${files.map((m) => m.file).join(", ")}`);
    assert.ok(files.length >= 9, "PIL made at least the PNG, JPEG, GIF and BMP files");
    for (const { file, width, height, type } of files) {
      const data = new Uint8Array(readFileSync(join(dir, file)));
      const expected = type === null ? null : size(width, height, type);
      assert.deepEqual(read(data), expected, file);
      if (expected) assertPrefixes(data, expected, 0, 4096);
    }
    // That the files cover the variants meant: progressive is SOF2, and the three WebP forms.
    const has = (file, text) => Buffer.from(readFileSync(join(dir, file))).includes(Buffer.from(text, "latin1"));
    assert.ok(has("progressive.jpg", "\xff\xc2"), "progressive.jpg has SOF2");
    assert.ok(has("exif.jpg", "Exif\0\0"), "exif.jpg has an APP1 EXIF segment");
    const fourcc = (file) => String.fromCharCode(...readFileSync(join(dir, file)).subarray(12, 16));
    if (files.some((m) => m.file === "lossy.webp")) {
      assert.equal(fourcc("lossy.webp"), "VP8 ");
      assert.equal(fourcc("lossless.webp"), "VP8L");
      assert.equal(fourcc("alpha.webp"), "VP8X");
      assert.equal(fourcc("animated.webp"), "VP8X");
    }
    if (files.some((m) => m.file === "still.avif")) assert.ok(has("still.avif", "ispe"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The other way round: PIL's parsers (libavif, libwebp, libjpeg, its own PNG/GIF/BMP readers)
// open the headers this test builds and must find the sizes they were built with, so the crafted
// bytes above are real headers. PIL opens lazily: only headers are parsed.
const PIL_OPEN = String.raw`
import json, os, sys
from PIL import Image, features
Image.MAX_IMAGE_PIXELS = None
d = sys.argv[1]
out = {"codecs": {"WEBP": bool(features.check("webp")), "AVIF": bool(features.check("avif"))}}
for name in sorted(os.listdir(d)):
    try:
        with Image.open(os.path.join(d, name)) as im:
            out[name] = [im.width, im.height, im.format]
    except Exception as e:
        out[name] = repr(e)
print(json.dumps(out))
`;

test("PIL's parsers read the crafted headers at the sizes they were built with", (t) => {
  const python = process.env.PYTHON || "python3";
  if (!havePil(python)) return t.skip(`${python} has no PIL (pip install pillow to run this check)`);
  const thumbnail = jpeg(160, 120);
  const twoItems = [{ id: 1, width: 160, height: 120 }, { id: 2, width: 300, height: 200 }]; // a thumbnail, then the primary
  // file → [the bytes, width, height, PIL's format name]
  const cases = {
    "a.png": [png(641, 479), 641, 479, "PNG"],
    "bomb.png": [png(30000, 30000), 30000, 30000, "PNG"],
    "a.gif": [gif(641, 479), 641, 479, "GIF"],
    "a87.gif": [gif(479, 641, "87a"), 479, 641, "GIF"],
    "bomb.gif": [gif(65535, 65535), 65535, 65535, "GIF"],
    "a.bmp": [bmp(641, 479), 641, 479, "BMP"],
    "topdown.bmp": [bmp(641, -479), 641, 479, "BMP"],
    "v4.bmp": [bmp(641, 479, 108), 641, 479, "BMP"],
    "v5.bmp": [bmp(641, 479, 124), 641, 479, "BMP"],
    "bomb.bmp": [bmp(30000, -30000), 30000, 30000, "BMP"],
    "os2.bmp": [bmp(641, 479, 12), 641, 479, "BMP"],
    "a.jpg": [jpeg(641, 479), 641, 479, "JPEG"],
    "exif.jpg": [jpeg(641, 479, { before: [app0(), app1Exif(4093, thumbnail), dqt(), com("by hand")] }), 641, 479, "JPEG"],
    "progressive.jpg": [jpeg(641, 479, { marker: 0xc2, before: [app0(), dqt(), dht(), dac(), dht()] }), 641, 479, "JPEG"],
    "fill.jpg": [bytes(SOI, 0xff, 0xff, app0(), 0xff, 0xd0, dqt(), 0xff, 0xff, sof(0xc0, 641, 479), sos(), EOI), 641, 479, "JPEG"],
    "bomb.jpg": [jpeg(65535, 65535, { marker: 0xc2 }), 65535, 65535, "JPEG"],
    "lossy.webp": [webpVP8(641, 479, { xscale: 3, yscale: 2 }), 641, 479, "WEBP"],
    "lossless.webp": [webpVP8L(641, 479), 641, 479, "WEBP"],
    "max.webp": [webpVP8L(16384, 16384), 16384, 16384, "WEBP"],
    "extended.webp": [webpVP8X(641, 479), 641, 479, "WEBP"],
    "a.avif": [avif(641, 479), 641, 479, "AVIF"],
    "primary2.avif": [avif(0, 0, { items: twoItems, primary: 2 }), 300, 200, "AVIF"],
  };
  const dir = mkdtempSync(join(tmpdir(), "imagesize-crafted-"));
  try {
    for (const [name, [data]] of Object.entries(cases)) writeFileSync(join(dir, name), data);
    const opened = JSON.parse(execFileSync(python, ["-c", PIL_OPEN, dir], { encoding: "utf8", timeout: 120000 }));
    const unsupported = [];
    for (const [name, [data, width, height, format]] of Object.entries(cases)) {
      const got = opened[name];
      if (format in opened.codecs && !opened.codecs[format]) {
        unsupported.push(name); // a PIL built without that codec
        continue;
      }
      assert.deepEqual(got, [width, height, format], `PIL opens ${name}`);
      const type = { WEBP: "WebP" }[format] ?? format;
      assert.deepEqual(read(data), size(width, height, type), `imageSize agrees with PIL on ${name}`);
    }
    if (unsupported.length) t.diagnostic(`PIL has no codec for: ${unsupported.join(", ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
