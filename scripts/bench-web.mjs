#!/usr/bin/env node
// The browser engine's numbers, as a visitor's headless Chromium gets them (README, "Size and
// speed"): download sizes (gzip -9), then per backend the model load, the forward pass (median),
// the time per feedback iteration, and the wasm memory after 1, 10 and 50 explain runs.
//
//   node scripts/bench-web.mjs [--label L] [--runs N] [--backends cpu,gpu] [--memory cpu=feedback,gpu=cam]
//
// PKG=dir serves the wasm and its JS glue from dir instead of pkg/ (scripts/wasm-profiles.sh).
import { readFile, readdir } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, launch, serve } from "../tests/web/harness.mjs";

const { values: args } = parseArgs({
  options: {
    label: { type: "string", default: "pkg" },
    runs: { type: "string", default: "10" },
    backends: { type: "string", default: "cpu" },
    memory: { type: "string", default: "" }, // "cpu=feedback,gpu=cam": explain method per backend for the 50-run memory check
  },
});
const PKG = process.env.PKG ?? "pkg";
const runs = Number(args.runs);

const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const mb = (n) => (n / 1e6).toFixed(2);
async function sizes() {
  const wasm = await readFile(join(ROOT, PKG, "thinktwice_bg.wasm"));
  const glue = await readFile(join(ROOT, PKG, "thinktwice.js"));
  const weights = await readFile(join(ROOT, "pkg/efficientnet-lite0.f16.safetensors"));
  const page = [];
  for (const f of ["index.html", "pkg/manifest.json", "pkg/samples/chelsea.png"]) page.push(await readFile(join(ROOT, f)));
  for (const f of await readdir(join(ROOT, "www"))) if (/\.(js|css)$/.test(f)) page.push(await readFile(join(ROOT, "www", f)));
  const pageGz = page.reduce((n, b) => n + gz(b), 0);
  const first = gz(wasm) + gz(glue) + gz(weights) + pageGz;
  console.log(`[${args.label}] wasm ${mb(wasm.length)} MB raw, ${mb(gz(wasm))} MB gzip; JS glue ${mb(gz(glue))} MB gzip; ` +
    `f16 weights ${mb(weights.length)} MB raw, ${mb(gz(weights))} MB gzip; page, JS, CSS and sample ${mb(pageGz)} MB gzip; ` +
    `first visit ${mb(first)} MB gzip`);
}

// Runs in the page: load, forward passes, a default feedback run and a 10-iteration soft one,
// then (with `memory`) wasm memory over 50 explains.
async function measure({ backend, runs, memoryMethod }) {
  const { EngineClient } = await import(new URL("www/client.js", location.href).href);
  const sample = await (await fetch(new URL("pkg/samples/chelsea.png", location.href))).arrayBuffer();
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const t0 = performance.now();
  const engine = new EngineClient({ backend });
  const info = await engine.load();
  const loadMs = performance.now() - t0;
  const forward = [];
  let top = 0;
  for (let i = 0; i < runs + 1; i++) {
    const c = await engine.classify(sample, 1);
    top = c.top[0].index;
    if (i > 0) forward.push(c.elapsedMs); // the first run compiles shaders / warms caches
  }
  const perIteration = async (method, iterations) => {
    const frames = [];
    const start = performance.now();
    await engine.explain({ classes: [top], method, iterations, mapSize: 56 }, (f) => frames.push(f.elapsedMs));
    return { frames: frames.length, totalMs: performance.now() - start, perIterationMs: frames.at(-1) / frames.length };
  };
  await perIteration("feedback", undefined); // warm-up
  const feedback = await perIteration("feedback", undefined);
  // Ten soft iterations take minutes on SwiftShader's emulated GPU: the CPU only.
  const soft = backend === "cpu" ? await perIteration("feedback-soft", 10) : null;
  const memoryMb = {};
  if (memoryMethod) {
    for (let i = 1; i <= 50; i++) {
      await engine.explain({ classes: [top], method: memoryMethod, mapSize: 56 });
      if (i === 1 || i === 10 || i === 50) memoryMb[i] = +(engine.memoryBytes / 1e6).toFixed(1);
    }
  }
  engine.terminate();
  return { info, loadMs, forwardMs: median(forward), feedback, soft, memoryMb };
}

await sizes();
const { server, base } = await serve((path) => {
  if (path === "bench.html") return { html: "<!doctype html><title>bench</title>" };
  if (PKG !== "pkg" && /^pkg\/thinktwice(_bg\.wasm|\.js)$/.test(path)) return { path: path.replace(/^pkg/, PKG) };
  return null;
});
const browser = await launch();
try {
  for (const backend of args.backends.split(",")) {
    const page = await browser.newPage();
    await page.goto(`${base}bench.html`);
    const memoryMethod = Object.fromEntries(args.memory.split(",").filter(Boolean).map((kv) => kv.split("=")))[backend];
    const r = await page.evaluate(measure, { backend, runs: backend === "cpu" ? runs : Math.min(runs, 3), memoryMethod });
    const name = r.info.backend === "gpu" ? `WebGPU (${r.info.adapter || "adapter without a name"})` : "CPU-wasm";
    console.log(`[${args.label}] ${name}: load ${r.loadMs.toFixed(0)} ms; forward ${r.forwardMs.toFixed(1)} ms (median of ${backend === "cpu" ? runs : Math.min(runs, 3)}); ` +
      `feedback ${r.feedback.frames} iterations in ${r.feedback.totalMs.toFixed(0)} ms (${r.feedback.perIterationMs.toFixed(0)} ms each); ` +
      (r.soft ? `feedback-soft ${r.soft.frames} iterations in ${r.soft.totalMs.toFixed(0)} ms (${r.soft.perIterationMs.toFixed(0)} ms each)` : "") +
      (memoryMethod ? `; wasm memory after 1/10/50 ${memoryMethod} explains: ${Object.values(r.memoryMb).join(" / ")} MB` : ""));
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
