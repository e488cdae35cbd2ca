// Heat maps: a saliency map (row-major Float32Array, side × side, over the network input) drawn
// on a canvas laid over the photo, in the library's palette (viridis, its alpha rising with the
// value) and on the scale each frame brings (`scale.top`: the value drawn brightest, the same
// as the CLI's overlay). State in, pixels out: no timing here.

let palette = null; // 256 × RGBA bytes, from the engine's constants

// The engine's palette (`ready.constants.palette`); every drawing after this uses it.
export function usePalette(rgba) {
  palette = Uint8Array.from(rgba);
}

// How many times the average pixel a map's top is: {map, scale} → scale.top ÷ (scale.mass / pixels).
// Maps drawn side by side share the largest of these, so brighter means the same share of the
// whole explanation on both, whatever their methods or sizes.
export function relativeTop(shown) {
  return shown && shown.scale.mass > 0 ? (shown.scale.top * shown.map.length) / shown.scale.mass : 0;
}

// The value to draw brightest for `shown` on a shared scale of `relative` × the average pixel.
export const topOf = (shown, relative) => (relative * shown.scale.mass) / shown.map.length;

// Draws `map` on `canvas` (resized to side × side; CSS stretches it over the photo) with values
// 0…top mapped through the palette; the canvas's own opacity is the heat's opacity.
export function drawHeat(canvas, map, top) {
  const side = Math.round(Math.sqrt(map.length));
  if (canvas.width !== side) canvas.width = canvas.height = side;
  const context = canvas.getContext("2d");
  const image = context.createImageData(side, side);
  const scale = top > 0 ? 255 / top : 0;
  for (let i = 0; i < map.length; i++) {
    const k = 4 * Math.max(0, Math.min(255, Math.round(map[i] * scale)));
    image.data.set(palette.subarray(k, k + 4), i * 4);
  }
  context.putImageData(image, 0, 0);
}

// A horizontal bar of the palette's colours for the legend.
export function drawLegend(canvas) {
  canvas.width = 256;
  canvas.height = 1;
  const context = canvas.getContext("2d");
  const image = context.createImageData(256, 1);
  for (let i = 0; i < 256; i++) image.data.set([...palette.subarray(4 * i, 4 * i + 3), 255], i * 4);
  context.putImageData(image, 0, 0);
}
