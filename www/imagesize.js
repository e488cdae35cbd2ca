// An image file's pixel size from its header alone, so that the worker can refuse a decompression
// bomb and downscale a large photo while decoding it, never holding it at full size.
// Knows PNG, JPEG, GIF, BMP, WebP and AVIF; returns null for anything else.

const be16 = (b, i) => (b[i] << 8) | b[i + 1];
const be32 = (b, i) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];
const le16 = (b, i) => b[i] | (b[i + 1] << 8);
const le24 = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const le32 = (b, i) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));

export function imageSize(buffer) {
  const b = new Uint8Array(buffer);
  if (b.length < 26) return null;
  if (be32(b, 0) === 0x89504e47 && ascii(b, 12, 4) === "IHDR") return { width: be32(b, 16), height: be32(b, 20), type: "PNG" };
  if (ascii(b, 0, 4) === "GIF8") return { width: le16(b, 6), height: le16(b, 8), type: "GIF" };
  if (ascii(b, 0, 2) === "BM") {
    // OS/2 bitmaps (a 12-byte core header) have 16-bit sides; the others 32-bit, negative when top-down.
    if (le32(b, 14) === 12) return { width: le16(b, 18), height: le16(b, 20), type: "BMP" };
    return { width: Math.abs(le32(b, 18) | 0), height: Math.abs(le32(b, 22) | 0), type: "BMP" };
  }
  if (ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return webp(b);
  if (b[0] === 0xff && b[1] === 0xd8) return jpeg(b);
  if (ascii(b, 4, 4) === "ftyp") return avif(b);
  return null;
}

function webp(b) {
  const chunk = ascii(b, 12, 4);
  if (chunk === "VP8X" && b.length >= 30) return { width: le24(b, 24) + 1, height: le24(b, 27) + 1, type: "WebP" };
  if (chunk === "VP8L" && b.length >= 25) {
    const bits = le32(b, 21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, type: "WebP" };
  }
  if (chunk === "VP8 " && b.length >= 30) return { width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff, type: "WebP" };
  return null;
}

// Walks the markers up to the first start-of-frame (SOF0–SOF15 but DHT, JPG and DAC).
function jpeg(b) {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1];
    if (marker === 0xff) { i++; continue; }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { width: be16(b, i + 7), height: be16(b, i + 5), type: "JPEG" };
    }
    i += 2 + be16(b, i + 2);
  }
  return null;
}

// The largest `ispe` (image spatial extent) property anywhere in the file: the primary item's,
// its tiles', thumbnails' and alpha's all count, so no item is larger than what the check saw,
// wherever the metadata sits (a large mdat may come first).
function avif(b) {
  let best = null;
  for (let i = 8; i <= b.length - 16; i++) {
    if (b[i] === 0x69 && b[i + 1] === 0x73 && ascii(b, i, 4) === "ispe") {
      const size = { width: be32(b, i + 8), height: be32(b, i + 12), type: "AVIF" };
      if (!best || size.width * size.height > best.width * best.height) best = size;
    }
  }
  return best;
}
