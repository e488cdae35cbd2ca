// Heat maps: a saliency map (row-major Float32Array, side × side, over the network input) drawn
// in viridis (perceptually uniform, dark = low, yellow = high) on a canvas laid over the photo.
// State in, pixels out: no timing here.

// matplotlib's viridis sampled at 0, 0.1, …, 1 (van der Walt & Smith, CC0), interpolated linearly.
const STOPS = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725"]
  .map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
export const VIRIDIS = Array.from({ length: 256 }, (_, i) => {
  const t = (i / 255) * (STOPS.length - 1);
  const k = Math.min(STOPS.length - 2, Math.floor(t));
  const f = t - k;
  return STOPS[k].map((c, j) => Math.round(c + f * (STOPS[k + 1][j] - c)));
});

export const css = ([r, g, b]) => `rgb(${r} ${g} ${b})`;

// The map's own maximum (the usual per-map scale).
export function maxOf(map) {
  let m = 0;
  for (const v of map) if (v > m) m = v;
  return m;
}

// The top of a robust colour scale: the `q` quantile of the map's positive values, so that a
// sparse map (a gradient's few bright pixels) stays visible; values above it saturate.
export function robustMax(map, q = 0.99) {
  const positive = Float32Array.from(map).filter((v) => v > 0).sort();
  if (!positive.length) return 0;
  return positive[Math.min(positive.length - 1, Math.floor(q * positive.length))];
}

// The map as shares of its total (so maps of different methods become comparable: each pixel's
// part of the whole explanation).
export function asShares(map) {
  let sum = 0;
  for (const v of map) sum += Math.max(0, v);
  const out = new Float32Array(map.length);
  if (sum > 0) for (let i = 0; i < map.length; i++) out[i] = Math.max(0, map[i]) / sum;
  return out;
}

// Draws `map` on `canvas` (resized to side × side; CSS stretches it over the photo) with values
// 0…vmax mapped through viridis.
export function drawHeat(canvas, map, vmax = maxOf(map)) {
  const side = Math.round(Math.sqrt(map.length));
  if (canvas.width !== side) canvas.width = canvas.height = side;
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  const scale = vmax > 0 ? 255 / vmax : 0;
  for (let i = 0; i < map.length; i++) {
    const [r, g, b] = VIRIDIS[Math.max(0, Math.min(255, Math.round(map[i] * scale)))];
    image.data.set([r, g, b, 255], i * 4);
  }
  context.putImageData(image, 0, 0);
}

// A horizontal viridis bar for the legend.
export function drawLegend(canvas) {
  canvas.width = 256;
  canvas.height = 1;
  const context = canvas.getContext("2d");
  const image = context.createImageData(256, 1);
  VIRIDIS.forEach(([r, g, b], i) => image.data.set([r, g, b, 255], i * 4));
  context.putImageData(image, 0, 0);
}
