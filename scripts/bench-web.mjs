#!/usr/bin/env node
// The browser engine's numbers, as a visitor's headless Chromium gets them (README, "Size and
// speed"): download sizes (gzip -9), then per backend what www/bench.html measures (model load,
// forward, forward + backward, each method's run and iteration, wasm memory over 50 runs).
//
//   node scripts/bench-web.mjs [--label L] [--runs N] [--backends cpu,gpu] [--memory cpu=feedback,gpu=cam] [--json OUT]
//
// PKG=dir serves the wasm and its JS glue from dir instead of pkg/ (scripts/wasm-profiles.sh).
import { readFile, readdir, writeFile } from "node:fs/promises";
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
    json: { type: "string" }, // write every figure here
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
  for (const f of await readdir(join(ROOT, "www"))) if (/\.(js|css)$/.test(f) && f !== "bench.js") page.push(await readFile(join(ROOT, "www", f)));
  const pageGz = page.reduce((n, b) => n + gz(b), 0);
  const first = gz(wasm) + gz(glue) + gz(weights) + pageGz;
  console.log(`[${args.label}] wasm ${mb(wasm.length)} MB raw, ${mb(gz(wasm))} MB gzip; JS glue ${mb(gz(glue))} MB gzip; ` +
    `f16 weights ${mb(weights.length)} MB raw, ${mb(gz(weights))} MB gzip; page, JS, CSS and sample ${mb(pageGz)} MB gzip; ` +
    `first visit ${mb(first)} MB gzip`);
}

await sizes();
const { server, base } = await serve((path) => {
  if (PKG !== "pkg" && /^pkg\/thinktwice(_bg\.wasm|\.js)$/.test(path)) return { path: path.replace(/^pkg/, PKG) };
  return null;
});
const browser = await launch();
const report = {};
try {
  for (const backend of args.backends.split(",")) {
    const page = await browser.newPage();
    const memoryMethod = Object.fromEntries(args.memory.split(",").filter(Boolean).map((kv) => kv.split("=")))[backend] ?? "";
    // SwiftShader's emulated GPU takes seconds per pass: fewer runs and only the default method there.
    const n = backend === "cpu" ? runs : Math.min(runs, 3);
    const methods = backend === "cpu" ? "feedback,cam,feedback-soft" : "feedback";
    await page.goto(`${base}www/bench.html?backend=${backend}&runs=${n}&methods=${methods}&memory=${memoryMethod}&run=1`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 0, polling: 500 });
    const r = await page.evaluate(() => window.benchResult);
    await page.close();
    if (r.error) throw new Error(`${backend}: ${r.error}`);
    report[backend] = r;
    const name = r.info.backend === "gpu" ? `WebGPU (${r.info.adapter || "adapter without a name"})` : "CPU-wasm";
    const each = Object.entries(r.methods).map(([m, v]) =>
      `${m} ${v.totalMs.toFixed(0)} ms` + (v.perIterationMs ? ` (${v.iterations} iterations, ${v.perIterationMs.toFixed(0)} ms each)` : ""));
    console.log(`[${args.label}] ${name}: load ${r.loadMs.toFixed(0)} ms; forward ${r.forwardMs.median.toFixed(1)} ms, ` +
      `forward + backward ${r.forwardBackwardMs.median.toFixed(1)} ms (medians); ${each.join("; ")}` +
      (memoryMethod ? `; wasm memory after 1/10/50 ${memoryMethod} runs: ${Object.values(r.memoryMb).join(" / ")} MB` : ""));
  }
  if (args.json) await writeFile(args.json, JSON.stringify({ label: args.label, ...report }, null, 2));
} finally {
  await browser.close();
  server.close();
}
