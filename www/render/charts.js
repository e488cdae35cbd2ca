// The two charts beside the photo, as SVG: one bar per gated layer (the share of its gates still
// open) and the class score / probability over the iterations. State in, pixels out.

const SVG = "http://www.w3.org/2000/svg";
const el = (name, attrs = {}, text) => {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

// openFraction: 33 numbers in [0, 1], input to output; layers: their names.
export function drawGateBars(svg, openFraction, layers, colour = "#3b528b") {
  const n = openFraction.length;
  const W = 330, H = 120, top = 16, bottom = 22, left = 28;
  const bw = (W - left) / n;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  for (const f of [0, 0.5, 1]) {
    const y = top + (1 - f) * (H - top - bottom);
    svg.append(el("line", { x1: left, x2: W, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: left - 4, y: y + 3, "text-anchor": "end", class: "tick" }, `${f * 100}%`));
  }
  openFraction.forEach((f, i) => {
    const h = Math.max(0.5, f * (H - top - bottom));
    const bar = el("rect", { x: left + i * bw + 0.5, y: H - bottom - h, width: Math.max(1, bw - 1), height: h, fill: colour });
    bar.append(el("title", {}, `${layers?.[i]?.name ?? `layer ${i + 1}`}: ${(100 * f).toFixed(1)}% of gates open`));
    svg.append(bar);
  });
  // Feedback may close a fraction of a percent of a layer's gates, too little for a bar to show:
  // name the layers that closed most, with how much.
  const closed = openFraction.map((f, i) => ({ i, c: 1 - f })).filter((x) => x.c >= 0.0005).sort((a, b) => b.c - a.c).slice(0, 3);
  const pct = (c) => (c >= 0.1 ? (100 * c).toFixed(0) : (100 * c).toFixed(1)) + "%";
  if (closed.length) {
    const text = "closed: " + closed.map((x) => `${layers?.[x.i]?.name ?? `layer ${x.i + 1}`} ${pct(x.c)}`).join(" · ");
    svg.append(el("text", { x: W, y: 9, "text-anchor": "end", class: "tick closed" }, text));
  }
  svg.append(el("text", { x: left, y: H - 6, class: "tick" }, layers?.[0]?.name ?? "input"));
  svg.append(el("text", { x: W, y: H - 6, "text-anchor": "end", class: "tick" }, layers?.[n - 1]?.name ?? "output"));
}

// points: [{score, probability}] per iteration; current: the iteration shown.
export function drawCurve(svg, points, current, colour = "#3b528b") {
  const W = 330, H = 120, top = 8, bottom = 22, left = 28, right = 30;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const n = Math.max(points.length, 2);
  const x = (i) => left + (i / (n - 1)) * (W - left - right);
  const yP = (p) => top + (1 - p) * (H - top - bottom);
  const scores = points.map((p) => p.score);
  const lo = Math.min(...scores, 0), hi = Math.max(...scores, 1);
  const yS = (s) => top + (1 - (s - lo) / (hi - lo || 1)) * (H - top - bottom);
  for (const f of [0, 0.5, 1]) {
    svg.append(el("line", { x1: left, x2: W - right, y1: yP(f), y2: yP(f), class: "grid" }));
    svg.append(el("text", { x: left - 4, y: yP(f) + 3, "text-anchor": "end", class: "tick" }, `${f * 100}%`));
  }
  svg.append(el("text", { x: W - right + 4, y: yS(hi) + 3, class: "tick score" }, hi.toFixed(1)));
  svg.append(el("text", { x: W - right + 4, y: yS(lo) + 3, class: "tick score" }, lo.toFixed(1)));
  svg.append(el("text", { x: left, y: H - 6, class: "tick" }, "iteration 0"));
  svg.append(el("text", { x: W - right, y: H - 6, "text-anchor": "end", class: "tick" }, `${Math.max(0, points.length - 1)}`));
  if (!points.length) return;
  const line = (f) => points.map((p, i) => `${x(i).toFixed(1)},${f(p).toFixed(1)}`).join(" ");
  svg.append(el("polyline", { points: line((p) => yS(p.score)), class: "score-line" }));
  svg.append(el("polyline", { points: line((p) => yP(p.probability)), stroke: colour, class: "probability-line" }));
  const c = Math.min(current, points.length - 1);
  svg.append(el("line", { x1: x(c), x2: x(c), y1: top, y2: H - bottom, class: "cursor" }));
  svg.append(el("circle", { cx: x(c), cy: yP(points[c].probability), r: 3.5, fill: colour }));
}
