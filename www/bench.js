// The browser engine's speed, measured in this page: model load, the forward pass, a forward +
// backward pass (the gradient method), and per method a whole default run and one iteration,
// then the wasm memory after repeated runs. The same figures `thinktwice bench` prints natively.
//
// bench.html runs it from its URL (?backend=cpu|gpu&runs=10&methods=…&memory=feedback) and shows
// the result as a table and as JSON; scripts/bench-web.mjs reads `window.benchResult` headless.
import { EngineClient } from "./client.js";

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length });

/** Every figure for one backend, in milliseconds; `onProgress(text)` narrates. */
// methods: names to time (default: the default method, the first one-forward-pass method and the
// first feedback method of the engine's method table).
export async function measure({ backend = "cpu", runs = 10, methods = null, memoryMethod = "", onProgress = () => {} }) {
  const sample = await (await fetch(new URL("../pkg/samples/chelsea.png", import.meta.url))).arrayBuffer();
  const t0 = performance.now();
  onProgress("loading the model…");
  const engine = new EngineClient({ backend });
  try {
    const info = await engine.load();
    const loadMs = performance.now() - t0;
    const first = (test) => info.methods.find((m) => !m.alias && test(m)).name;
    methods ??= [info.constants.defaultMethod, first((m) => m.needs === "forward"), first((m) => m.feedback)];
    const backwardMethod = first((m) => m.needs === "backward"); // one forward and one backward pass
    const forward = [];
    let top = 0;
    for (let i = 0; i <= runs; i++) {
      onProgress(`forward ${i}/${runs}`);
      const c = await engine.classify(sample, 1);
      top = c.top[0].index;
      if (i > 0) forward.push(c.elapsedMs); // the first run compiles shaders and warms caches
    }
    // One method's whole run and its iterations (frames after the first), timed in the worker.
    const run = async (method) => {
      const frames = [];
      const start = performance.now();
      await engine.explain({ classes: [top], method, mapSize: 56 }, (f) => frames.push(f.elapsedMs));
      const totalMs = performance.now() - start;
      // One iteration: first frame to last, per iteration (set-up and read-out are not iterations),
      // as `thinktwice bench` counts it; a one-pass method's iteration is its whole run.
      const iterations = Math.max(0, frames.length - 1);
      const perIterationMs = iterations > 1 ? (frames.at(-1) - frames[0]) / iterations : iterations === 1 ? totalMs : null;
      return { totalMs, iterations, perIterationMs };
    };
    const forwardBackward = [];
    const passes = Math.min(runs, 5);
    await run(backwardMethod);
    for (let i = 0; i < passes; i++) {
      onProgress(`forward + backward ${i + 1}/${passes}`);
      forwardBackward.push((await run(backwardMethod)).totalMs);
    }
    const perMethod = {};
    for (const method of methods) {
      onProgress(`${method}…`);
      await run(method); // warm-up
      perMethod[method] = await run(method);
    }
    const memoryMb = {};
    if (memoryMethod) {
      for (let i = 1; i <= 50; i++) {
        onProgress(`memory: ${memoryMethod} run ${i}/50`);
        await engine.explain({ classes: [top], method: memoryMethod, mapSize: 56 });
        if (i === 1 || i === 10 || i === 50) memoryMb[i] = +(engine.memoryBytes / 1e6).toFixed(1);
      }
    }
    return { info, loadMs, forwardMs: spread(forward), forwardBackwardMs: spread(forwardBackward), methods: perMethod, memoryMb };
  } finally {
    engine.terminate();
  }
}

// As a page: read the request from the URL, run, show.
const out = document.getElementById("result");
if (out) {
  const q = new URLSearchParams(location.search);
  const request = {
    backend: q.get("backend") ?? "cpu",
    runs: Number(q.get("runs") ?? 10),
    methods: q.get("methods")?.split(",").filter(Boolean),
    memoryMethod: q.get("memory") ?? "",
  };
  const status = document.getElementById("status");
  const table = document.getElementById("table");
  const start = async () => {
    document.getElementById("run").disabled = true;
    try {
      const r = await measure({ ...request, onProgress: (t) => (status.textContent = t) });
      window.benchResult = r;
      status.textContent = `done: ${r.info.backend === "gpu" ? `WebGPU (${r.info.adapter || "adapter"})` : "CPU-wasm"}`;
      const rows = [
        ["model load", r.loadMs],
        [`forward (median of ${r.forwardMs.runs})`, r.forwardMs.median],
        [`forward + backward (median of ${r.forwardBackwardMs.runs})`, r.forwardBackwardMs.median],
        ...Object.entries(r.methods).flatMap(([m, v]) => [
          [`${m}: whole run`, v.totalMs],
          ...(v.perIterationMs ? [[`${m}: one iteration (${v.iterations} in the run)`, v.perIterationMs]] : []),
        ]),
      ];
      table.replaceChildren(...rows.map(([k, v]) => {
        const tr = document.createElement("tr");
        for (const text of [k, `${v.toFixed(1)} ms`]) tr.appendChild(document.createElement("td")).textContent = text;
        return tr;
      }));
      out.textContent = JSON.stringify(r, null, 2);
    } catch (e) {
      window.benchResult = { error: String(e?.message ?? e) };
      status.textContent = `failed: ${window.benchResult.error}`;
    } finally {
      document.getElementById("run").disabled = false;
    }
  };
  document.getElementById("run").addEventListener("click", start);
  if (q.get("run") === "1") start();
}
