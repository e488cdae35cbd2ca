// The two charts beside the photo, as SVG: one bar per gated layer (the share of its gates
// feedback closed, log scale) and the class score / probability over the iterations. State in,
// pixels out.

const SVG = "http://www.w3.org/2000/svg";
const el = (name, attrs = {}, text) => {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

// What the gates do: for each gated layer (input to output), the share of its gates feedback has
// closed, on a log scale from 0.01% to 100%, so that the 0.1% a layer closes is as visible as the
// 30% another closes. openFraction: 33 numbers in [0, 1]; layers: their names.
export function drawGateChart(svg, openFraction, layers, colour = "#3b528b") {
  const n = openFraction.length;
  const W = 330, H = 120, top = 16, bottom = 22, left = 34;
  const bw = (W - left) / n;
  const lo = -4, hi = 0; // log10 of the share closed: 0.01% … 100%
  const y = (share) => top + (1 - (Math.log10(Math.max(share, 10 ** lo)) - lo) / (hi - lo)) * (H - top - bottom);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  for (const [share, label] of [[1e-4, "0.01%"], [1e-3, "0.1%"], [1e-2, "1%"], [1e-1, "10%"], [1, "100%"]]) {
    svg.append(el("line", { x1: left, x2: W, y1: y(share), y2: y(share), class: "grid" }));
    svg.append(el("text", { x: left - 4, y: y(share) + 3, "text-anchor": "end", class: "tick" }, label));
  }
  const closedShares = openFraction.map((f) => Math.max(0, 1 - f));
  closedShares.forEach((c, i) => {
    const name = layers?.[i]?.name ?? `layer ${i + 1}`;
    const x = left + i * bw + 0.5;
    if (c < 1e-6) {
      // Every gate open: a tick on the floor, so that each layer is still there to hover.
      const tick = el("rect", { x, y: H - bottom - 1, width: Math.max(1, bw - 1), height: 1, class: "open-tick" });
      tick.append(el("title", {}, `${name}: every gate open`));
      svg.append(tick);
      return;
    }
    const h = Math.max(1.5, H - bottom - y(c));
    const bar = el("rect", { x, y: H - bottom - h, width: Math.max(1, bw - 1), height: h, fill: colour });
    bar.append(el("title", {}, `${name}: ${percentOf(c)} of gates closed`));
    svg.append(bar);
  });
  // The layers that closed most, named with how much.
  const most = closedShares.map((c, i) => ({ i, c })).filter((x) => x.c >= 0.0005).sort((a, b) => b.c - a.c).slice(0, 3);
  const text = most.length ? "closed: " + most.map((x) => `${layers?.[x.i]?.name ?? `layer ${x.i + 1}`} ${percentOf(x.c)}`).join(" · ") : "every gate open";
  svg.append(el("text", { x: W, y: 9, "text-anchor": "end", class: "tick closed" }, text));
  svg.append(el("text", { x: left, y: H - 6, class: "tick" }, layers?.[0]?.name ?? "input"));
  svg.append(el("text", { x: W, y: H - 6, "text-anchor": "end", class: "tick" }, layers?.[n - 1]?.name ?? "output"));
}

const percentOf = (c) => (c >= 0.1 ? (100 * c).toFixed(0) : c >= 0.01 ? (100 * c).toFixed(1) : (100 * c).toFixed(2)) + "%";

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
  // Where a closer look begins: the probability is then the crop's, so the curve may jump.
  points.forEach((p, i) => {
    if (i === 0 || !(p.look > (points[i - 1].look ?? 0))) return;
    svg.append(el("line", { x1: x(i), x2: x(i), y1: top, y2: H - bottom, class: "look-start" }));
    svg.append(el("text", { x: x(i) + 2, y: top + 8, class: "tick" }, `look ${p.look + 1}`));
  });
  const line = (f) => points.map((p, i) => `${x(i).toFixed(1)},${f(p).toFixed(1)}`).join(" ");
  svg.append(el("polyline", { points: line((p) => yS(p.score)), class: "score-line" }));
  svg.append(el("polyline", { points: line((p) => yP(p.probability)), stroke: colour, class: "probability-line" }));
  const c = Math.min(current, points.length - 1);
  svg.append(el("line", { x1: x(c), x2: x(c), y1: top, y2: H - bottom, class: "cursor" }));
  svg.append(el("circle", { cx: x(c), cy: yP(points[c].probability), r: 3.5, fill: colour }));
}
