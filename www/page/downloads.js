// What the page gives to take away: the JSON report and the overlay PNG, both made by the library
// as `thinktwice localize` makes them, from what the panels show.

export const percent = (p) => `${(100 * p).toFixed(p < 0.001 ? 2 : 1)}%`;

export function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// The JSON text (the library's shape, built by the engine): the first panel's classes and frames
// with the boxes shown (at the visitor's threshold), the second panel's classes beside them.
export function reportJson(engine, image, stages) {
  const results = (stage) => stage.run.results.map(({ map, ...r }) => r); // maps stay here
  const boxing = (stage) => ({ threshold: stage.run.results[0].threshold, boxRule: stage.run.results[0].boxRule });
  const [first, second] = stages;
  const report = {
    image,
    method: first.method,
    backend: engine.ready.backend,
    ...boxing(first),
    classes: results(first),
    frames: first.run.classes.flatMap((c) => first.frames(c.index).map(({ map, ...f }) => f)),
  };
  if (second) report.compare = { method: second.method, ...boxing(second), classes: results(second) };
  return engine.report(report);
}

// The overlay PNG of every panel side by side at `iteration`, each drawn by the library (photo,
// heat map, legend, labelled boxes); `shared`: the panels' common colour scale, if any
// ({relative, top(shown)}).
export async function overlayPng(engine, stages, iteration, shared) {
  const parts = [];
  for (const stage of stages) {
    const shown = stage.mapAt(iteration);
    if (!shown) continue;
    const boxes = stage.boxesAt(iteration, () => "");
    const classes = stage.run.classes.map((c) => {
      const result = stage.run.results.find((r) => r.class === c.index);
      return { class: c.index, probability: result?.probability ?? 0, box: boxes.find((b) => b.colour === c.colour)?.box ?? null };
    });
    const request = { method: stage.method, classes, opacity: stage.opacity };
    if (shared) Object.assign(request, { top: shared.top(shown), legend: `${shared.relative.toFixed(0)}x average` });
    const { width, height, rgba } = await engine.overlay(shown.map, request);
    parts.push(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height));
  }
  const canvas = document.createElement("canvas");
  canvas.width = parts.reduce((w, p) => w + p.width, 0);
  canvas.height = Math.max(...parts.map((p) => p.height));
  let x = 0;
  for (const p of parts) { canvas.getContext("2d").putImageData(p, x, 0); x += p.width; }
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}
