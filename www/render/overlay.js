// Boxes over the photo (SVG in the photo's own pixel coordinates) and the downloadable overlay PNG
// (photo, heat map and boxes composed at the photo's size).
import { drawHeat } from "./heatmap.js";

const SVG = "http://www.w3.org/2000/svg";
const el = (name, attrs = {}) => {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

// Where each box's label goes: above the box when there is room, else inside it; moved down
// past labels already placed, so that overlapping boxes keep every label readable.
function labelPositions(boxes, font, stroke) {
  const placed = [];
  return boxes.map(({ box }) => {
    if (!box) return null;
    let y = box.y0 > font * 1.3 ? box.y0 - stroke : box.y0 + font + stroke;
    while (placed.some((p) => Math.abs(p.y - y) < font * 1.1 && Math.abs(p.x - box.x0) < font * 8)) y += font * 1.15;
    placed.push({ x: box.x0, y });
    return { x: box.x0 + stroke, y };
  });
}

// Class colours: the Okabe–Ito palette (distinguishable with colour-vision deficiencies).
export const COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#D55E00", "#CC79A7", "#0072B2"];

// boxes: [{box: {x0, y0, x1, y1}, colour, label, dashed}] in pixels of a width × height photo;
// dashed: where the network looks, not a box it found.
export function drawBoxes(svg, boxes, width, height) {
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  const stroke = Math.max(2, Math.round(Math.max(width, height) / 180));
  const font = Math.max(11, Math.round(Math.max(width, height) / 32));
  const at = labelPositions(boxes, font, stroke);
  for (const [i, { box, colour, label }] of boxes.entries()) {
    if (!box) continue;
    const attrs = { x: box.x0, y: box.y0, width: box.x1 - box.x0, height: box.y1 - box.y0, fill: "none" };
    const dash = boxes[i].dashed ? { "stroke-dasharray": `${stroke * 4} ${stroke * 3}`, class: "looking" } : {};
    svg.append(el("rect", { ...attrs, stroke: "#000", "stroke-width": stroke + 2, opacity: 0.6, ...dash }));
    svg.append(el("rect", { ...attrs, stroke: colour, "stroke-width": stroke, ...dash }));
    if (label) {
      const text = el("text", { x: at[i].x, y: at[i].y, fill: colour, "font-size": font, "font-weight": 700,
        stroke: "#000", "stroke-width": Math.max(2, font / 6), "paint-order": "stroke" });
      text.textContent = label;
      svg.append(text);
    }
  }
}

// A square RGBA picture (the engine's class visualisation, 224 × 224) onto `canvas`.
export function drawPicture(canvas, rgba, side = 224) {
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), side, side), 0, 0);
}

// The overlay as a PNG Blob at the photo's size: photo, heat map at `opacity`, boxes and labels.
export async function overlayPng(photo, map, vmax, opacity, boxes) {
  const { naturalWidth: w, naturalHeight: h } = photo;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext("2d");
  context.drawImage(photo, 0, 0, w, h);
  if (map) {
    const heat = document.createElement("canvas");
    drawHeat(heat, map, vmax);
    context.globalAlpha = opacity;
    context.imageSmoothingQuality = "high";
    context.drawImage(heat, 0, 0, w, h);
    context.globalAlpha = 1;
  }
  const stroke = Math.max(2, Math.round(Math.max(w, h) / 180));
  const font = Math.max(11, Math.round(Math.max(w, h) / 32));
  context.font = `700 ${font}px system-ui, sans-serif`;
  const at = labelPositions(boxes, font, stroke);
  for (const [i, { box, colour, label }] of boxes.entries()) {
    if (!box) continue;
    context.lineWidth = stroke + 2;
    context.strokeStyle = "rgba(0,0,0,0.6)";
    context.strokeRect(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0);
    context.lineWidth = stroke;
    context.strokeStyle = colour;
    context.strokeRect(box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0);
    if (label) {
      context.lineWidth = Math.max(2, font / 6);
      context.strokeStyle = "#000";
      context.strokeText(label, at[i].x, at[i].y);
      context.fillStyle = colour;
      context.fillText(label, at[i].x, at[i].y);
    }
  }
  return new Promise((ok, fail) => canvas.toBlob((b) => (b ? ok(b) : fail(new Error("cannot encode the PNG"))), "image/png"));
}
