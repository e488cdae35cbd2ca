// Boxes over the photo (SVG in the photo's own pixel coordinates) and the class visualisation's
// picture. The downloadable overlay PNG is the library's (the engine's `overlay`, as the CLI draws it).

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
    svg.append(el("rect", { ...attrs, stroke: "#0009", "stroke-width": stroke + 2, ...dash }));
    svg.append(el("rect", { ...attrs, stroke: colour, "stroke-width": stroke, ...dash }));
    if (label) {
      const text = el("text", { x: at[i].x, y: at[i].y, fill: colour, "font-size": font, "font-weight": 700,
        stroke: "#000", "stroke-width": Math.max(2, font / 6), "paint-order": "stroke" });
      text.textContent = label;
      svg.append(text);
    }
  }
}

// A square RGBA picture (the engine's class visualisation, at the network's input size) onto `canvas`.
export function drawPicture(canvas, rgba) {
  const side = Math.round(Math.sqrt(rgba.length / 4));
  if (canvas.width !== side) canvas.width = canvas.height = side;
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), side, side), 0, 0);
}
